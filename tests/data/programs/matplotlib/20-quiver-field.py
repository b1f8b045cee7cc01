import numpy as np
import matplotlib.pyplot as plt

X, Y = np.meshgrid(np.arange(-2, 2.2, 0.25), np.arange(-2, 2.2, 0.25))
U = -Y
V = X
speed = np.hypot(U, V)

fig, ax = plt.subplots(figsize=(6, 6))
q = ax.quiver(X, Y, U, V, speed, cmap="autumn", pivot="mid")
ax.quiverkey(q, X=0.85, Y=1.03, U=2, label="2 m/s", labelpos="E")
circle = plt.Circle((0, 0), 1.0, fill=False, ls="--", color="gray")
ax.add_patch(circle)
ax.set_aspect("equal")
ax.set_title("Rotational vector field")
plt.show()

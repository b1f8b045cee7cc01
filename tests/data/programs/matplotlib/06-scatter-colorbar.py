import numpy as np
import matplotlib.pyplot as plt

np.random.seed(0)
N = 300
x = np.random.randn(N)
y = np.random.randn(N)
dist = np.sqrt(x**2 + y**2)
sizes = 200 * np.random.rand(N)

fig, ax = plt.subplots(figsize=(7, 6))
sc = ax.scatter(x, y, c=dist, s=sizes, cmap="viridis", alpha=0.7, edgecolors="k", linewidths=0.5)
cbar = fig.colorbar(sc, ax=ax)
cbar.set_label("distance from origin")

ax.set_aspect("equal")
ax.set_xlim(-3.5, 3.5)
ax.set_ylim(-3.5, 3.5)
ax.axhline(0, color="gray", lw=0.8)
ax.axvline(0, color="gray", lw=0.8)
ax.set_title("Random points coloured by radius")
plt.show()

import numpy as np
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 4.5))

t = np.arange(0.0, 5.0, 0.01)
s = np.cos(2 * np.pi * t) * np.exp(-0.3 * t)
line, = ax.plot(t, s, lw=2)

ax.annotate("local max", xy=(2, np.exp(-0.6)), xytext=(3, 1.2),
            arrowprops=dict(facecolor="black", shrink=0.05))
ax.annotate("first minimum", xy=(0.5, -np.exp(-0.15)), xytext=(1.0, -1.4),
            arrowprops=dict(arrowstyle="->", color="red", lw=1.5),
            color="red")
ax.annotate(r"decay $\propto e^{-\alpha t}$, $\alpha = 0.3$",
            xy=(4, np.exp(-1.2)), xycoords="data",
            xytext=(-120, 40), textcoords="offset points",
            bbox=dict(boxstyle="round", fc="0.9"),
            arrowprops=dict(arrowstyle="->", connectionstyle="angle,angleA=0,angleB=90,rad=10"))

ax.plot(t, np.exp(-0.3 * t), "k:", lw=1)
ax.set_ylim(-2, 2)
ax.set_xlabel("time (s)")
ax.set_title("Annotating a damped cosine")
plt.show()

import numpy as np
import matplotlib.pyplot as plt


def branch(ax, x, y, angle, length, depth):
    if depth == 0:
        ax.plot(x, y, "o", color="pink", markersize=3)
        return
    x2 = x + length * np.cos(angle)
    y2 = y + length * np.sin(angle)
    ax.plot([x, x2], [y, y2], color="saddlebrown" if depth > 3 else "forestgreen",
            linewidth=depth * 0.8, solid_capstyle="round")
    branch(ax, x2, y2, angle + np.radians(25), length * 0.72, depth - 1)
    branch(ax, x2, y2, angle - np.radians(20), length * 0.75, depth - 1)


fig, ax = plt.subplots(figsize=(7, 7))
ax.set_facecolor("#f4f1e8")
branch(ax, 0, 0, np.pi / 2, 1.0, 9)
ax.axhline(0, color="olive", lw=3)
ax.set_aspect("equal")
ax.set_xticks([])
ax.set_yticks([])
ax.set_title("Recursive fractal tree")
plt.show()

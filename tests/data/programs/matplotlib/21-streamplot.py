import numpy as np
import matplotlib.pyplot as plt

w = 3
Y, X = np.mgrid[-w:w:100j, -w:w:100j]
U = -1 - X**2 + Y
V = 1 + X - Y**2
speed = np.sqrt(U**2 + V**2)

fig, axs = plt.subplots(1, 2, figsize=(11, 5))

strm = axs[0].streamplot(X, Y, U, V, color=U, linewidth=2, cmap="autumn")
fig.colorbar(strm.lines, ax=axs[0])
axs[0].set_title("Varying color")

lw = 5 * speed / speed.max()
axs[1].streamplot(X, Y, U, V, density=0.6, color="k", linewidth=lw)
axs[1].set_title("Varying line width")

for ax in axs:
    ax.set_xlim(-w, w)
    ax.set_ylim(-w, w)
    ax.set_aspect("equal")

plt.tight_layout()
plt.show()

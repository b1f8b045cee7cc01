import numpy as np
import matplotlib.pyplot as plt

delta = 0.025
x = np.arange(-3.0, 3.0, delta)
y = np.arange(-2.0, 2.0, delta)
X, Y = np.meshgrid(x, y)
Z1 = np.exp(-X**2 - Y**2)
Z2 = np.exp(-(X - 1)**2 - (Y - 1)**2)
Z = (Z1 - Z2) * 2

fig, ax = plt.subplots(figsize=(8, 5))
cf = ax.contourf(X, Y, Z, levels=15, cmap="RdBu_r")
cs = ax.contour(X, Y, Z, levels=cf.levels[::2], colors="k", linewidths=0.6)
ax.clabel(cs, inline=True, fontsize=8, fmt="%.1f")
fig.colorbar(cf, ax=ax, label="Z")

ax.set_title("Difference of two Gaussians")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_aspect("equal")
plt.show()

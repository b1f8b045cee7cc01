import numpy as np
import matplotlib.pyplot as plt


def mandelbrot(xmin, xmax, ymin, ymax, width=600, height=400, max_iter=80):
    x = np.linspace(xmin, xmax, width)
    y = np.linspace(ymin, ymax, height)
    C = x[np.newaxis, :] + 1j * y[:, np.newaxis]
    Z = np.zeros_like(C)
    counts = np.zeros(C.shape, dtype=int)
    mask = np.ones(C.shape, dtype=bool)
    for i in range(max_iter):
        Z[mask] = Z[mask] ** 2 + C[mask]
        escaped = np.abs(Z) > 2
        counts[mask & escaped] = i
        mask &= ~escaped
    counts[mask] = max_iter
    return counts


img = mandelbrot(-2.2, 1.0, -1.2, 1.2)

fig, ax = plt.subplots(figsize=(9, 6))
ax.imshow(img, extent=(-2.2, 1.0, -1.2, 1.2), cmap="twilight_shifted", origin="lower")
ax.set_xlabel("Re(c)")
ax.set_ylabel("Im(c)")
ax.set_title("Mandelbrot set")
plt.savefig("figure.png", dpi=100, bbox_inches="tight")

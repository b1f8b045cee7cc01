import numpy as np
import matplotlib.pyplot as plt

theta = np.linspace(0, 2 * np.pi, 1000)
r = np.abs(np.cos(4 * theta))

fig = plt.figure(figsize=(10, 5))

ax1 = fig.add_subplot(121, projection="polar")
ax1.plot(theta, r, color="crimson")
ax1.fill(theta, r, color="crimson", alpha=0.2)
ax1.set_title("Rose curve $r = |\\cos 4\\theta|$", va="bottom")
ax1.set_rticks([0.25, 0.5, 0.75, 1])

ax2 = fig.add_subplot(122, projection="polar")
N = 16
angles = np.linspace(0.0, 2 * np.pi, N, endpoint=False)
radii = 10 * np.random.default_rng(3).random(N)
bars = ax2.bar(angles, radii, width=2 * np.pi / N, bottom=0.0, alpha=0.6)
for r_, bar in zip(radii, bars):
    bar.set_facecolor(plt.cm.plasma(r_ / 10.0))
ax2.set_title("Wind rose", va="bottom")

plt.tight_layout()
plt.show()

import numpy as np
import matplotlib.pyplot as plt

rng = np.random.default_rng(1)
x = np.linspace(0, 10, 100)
runs = np.array([np.sin(x) + 0.1 * x + rng.normal(0, 0.3, x.size) for _ in range(20)])
mean = runs.mean(axis=0)
std = runs.std(axis=0)

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)

ax1.plot(x, mean, color="navy", label="mean of 20 runs")
ax1.fill_between(x, mean - 2 * std, mean + 2 * std, color="navy", alpha=0.15, label=r"$\pm 2\sigma$")
ax1.fill_between(x, mean - std, mean + std, color="navy", alpha=0.3, label=r"$\pm 1\sigma$")
ax1.legend(loc="upper left")
ax1.set_ylabel("signal")

y1 = np.sin(x)
y2 = 0.5 * np.cos(2 * x)
ax2.plot(x, y1, "k-", x, y2, "k--", lw=1)
ax2.fill_between(x, y1, y2, where=(y1 >= y2), facecolor="green", alpha=0.4, interpolate=True)
ax2.fill_between(x, y1, y2, where=(y1 < y2), facecolor="red", alpha=0.4, interpolate=True)
ax2.set_xlabel("x")
ax2.set_title("Regions where sin(x) is above / below 0.5 cos(2x)")

plt.tight_layout()
plt.show()

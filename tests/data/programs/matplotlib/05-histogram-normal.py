import numpy as np
import matplotlib.pyplot as plt

rng = np.random.default_rng(42)
mu, sigma = 100, 15
x = mu + sigma * rng.standard_normal(10000)

fig, ax = plt.subplots()
n, bins, patches = ax.hist(x, 50, density=True, facecolor="C0", alpha=0.75)

# overlay the theoretical density
y = ((1 / (np.sqrt(2 * np.pi) * sigma)) *
     np.exp(-0.5 * (1 / sigma * (bins - mu)) ** 2))
ax.plot(bins, y, "r--", linewidth=2)

ax.set_xlabel("IQ")
ax.set_ylabel("Probability density")
ax.set_title(r"Histogram of IQ: $\mu=100$, $\sigma=15$")
ax.text(45, 0.025, r"$f(x)=\frac{1}{\sigma\sqrt{2\pi}}e^{-\frac{(x-\mu)^2}{2\sigma^2}}$",
        fontsize=12)
ax.set_xlim(40, 160)
ax.grid(True)

fig.tight_layout()
plt.show()

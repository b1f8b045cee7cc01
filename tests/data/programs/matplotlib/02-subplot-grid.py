import numpy as np
import matplotlib.pyplot as plt

np.random.seed(19680801)

fig, axs = plt.subplots(2, 2, figsize=(9, 7))

t = np.arange(0.0, 5.0, 0.01)
axs[0, 0].plot(t, np.exp(-t) * np.cos(2 * np.pi * t), color="tab:blue")
axs[0, 0].set_title("Damped oscillation")

data = np.random.randn(500)
axs[0, 1].hist(data, bins=25, color="tab:orange", edgecolor="black")
axs[0, 1].set_title("Histogram")

x = np.random.rand(60)
y = 2 * x + np.random.randn(60) * 0.3
axs[1, 0].scatter(x, y, s=20, c="tab:green")
axs[1, 0].set_title("Scatter")

axs[1, 1].bar(["A", "B", "C", "D"], [3, 7, 2, 5], color="tab:purple")
axs[1, 1].set_title("Bars")

for ax in axs.flat:
    ax.grid(alpha=0.25)

fig.suptitle("A 2x2 grid of subplots")
fig.tight_layout()
plt.show()

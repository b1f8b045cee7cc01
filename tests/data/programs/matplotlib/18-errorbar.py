import numpy as np
import matplotlib.pyplot as plt

# measured decay of some sample, with uncertainties
x = np.arange(0.5, 10.5, 1.0)
y = 12 * np.exp(-x / 3.5) + np.array([0.3, -0.2, 0.4, 0.1, -0.3, 0.2, 0.0, -0.1, 0.15, 0.05])
yerr = 0.15 + 0.05 * np.sqrt(y)
xerr = 0.2

fig, ax = plt.subplots()
ax.errorbar(x, y, yerr=yerr, xerr=xerr, fmt="o", color="black",
            ecolor="gray", elinewidth=1, capsize=3, label="measurement")

xx = np.linspace(0, 10.5, 200)
ax.plot(xx, 12 * np.exp(-xx / 3.5), "C3-", label=r"fit: $N_0 e^{-t/\tau}$, $\tau=3.5$")

ax.set_yscale("log")
ax.set_xlabel("t [h]")
ax.set_ylabel("counts [a.u.]")
ax.set_title("Radioactive decay")
ax.legend()
ax.grid(which="both", alpha=0.3)
plt.savefig("figure.png", dpi=120)
plt.show()

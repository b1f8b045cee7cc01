import numpy as np
import matplotlib.pyplot as plt

# sunflower seed arrangement (Vogel's model)
n = 800
golden_angle = np.pi * (3 - np.sqrt(5))
k = np.arange(n)
theta = k * golden_angle
r = np.sqrt(k)
x, y = r * np.cos(theta), r * np.sin(theta)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 5.5))
ax1.scatter(x, y, c=k, cmap="YlOrBr_r", s=18, edgecolors="none")
ax1.set_aspect("equal")
ax1.axis("off")
ax1.set_title("Phyllotaxis, %d seeds" % n)

# logarithmic spiral r = a e^{b theta}
t = np.linspace(0, 6 * np.pi, 2000)
phi = (1 + np.sqrt(5)) / 2
b = np.log(phi) / (np.pi / 2)
rr = 0.1 * np.exp(b * t)
ax2.plot(rr * np.cos(t), rr * np.sin(t), color="darkgoldenrod", lw=2)
ax2.set_aspect("equal")
ax2.set_title(r"Golden spiral $r = a\,e^{b\theta}$, $b = \ln\varphi / (\pi/2)$")
ax2.grid(alpha=0.3)

plt.tight_layout()
plt.show()

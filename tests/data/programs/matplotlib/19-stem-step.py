import numpy as np
import matplotlib.pyplot as plt

n = np.arange(0, 20)
h = 0.8 ** n * np.cos(0.6 * n)

plt.figure(figsize=(9, 6))

plt.subplot(2, 1, 1)
markerline, stemlines, baseline = plt.stem(n, h)
plt.setp(markerline, color="C1")
plt.setp(stemlines, color="C1", linewidth=1.5)
plt.title("Impulse response h[n]")
plt.xlabel("n")

plt.subplot(2, 1, 2)
x = np.arange(14)
y = np.sin(x / 2)
plt.step(x, y + 2, label="pre (default)")
plt.plot(x, y + 2, "o--", color="grey", alpha=0.3)
plt.step(x, y + 1, where="mid", label="mid")
plt.plot(x, y + 1, "o--", color="grey", alpha=0.3)
plt.step(x, y, where="post", label="post")
plt.plot(x, y, "o--", color="grey", alpha=0.3)
plt.legend(title="Parameter where:")
plt.title("plt.step(where=...)")

plt.tight_layout()
plt.show()

import numpy as np
import matplotlib.pyplot as plt
from mpl_toolkits.mplot3d import axes3d

fig = plt.figure(figsize=(10, 5))

ax = fig.add_subplot(1, 2, 1, projection="3d")
X, Y, Z = axes3d.get_test_data(0.05)
ax.plot_wireframe(X, Y, Z, rstride=10, cstride=10, color="steelblue")
ax.set_title("Wireframe")

ax2 = fig.add_subplot(1, 2, 2, projection="3d")
t = np.linspace(0, 6 * np.pi, 400)
ax2.plot(np.cos(t), np.sin(t), t / (2 * np.pi), color="darkorange", lw=2, label="helix")
ax2.scatter(np.cos(t[::25]), np.sin(t[::25]), t[::25] / (2 * np.pi), c="k", s=10)
ax2.set_xlabel("x")
ax2.set_ylabel("y")
ax2.set_zlabel("turns")
ax2.view_init(elev=25, azim=-60)
ax2.legend()
ax2.set_title("3D line")

plt.tight_layout()
plt.show()

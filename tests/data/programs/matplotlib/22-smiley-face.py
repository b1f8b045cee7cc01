import matplotlib.pyplot as plt
from matplotlib.patches import Circle, Ellipse, Arc, Wedge

fig = plt.figure(figsize=(5, 5))
ax = fig.add_axes([0, 0, 1, 1])

# head
ax.add_patch(Circle((0.5, 0.5), 0.4, facecolor="#ffd93b", edgecolor="#c79a00", linewidth=3))
# eyes
for x in (0.36, 0.64):
    ax.add_patch(Ellipse((x, 0.6), 0.08, 0.14, color="#3b2f2f"))
    ax.add_patch(Circle((x + 0.015, 0.625), 0.015, color="white"))
# cheeks
ax.add_patch(Circle((0.28, 0.45), 0.05, color="#ff8080", alpha=0.5))
ax.add_patch(Circle((0.72, 0.45), 0.05, color="#ff8080", alpha=0.5))
# mouth
ax.add_patch(Arc((0.5, 0.45), 0.4, 0.3, theta1=200, theta2=340, linewidth=4, color="#3b2f2f"))
# party hat
ax.add_patch(Wedge((0.5, 1.25), 0.4, 255, 285, color="tab:purple"))

ax.set_xlim(0, 1)
ax.set_ylim(0, 1)
ax.set_aspect("equal")
ax.axis("off")
plt.show()

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle, Polygon, Circle

fig, ax = plt.subplots(figsize=(6, 6))

# sky and grass
ax.add_patch(Rectangle((0, 0), 10, 10, color="#87ceeb"))
ax.add_patch(Rectangle((0, 0), 10, 3, color="#4caf50"))

# sun
ax.add_patch(Circle((8, 8.3), 0.9, color="gold"))

# house body
ax.add_patch(Rectangle((2, 3), 4, 3, facecolor="#d2691e", edgecolor="black"))
# roof
ax.add_patch(Polygon([[1.6, 6], [4, 8], [6.4, 6]], closed=True,
                     facecolor="#8b0000", edgecolor="black"))
# door
ax.add_patch(Rectangle((3.6, 3), 0.8, 1.6, facecolor="#5c3317", edgecolor="black"))
ax.add_patch(Circle((4.25, 3.8), 0.06, color="gold"))
# windows
for wx in (2.5, 4.8):
    ax.add_patch(Rectangle((wx, 4.6), 0.8, 0.8, facecolor="lightyellow", edgecolor="black"))
    ax.plot([wx + 0.4, wx + 0.4], [4.6, 5.4], color="black", lw=1)
    ax.plot([wx, wx + 0.8], [5.0, 5.0], color="black", lw=1)

# a tree
ax.add_patch(Rectangle((7.6, 3), 0.4, 1.5, color="#6b4226"))
ax.add_patch(Circle((7.8, 5.0), 0.9, color="darkgreen"))

ax.set_xlim(0, 10)
ax.set_ylim(0, 10)
ax.set_aspect("equal")
ax.axis("off")
plt.show()

import matplotlib.pyplot as plt
import numpy as np

fig, ax = plt.subplots(figsize=(6, 6), subplot_kw=dict(aspect="equal"))

size = 0.3
vals = np.array([[60., 32.], [37., 40.], [29., 10.]])

cmap = plt.colormaps["tab20c"]
outer_colors = cmap(np.arange(3) * 4)
inner_colors = cmap([1, 2, 5, 6, 9, 10])

ax.pie(vals.sum(axis=1), radius=1, colors=outer_colors,
       labels=["Rent", "Food", "Travel"],
       wedgeprops=dict(width=size, edgecolor='w'))

ax.pie(vals.flatten(), radius=1 - size, colors=inner_colors,
       wedgeprops=dict(width=size, edgecolor='w'))

ax.text(0, 0, "Budget", ha="center", va="center", fontsize=14, fontweight="bold")
ax.set(title="Nested donut chart")
plt.savefig("figure.png")
plt.show()

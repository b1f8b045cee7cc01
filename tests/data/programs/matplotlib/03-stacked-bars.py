import matplotlib.pyplot as plt
import numpy as np

species = ("Adelie", "Chinstrap", "Gentoo")
weight_counts = {
    "Below": np.array([70, 31, 58]),
    "Above": np.array([82, 37, 66]),
}
width = 0.5

fig, ax = plt.subplots()
bottom = np.zeros(3)

for label, weight_count in weight_counts.items():
    p = ax.bar(species, weight_count, width, label=label, bottom=bottom)
    bottom += weight_count
    ax.bar_label(p, label_type="center")

ax.set_title("Number of penguins with above average body mass")
ax.set_ylabel("Count")
ax.legend(loc="upper right")

plt.show()

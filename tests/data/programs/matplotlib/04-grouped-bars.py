import matplotlib.pyplot as plt
import numpy as np

labels = ["Q1", "Q2", "Q3", "Q4"]
sales_2022 = [20, 34, 30, 35]
sales_2023 = [25, 32, 34, 41]
sales_2024 = [28, 36, 39, 44]

x = np.arange(len(labels))
width = 0.25

fig, ax = plt.subplots(figsize=(8, 5))
r1 = ax.bar(x - width, sales_2022, width, label="2022")
r2 = ax.bar(x, sales_2023, width, label="2023")
r3 = ax.bar(x + width, sales_2024, width, label="2024")

ax.set_ylabel("Sales (k$)")
ax.set_title("Quarterly sales by year")
ax.set_xticks(x)
ax.set_xticklabels(labels)
ax.legend()
for rects in (r1, r2, r3):
    ax.bar_label(rects, padding=3, fontsize=8)
ax.set_ylim(0, 50)

fig.tight_layout()
fig.savefig("figure.png", dpi=100)

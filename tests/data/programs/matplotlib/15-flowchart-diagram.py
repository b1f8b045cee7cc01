import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch, FancyArrowPatch

fig, ax = plt.subplots(figsize=(7, 6))
ax.set_xlim(0, 10)
ax.set_ylim(0, 10)
ax.axis("off")

boxes = {
    "start": (5, 9, "Start", "#c6e2ff"),
    "load": (5, 7, "Load data", "#fff2b3"),
    "check": (5, 5, "Is data valid?", "#ffd9b3"),
    "train": (2.5, 3, "Train model", "#d4f4d4"),
    "fix": (7.5, 3, "Clean data", "#f8c8c8"),
    "end": (2.5, 1, "Done", "#c6e2ff"),
}

for key, (x, y, text, color) in boxes.items():
    w, h = 3.0, 1.0
    box = FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                         boxstyle="round,pad=0.1,rounding_size=0.3",
                         fc=color, ec="black", lw=1.2)
    ax.add_patch(box)
    ax.text(x, y, text, ha="center", va="center", fontsize=11)

def arrow(a, b, label=None):
    (x1, y1), (x2, y2) = boxes[a][:2], boxes[b][:2]
    ar = FancyArrowPatch((x1, y1 - 0.6), (x2, y2 + 0.6),
                         arrowstyle="-|>", mutation_scale=15, color="black")
    ax.add_patch(ar)
    if label:
        ax.text((x1 + x2) / 2 + 0.2, (y1 + y2) / 2, label, fontsize=9, color="dimgray")

arrow("start", "load")
arrow("load", "check")
arrow("check", "train", "yes")
arrow("check", "fix", "no")
arrow("train", "end")
ax.annotate("", xy=(6.6, 7), xytext=(7.5, 3.6),
            arrowprops=dict(arrowstyle="-|>", connectionstyle="arc3,rad=0.3"))

ax.set_title("Simple pipeline flowchart")
plt.show()

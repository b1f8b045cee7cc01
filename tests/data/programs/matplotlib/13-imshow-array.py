import numpy as np
from matplotlib.figure import Figure

# a small "heatmap" of made-up data
vegetables = ["cucumber", "tomato", "lettuce", "asparagus", "potato", "wheat", "barley"]
farmers = ["Farmer Joe", "Upland Bros.", "Smith Gardening",
           "Agrifun", "Organiculture", "BioGoods Ltd.", "Cornylee Corp."]

rng = np.random.default_rng(7)
harvest = np.round(rng.uniform(0, 6, size=(7, 7)), 1)

fig = Figure(figsize=(8, 7))
ax = fig.subplots()
im = ax.imshow(harvest, cmap="YlGn")

ax.set_xticks(np.arange(len(farmers)), labels=farmers, rotation=45, ha="right",
              rotation_mode="anchor")
ax.set_yticks(np.arange(len(vegetables)), labels=vegetables)

for i in range(len(vegetables)):
    for j in range(len(farmers)):
        ax.text(j, i, harvest[i, j], ha="center", va="center",
                color="w" if harvest[i, j] > 3.5 else "k")

ax.set_title("Harvest of local farmers (in tons/year)")
fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
fig.tight_layout()
fig.savefig("figure.png")

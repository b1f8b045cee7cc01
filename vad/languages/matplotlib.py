"""matplotlib: a Python script; the current figure is saved (renderers/mpl.py)."""

from __future__ import annotations

from vad.concepts.reference import HEX, PLAIN, STROKE, Style, polygon
from vad.languages._python import python_probes, repair_python, strip_python_comments
from vad.languages.base import Language, Prim, register_language

# An outline's width is STROKE of the figure's side at whatever size the figure is saved
# (renderers/mpl.py sets the size of the image asked for): set as each part is drawn.
_OUTLINE = f"""def outline(patch):
    def draw(renderer, draw=patch.draw):
        patch.set_linewidth({STROKE} * 72 * patch.figure.get_figwidth())
        draw(renderer)
    patch.draw = draw
    return patch"""


def reference(prims: list[Prim], style: Style = PLAIN) -> str:
    patches = "Circle, Ellipse, Polygon" + (", Rectangle" if style.background else "")
    lines = ["import matplotlib.pyplot as plt",
             f"from matplotlib.patches import {patches}",
             "fig, ax = plt.subplots(figsize=(4, 4))"]  # fmt: skip
    if style.background:
        # the whole figure, behind the axes (and whatever facecolor it is saved with)
        lines += [f"fig.patch.set_facecolor('{style.background}')",
                  f"fig.add_artist(Rectangle((-0.1, -0.1), 1.2, 1.2, transform=fig.transFigure, "
                  f"color='{style.background}', zorder=-1))"]  # fmt: skip
    if style.outline:
        lines.append(_OUTLINE)
    for shape, color, cx, cy, r in prims:
        y = 1 - cy
        if style.outline:
            paint, wrap = f"fill=False, edgecolor='{HEX[color]}'", ("outline(", ")")
        else:
            paint, wrap = f"color='{HEX[color]}'", ("", "")
        if shape == "circle":
            patch = f"Circle(({cx:.3f}, {y:.3f}), {r:.3f}, {paint})"
        elif shape == "ellipse":
            turn = f", angle={style.angle:g}" if style.angle else ""  # counter-clockwise
            patch = f"Ellipse(({cx:.3f}, {y:.3f}), {2 * r:.3f}, {1.2 * r:.3f}{turn}, {paint})"
        else:
            pts = ", ".join(f"({x:.3f}, {1 - yy:.3f})"
                            for x, yy in polygon(shape, cx, cy, r, style.angle) or [])  # fmt: skip
            patch = f"Polygon([{pts}], {paint})"
        lines.append(f"ax.add_patch({wrap[0]}{patch}{wrap[1]})")
    lines += ["ax.set_xlim(0, 1)", "ax.set_ylim(0, 1)", "ax.set_aspect('equal')", "ax.axis('off')"]
    return "\n".join(lines) + "\n"


MATPLOTLIB = register_language(Language(
    name="matplotlib", display="Python (matplotlib)", module="mpl", suffix=".py",
    aliases=("mpl",), fences=("python", "py", "python3", "matplotlib"),
    markers=("matplotlib", "plt.", "import numpy"),
    repair=repair_python, strip_hints=strip_python_comments, reference=reference,
    comment=("#", ""),
    guard="python-audit",
    probes=python_probes("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])"),
    bench_target=">= 0.5x in-process img/s jailed",
))  # fmt: skip

"""matplotlib: a Python script; the current figure is saved (renderers/mpl.py)."""

from __future__ import annotations

from vad.concepts.reference import HEX, polygon
from vad.languages._python import python_probes, repair_python, strip_python_comments
from vad.languages.base import Language, Prim, register_language


def reference(prims: list[Prim]) -> str:
    lines = ["import matplotlib.pyplot as plt",
             "from matplotlib.patches import Circle, Ellipse, Polygon",
             "fig, ax = plt.subplots(figsize=(4, 4))"]  # fmt: skip
    for shape, color, cx, cy, r in prims:
        y = 1 - cy
        fill = HEX[color]
        if shape == "circle":
            lines.append(f"ax.add_patch(Circle(({cx:.3f}, {y:.3f}), {r:.3f}, color='{fill}'))")
        elif shape == "ellipse":
            lines.append(
                f"ax.add_patch(Ellipse(({cx:.3f}, {y:.3f}), {2 * r:.3f}, "
                f"{1.2 * r:.3f}, color='{fill}'))"
            )
        else:
            pts = ", ".join(f"({x:.3f}, {1 - yy:.3f})" for x, yy in polygon(shape, cx, cy, r))
            lines.append(f"ax.add_patch(Polygon([{pts}], color='{fill}'))")
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

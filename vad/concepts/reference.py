"""Reference drawings of shape concepts in every language, with known ground truth.

A shape concept's ``attrs`` (shape, colour, position, size, count, arrangement,
relation) become a layout of primitives on a unit canvas (y grows downwards), which
each emitter writes as SVG, matplotlib, TikZ, p5.js or Processing code.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from vad.concepts.loader import Concept

Prim = tuple[str, str, float, float, float]  # shape, colour, centre x, centre y, radius
POSITIONS = {
    "center": (0.5, 0.5), "top-left": (0.25, 0.25), "top-right": (0.75, 0.25),
    "bottom-left": (0.25, 0.75), "bottom-right": (0.75, 0.75),
}  # fmt: skip
HEX = {
    "red": "#e41a1c", "blue": "#377eb8", "green": "#4daf4a", "yellow": "#ffd700",
    "orange": "#ff7f00", "purple": "#984ea3", "black": "#000000", "pink": "#f781bf",
    "brown": "#a65628", "gray": "#888888",
}  # fmt: skip


def layout(concept: Concept) -> list[Prim]:
    """The primitives that depict a shape concept."""
    a = concept.attrs
    if a.get("kind") == "pair":
        if a["relation"] == "above":
            first, second = (0.5, 0.27), (0.5, 0.73)
        else:
            first, second = (0.27, 0.5), (0.73, 0.5)
        return [(a["shape"], a["color"], *first, 0.17),
                (a["other_shape"], a["other_color"], *second, 0.17)]  # fmt: skip
    if a.get("kind") == "group":
        n = int(a["count"])
        if a["arrangement"] == "stacked":
            return [(a["shape"], a["color"], 0.5, 0.3 + 0.4 * i, 0.15) for i in range(n)]
        step = 0.8 / n
        return [(a["shape"], a["color"], 0.1 + step * (i + 0.5), 0.5, step * 0.4)
                for i in range(n)]  # fmt: skip
    cx, cy = POSITIONS.get(a.get("position", "center"), (0.5, 0.5))
    radius = {"small": 0.12, "large": 0.4}.get(a.get("size", ""), 0.2)
    return [(a["shape"], a["color"], cx, cy, radius)]


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    def ring(n: int, start: float, radii: tuple[float, ...] = (1.0,)) -> list[tuple[float, float]]:
        pts = []
        for i in range(n * len(radii)):
            ang = start + 2 * math.pi * i / (n * len(radii))
            k = radii[i % len(radii)]
            pts.append((cx + r * k * math.cos(ang), cy + r * k * math.sin(ang)))
        return pts

    t = r * 0.35
    shapes = {
        "square": [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)],
        "rectangle": [(cx - r, cy - r * 0.55), (cx + r, cy - r * 0.55), (cx + r, cy + r * 0.55),
                      (cx - r, cy + r * 0.55)],
        "triangle": ring(3, -math.pi / 2),
        "pentagon": ring(5, -math.pi / 2),
        "hexagon": ring(6, 0.0),
        "diamond": ring(4, -math.pi / 2),
        "star": ring(5, -math.pi / 2, (1.0, 0.45)),
        "cross": [(cx - t, cy - r), (cx + t, cy - r), (cx + t, cy - t), (cx + r, cy - t),
                  (cx + r, cy + t), (cx + t, cy + t), (cx + t, cy + r), (cx - t, cy + r),
                  (cx - t, cy + t), (cx - r, cy + t), (cx - r, cy - t), (cx - t, cy - t)],
    }  # fmt: skip
    return shapes.get(shape)


def _svg(prims: list[Prim], size: int = 224) -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}">',
             f'<rect width="{size}" height="{size}" fill="white"/>']  # fmt: skip
    for shape, color, cx, cy, r in prims:
        fill = HEX[color]
        if shape == "circle":
            parts.append(
                f'<circle cx="{cx * size:.1f}" cy="{cy * size:.1f}" r="{r * size:.1f}" '
                f'fill="{fill}"/>'
            )
        elif shape == "ellipse":
            parts.append(
                f'<ellipse cx="{cx * size:.1f}" cy="{cy * size:.1f}" '
                f'rx="{r * size:.1f}" ry="{r * size * 0.6:.1f}" fill="{fill}"/>'
            )
        else:
            pts = " ".join(f"{x * size:.1f},{y * size:.1f}" for x, y in _polygon(shape, cx, cy, r))
            parts.append(f'<polygon points="{pts}" fill="{fill}"/>')
    return "\n".join([*parts, "</svg>"])


def _matplotlib(prims: list[Prim]) -> str:
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
            pts = ", ".join(f"({x:.3f}, {1 - yy:.3f})" for x, yy in _polygon(shape, cx, cy, r))
            lines.append(f"ax.add_patch(Polygon([{pts}], color='{fill}'))")
    lines += ["ax.set_xlim(0, 1)", "ax.set_ylim(0, 1)", "ax.set_aspect('equal')", "ax.axis('off')"]
    return "\n".join(lines) + "\n"


def _tikz(prims: list[Prim], scale: float = 5.0) -> str:
    lines = ["\\begin{tikzpicture}",
             f"\\useasboundingbox (0,0) rectangle ({scale},{scale});"]  # fmt: skip
    for shape, color, cx, cy, r in prims:
        fill = HEX[color].lstrip("#").upper()
        col = (
            f"{{rgb,255:red,{int(fill[0:2], 16)};green,{int(fill[2:4], 16)};"
            f"blue,{int(fill[4:6], 16)}}}"
        )
        x, y, rr = cx * scale, (1 - cy) * scale, r * scale
        if shape == "circle":
            lines.append(f"\\fill[color={col}] ({x:.2f},{y:.2f}) circle ({rr:.2f});")
        elif shape == "ellipse":
            lines.append(
                f"\\fill[color={col}] ({x:.2f},{y:.2f}) ellipse ({rr:.2f} and {rr * 0.6:.2f});"
            )
        else:
            pts = " -- ".join(
                f"({px * scale:.2f},{(1 - py) * scale:.2f})"
                for px, py in _polygon(shape, cx, cy, r)
            )
            lines.append(f"\\fill[color={col}] {pts} -- cycle;")
    return "\n".join([*lines, "\\end{tikzpicture}"])


def _sketch(prims: list[Prim], head: list[str], size: int = 224) -> list[str]:
    """The drawing statements of a p5.js or Processing setup() (one API for shapes)."""
    lines = [*head, "  background(255);", "  noStroke();"]
    for shape, color, cx, cy, r in prims:
        fill = HEX[color].lstrip("#")
        rgb = ", ".join(str(int(fill[i : i + 2], 16)) for i in (0, 2, 4))
        lines.append(f"  fill({rgb});")
        x, y, d = cx * size, cy * size, 2 * r * size
        if shape in ("circle", "ellipse"):
            h = d if shape == "circle" else d * 0.6
            lines.append(f"  ellipse({x:.1f}, {y:.1f}, {d:.1f}, {h:.1f});")
        else:
            lines.append("  beginShape();")
            lines += [f"  vertex({px * size:.1f}, {py * size:.1f});"
                      for px, py in _polygon(shape, cx, cy, r)]  # fmt: skip
            lines.append("  endShape(CLOSE);")
    return [*lines, "}"]


def _p5(prims: list[Prim], size: int = 224) -> str:
    head = ["function setup() {", f"  createCanvas({size}, {size});"]
    return "\n".join(_sketch(prims, head, size)) + "\n"


def _processing(prims: list[Prim], size: int = 224) -> str:
    head = ["void setup() {", f"  size({size}, {size});"]
    return "\n".join(_sketch(prims, head, size)) + "\n"


EMITTERS: dict[str, Callable[[list[Prim]], str]] = {
    "svg": _svg, "matplotlib": _matplotlib, "tikz": _tikz, "p5": _p5, "processing": _processing,
}  # fmt: skip


def reference_program(concept: Concept, language: str) -> str:
    """Code in ``language`` that draws the shape concept exactly as its attrs say."""
    if concept.level != "shapes" or "shape" not in concept.attrs:
        raise ValueError(f"{concept.id}: reference drawings exist for shape concepts only")
    return EMITTERS[language](layout(concept))

"""Reference drawings of shape concepts in every language, with known ground truth.

A shape concept's ``attrs`` (shape, colour, position, size, count, arrangement,
relation) become a layout of primitives on a unit canvas (y grows downwards), which
each language's ``reference`` writes as code (``vad.languages.reference_program``).
"""

from __future__ import annotations

import math

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


def polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
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

"""Reference drawings of shape concepts in every language, with known ground truth.

A shape concept's ``attrs`` (shape, colour, position, size, count, arrangement,
relation) become a layout of primitives on a unit canvas (y grows downwards), which
each language's ``reference`` writes as code (``vad.languages.reference_program``),
plainly or in a :class:`Style` (nuisances a verifier must see past: outlines only, a
coloured background, parts turned about their centres).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

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
STROKE = 0.03  # an outline's width, as a fraction of the canvas side
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Style:
    """How a reference drawing is drawn, beyond what its concept says (Style(): plainly).

    outline: each part drawn as its closed outline only (no fill), a stroke STROKE of
        the canvas side wide in the part's colour.
    background: the canvas colour, "#rrggbb" (None: white).
    angle: each part turned by this many degrees, counter-clockwise as seen, about its
        own centre (a circle looks the same).
    """

    outline: bool = False
    background: str | None = None
    angle: float = 0.0

    def __post_init__(self) -> None:
        if self.background is not None and not _HEX_COLOUR.fullmatch(self.background):
            raise ValueError(f"background must be a colour as #rrggbb, not {self.background!r}")
        if not math.isfinite(self.angle):
            raise ValueError(f"angle must be a finite number of degrees, not {self.angle!r}")


PLAIN = Style()  # the plain drawing


def rgb(colour: str) -> tuple[int, int, int]:
    """The red, green and blue (0-255) of a "#rrggbb" colour."""
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _turn(
    points: list[tuple[float, float]], cx: float, cy: float, angle: float
) -> list[tuple[float, float]]:
    """``points`` turned ``angle`` degrees about (cx, cy), counter-clockwise as seen on a
    canvas whose y grows downwards (unchanged for 0)."""
    if not angle:
        return points
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return [(cx + (x - cx) * c + (y - cy) * s, cy - (x - cx) * s + (y - cy) * c)
            for x, y in points]  # fmt: skip


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


def ellipse_points(
    cx: float, cy: float, r: float, angle: float = 0.0, n: int = 48
) -> list[tuple[float, float]]:
    """The outline of the ellipse of semi-axes r (across) and 0.6 r (down) centred on
    (cx, cy), turned ``angle`` degrees (counter-clockwise as seen), as ``n`` points."""
    pts = [(cx + r * math.cos(a), cy + 0.6 * r * math.sin(a))
           for a in (2 * math.pi * i / n for i in range(n))]  # fmt: skip
    return _turn(pts, cx, cy, angle)


def polygon(
    shape: str, cx: float, cy: float, r: float, angle: float = 0.0
) -> list[tuple[float, float]] | None:
    """The corners of a polygonal shape of radius r centred on (cx, cy), turned
    ``angle`` degrees about its centre (counter-clockwise as seen); None for a shape
    that is no polygon (circle, ellipse)."""

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
    pts = shapes.get(shape)
    return None if pts is None else _turn(pts, cx, cy, angle)

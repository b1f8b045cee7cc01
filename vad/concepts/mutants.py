"""Mutated reference drawings: a shape concept drawn with one attribute changed, or with
a nuisance that changes none, each with the attribute a verifier must find wrong.

A mutant is a layout of primitives (vad/concepts/reference.py) and a :class:`Style`;
each language writes it as code (``vad.languages.reference_program(concept, language,
style, prims)``). ``changed`` names the one attribute that no longer holds ("color",
"count", "shape", "position", "size", "arrangement", "relation"; an "extra" object
beside the concept's parts makes its count wrong), or is None for a
nuisance the drawing still shows the concept under (drawn as outlines only, on a
coloured background, each part turned a little about its centre).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vad.concepts.loader import Concept
from vad.concepts.reference import PLAIN, POSITIONS, Prim, Style, layout
from vad.concepts.shapes import COLORS, PRIMITIVES

SHAPES = [name for name, _ in PRIMITIVES]
BACKGROUNDS = ("#cfe2f3", "#d9ead3", "#fff2cc", "#ead1dc")  # pale blue, green, yellow, pink
ANGLE = 12.0  # degrees: a turn that leaves every primitive what it is (a square no diamond)
KINDS = ("reference", "color", "shape", "count", "extra", "position", "size", "arrangement",
         "relation", "outline", "background", "rotated")  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    """A drawing of ``concept`` as ``prims`` in ``style``; ``changed``: the attribute
    that it gets wrong (None: it still shows the concept)."""

    kind: str
    changed: str | None
    prims: list[Prim]
    style: Style = PLAIN


def mutants(concept: Concept, seed: int = 0) -> list[Mutant]:
    """The reference drawing of a shape concept and each mutant that applies to it,
    chosen by ``seed`` (deterministic)."""
    a = concept.attrs
    rng = random.Random(f"{seed}:{concept.id}")
    base = layout(concept)
    out = [Mutant("reference", None, base)]
    used = {a["color"], a.get("other_color")}
    color = rng.choice([c for c in COLORS if c not in used])
    out.append(Mutant("color", "color", _recolor(base, a["color"], color, first_only=True)))
    shapes = {a["shape"], a.get("other_shape")}
    shape = rng.choice([s for s in SHAPES if s not in shapes])
    reshaped = [(shape, *p[1:]) if p[0] == a["shape"] else p for p in base]
    if a.get("kind") == "pair":
        reshaped = [(shape, *base[0][1:]), base[1]]
    out.append(Mutant("shape", "shape", reshaped))
    counted = _count(a, base)
    if counted is not None:
        out.append(Mutant("count", "count", counted))
        # another object beside the concept's: another colour and shape, as large as
        # three quarters of the concept's parts, where there is room
        other = rng.choice([c for c in COLORS if c not in used and c != color])
        out.append(Mutant("extra", "count", [*base, (shape, other, *_free_spot(a, base))]))
    kind = a.get("kind")
    if kind == "single" and "position" in a:
        where = rng.choice([p for p in POSITIONS if p != a["position"]])
        cx, cy = POSITIONS[where]
        out.append(Mutant("position", "position", [(*base[0][:2], cx, cy, base[0][4])]))
    if kind == "single" and "size" in a:
        radius = 0.4 if a["size"] == "small" else 0.12
        out.append(Mutant("size", "size", [(*base[0][:4], radius)]))
    if kind == "group":
        n = int(a["count"])
        across = a["arrangement"] == "stacked"
        out.append(Mutant("arrangement", "arrangement", _line(a["shape"], a["color"], n, across)))
    if kind == "pair":
        (s1, c1, x1, y1, r1), (s2, c2, x2, y2, r2) = base
        out.append(Mutant("relation", "relation", [(s1, c1, x2, y2, r1), (s2, c2, x1, y1, r2)]))
    background = BACKGROUNDS[rng.randrange(len(BACKGROUNDS))]
    out += [Mutant("outline", None, base, Style(outline=True)),
            Mutant("background", None, base, Style(background=background)),
            Mutant("rotated", None, base, Style(angle=ANGLE))]  # fmt: skip
    return out


def _recolor(prims: list[Prim], old: str, new: str, first_only: bool) -> list[Prim]:
    """Every part of colour ``old`` in ``new`` (of a pair: its first part only)."""
    if first_only and len(prims) == 2 and prims[0][1] != prims[1][1]:
        return [(prims[0][0], new, *prims[0][2:]), prims[1]]
    return [(p[0], new, *p[2:]) if p[1] == old else p for p in prims]


def _line(shape: str, color: str, n: int, across: bool) -> list[Prim]:
    """``n`` parts evenly along the middle of the canvas: a row (``across``) or a stack."""
    step = 0.8 / max(n, 2)
    offsets = [0.5 + step * (i - (n - 1) / 2) for i in range(n)]
    radius = step * 0.4
    if across:
        return [(shape, color, x, 0.5, radius) for x in offsets]
    return [(shape, color, 0.5, y, radius) for y in offsets]


def _free_spot(a: dict, base: list[Prim]) -> tuple[float, float, float]:
    """Centre and radius of a part three quarters the size of the concept's (at most),
    where it touches none of them."""
    radius = min(p[4] for p in base) * 0.75
    if a.get("kind") == "pair":
        spot = (0.15, 0.5) if a["relation"] == "above" else (0.5, 0.13)
        return (*spot, min(radius, 0.125))
    cx, cy = base[0][2], base[0][3]
    corners = [(0.14, 0.14), (0.86, 0.14), (0.14, 0.86), (0.86, 0.86)]
    far = max(corners, key=lambda c: (c[0] - cx) ** 2 + (c[1] - cy) ** 2)
    return (*far, min(radius, 0.12 if a.get("kind") == "group" else 0.14))


def _count(a: dict, base: list[Prim]) -> list[Prim] | None:
    """One part more (or, of three, one fewer), the rest as it was; None where no part
    fits beside the drawing (a large single shape fills the canvas)."""
    kind = a.get("kind")
    if kind == "group":
        n = int(a["count"])
        return _line(a["shape"], a["color"], 2 if n == 3 else n + 1, a["arrangement"] != "stacked")
    if kind == "pair":
        shape, color = base[0][:2]
        spot = (0.15, 0.5) if a["relation"] == "above" else (0.5, 0.13)
        return [*base, (shape, color, *spot, 0.09)]
    if a.get("size") == "large":
        return None
    shape, color, cx, cy, r = base[0]
    # a smaller copy in the corner farthest from the part
    corners = [(0.15, 0.15), (0.85, 0.15), (0.15, 0.85), (0.85, 0.85)]
    far = max(corners, key=lambda c: (c[0] - cx) ** 2 + (c[1] - cy) ** 2)
    return [*base, (shape, color, *far, min(r, 0.2) * 0.6)]

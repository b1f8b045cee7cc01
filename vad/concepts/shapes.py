"""Shape concepts composed from primitives, colours, positions, sizes and arrangements.

Deterministic: the same code yields the same concepts in the same order with the same
ids. Each concept keeps its parts in ``attrs`` so that tasks can build reference
drawings with known ground truth.
"""

from __future__ import annotations

from collections.abc import Iterator

PRIMITIVES = [
    ("circle", "circles"),
    ("square", "squares"),
    ("triangle", "triangles"),
    ("rectangle", "rectangles"),
    ("ellipse", "ellipses"),
    ("star", "stars"),
    ("pentagon", "pentagons"),
    ("hexagon", "hexagons"),
    ("diamond", "diamonds"),
    ("cross", "crosses"),
]
COLORS = ["red", "blue", "green", "yellow", "orange", "purple", "black", "pink", "brown", "gray"]
POSITIONS = {
    "center": "in the center",
    "top-left": "in the top left",
    "top-right": "in the top right",
    "bottom-left": "in the bottom left",
    "bottom-right": "in the bottom right",
}
SIZES = ["small", "large"]
ARRANGEMENTS = {
    "side-by-side": (2, "two {color} {plural} side by side"),
    "row": (3, "three {color} {plural} in a row"),
    "stacked": (2, "two {color} {plural} stacked vertically"),
}
RELATIONS = {"above": "above", "left-of": "to the left of"}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _iter_shapes() -> Iterator[tuple[str, str, dict]]:
    for name, plural in PRIMITIVES:
        for color in COLORS:
            for pos, phrase in POSITIONS.items():
                attrs = {"kind": "single", "shape": name, "color": color, "position": pos}
                caption = f"{_article(color)} {color} {name} {phrase}"
                yield f"shape-{color}-{name}-{pos}", caption, attrs
            for size in SIZES:
                attrs = {"kind": "single", "shape": name, "color": color, "size": size}
                caption = f"{_article(size)} {size} {color} {name}"
                yield f"shape-{size}-{color}-{name}", caption, attrs
            for arr, (count, pattern) in ARRANGEMENTS.items():
                attrs = {
                    "kind": "group",
                    "shape": name,
                    "color": color,
                    "count": count,
                    "arrangement": arr,
                }
                caption = pattern.format(color=color, plural=plural)
                yield f"shape-{count}-{color}-{plural}-{arr}", caption, attrs
    # Pairs of different primitives in a spatial relation; colours rotate with the
    # pair's index so that every colour pairing appears without a full cross product.
    index = 0
    for i, (a, _) in enumerate(PRIMITIVES):
        for j, (b, _) in enumerate(PRIMITIVES):
            if i == j:
                continue
            for rel, phrase in RELATIONS.items():
                ca = COLORS[index % len(COLORS)]
                cb = COLORS[(index * 3 + 1) % len(COLORS)]
                if cb == ca:
                    cb = COLORS[(index + 5) % len(COLORS)]
                index += 1
                attrs = {
                    "kind": "pair",
                    "shape": a,
                    "color": ca,
                    "relation": rel,
                    "other_shape": b,
                    "other_color": cb,
                }
                caption = f"{_article(ca)} {ca} {a} {phrase} {_article(cb)} {cb} {b}"
                yield f"shape-{ca}-{a}-{rel}-{cb}-{b}", caption, attrs


def generate_shapes() -> list[tuple[str, str, dict]]:
    """All shape concepts as ``(id, caption, attrs)``, in a fixed order."""
    return list(_iter_shapes())

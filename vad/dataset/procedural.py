"""Procedural shape images: the baseline training set, from the shape concepts.

Each image starts from one of the shape concepts (its primitives, colours and layout, as
in the reference drawings) and is varied by a seeded random draw: jittered positions,
sizes and rotations, colours around the named hue, a light background, sometimes an
outline and distractor shapes. The SVG is rendered by the same warm worker pool as
model-written code. Everything follows from ``seed``: the same seed gives the same images.
"""

from __future__ import annotations

import colorsys
import random
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vad.concepts import reference
from vad.concepts.loader import Concept, load_concepts
from vad.concepts.shapes import PRIMITIVES
from vad.dataset.export import Candidate, ExportOptions, export
from vad.render.pool import RenderPool

_BASE = 256  # SVG user units; images are rendered at the export size
VERSION = "2"  # changes whenever the same seed would draw different images


def _jitter_colour(hex_colour: str, rng: random.Random) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    h = (h + rng.uniform(-0.03, 0.03)) % 1.0
    s = min(1.0, max(0.0, s * rng.uniform(0.75, 1.1)))
    v = min(1.0, max(0.0, v * rng.uniform(0.8, 1.15) + (0.1 if v < 0.1 else 0.0)))
    rr, gg, bb = colorsys.hsv_to_rgb(h, s, v)
    return f"#{round(rr * 255):02x}{round(gg * 255):02x}{round(bb * 255):02x}"


def _element(
    shape: str, fill: str, cx: float, cy: float, r: float, angle: float, extra: str
) -> str:
    x, y, rr = cx * _BASE, cy * _BASE, r * _BASE
    rot = f' transform="rotate({angle:.1f} {x:.1f} {y:.1f})"'
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{rr:.1f}" fill="{fill}"{extra}/>'
    if shape == "ellipse":
        return (
            f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{rr:.1f}" ry="{rr * 0.6:.1f}" '
            f'fill="{fill}"{extra}{rot}/>'
        )
    pts = reference.polygon(shape, cx, cy, r) or []
    points = " ".join(f"{px * _BASE:.1f},{py * _BASE:.1f}" for px, py in pts)
    return f'<polygon points="{points}" fill="{fill}"{extra}{rot}/>'


def _random_colour(rng: random.Random) -> str:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.1, 0.9), rng.uniform(0.2, 1.0))
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _dead_leaves(rng: random.Random, leaves: tuple[int, int]) -> list[str]:
    """A background of many overlapping primitives with power-law sizes ("dead leaves"),
    whose edge and colour statistics are closer to photographs than a flat fill."""
    shapes = [name for name, _ in PRIMITIVES]
    out = []
    for _ in range(rng.randint(*leaves)):
        r = 0.015 / (1 - rng.random() * 0.95)  # 0.015 .. 0.3 of the canvas, small ones common
        out.append(
            _element(
                rng.choice(shapes),
                _random_colour(rng),
                rng.random(),
                rng.random(),
                min(r, 0.3),
                rng.uniform(0, 360),
                "",
            )
        )
    return out


def procedural_svg(
    concept: Concept, rng: random.Random, clutter: float = 1.0, leaves: tuple[int, int] = (60, 150)
) -> str:
    """One varied drawing of a shape concept, as SVG. With probability ``clutter`` the
    background is a dead-leaves pattern of ``leaves`` primitives, the concept on top."""
    bg = _jitter_colour("#f4f4f4", rng) if rng.random() < 0.5 else "#ffffff"
    if rng.random() < 0.3:
        h = rng.random()
        bg = "#{:02x}{:02x}{:02x}".format(
            *(round(c * 255) for c in colorsys.hsv_to_rgb(h, rng.uniform(0.05, 0.25), 0.97))
        )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_BASE} {_BASE}">',
        f'<rect width="{_BASE}" height="{_BASE}" fill="{bg}"/>',
    ]
    if clutter and rng.random() < clutter:
        parts += _dead_leaves(rng, leaves)
    dx, dy = rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08)
    scale = rng.uniform(0.75, 1.25)
    outline = rng.random() < 0.3
    for shape, colour, cx, cy, r in reference.layout(concept):
        fill = _jitter_colour(reference.HEX[colour], rng)
        extra = f' stroke="#202020" stroke-width="{rng.uniform(2, 6):.1f}"' if outline else ""
        cx = min(0.95, max(0.05, cx + dx + rng.uniform(-0.02, 0.02)))
        cy = min(0.95, max(0.05, cy + dy + rng.uniform(-0.02, 0.02)))
        angle = rng.uniform(-180, 180) if rng.random() < 0.6 else 0.0
        parts.append(_element(shape, fill, cx, cy, r * scale, angle, extra))
    for _ in range(rng.choice((0, 0, 0, 1, 2))):  # small distractors
        shape = rng.choice(("circle", "square", "triangle", "star"))
        fill = _jitter_colour(rng.choice(list(reference.HEX.values())), rng)
        parts.append(
            _element(
                shape,
                fill,
                rng.uniform(0.1, 0.9),
                rng.uniform(0.1, 0.9),
                rng.uniform(0.03, 0.07),
                rng.uniform(0, 360),
                "",
            )
        )
    return "\n".join([*parts, "</svg>"])


def procedural_candidates(
    n: int,
    workdir: Path,
    size: int,
    seed: int = 0,
    pool: RenderPool | None = None,
    clutter: float = 1.0,
    leaves: tuple[int, int] = (60, 150),
) -> Iterator[Candidate]:
    """Render ``n`` procedural images into ``workdir``, yielding export candidates."""
    concepts = [c for c in load_concepts(["shapes"]) if "shape" in c.attrs]
    workdir.mkdir(parents=True, exist_ok=True)
    own_pool = pool is None
    pool = pool or RenderPool()

    def job(i: int) -> Candidate:
        rng = random.Random(f"{seed}:{i}")
        concept = concepts[rng.randrange(len(concepts))]
        dest = workdir / f"proc-{seed}-{i:07d}.png"
        result = pool.render("svg", procedural_svg(concept, rng, clutter, leaves), size, size, dest)
        return Candidate(
            image=dest if result.ok else None,
            status=str(result.status),
            reason=result.reason,
            meta={
                "sample_id": f"procedural:{seed}:{i}",
                "source": "procedural",
                "task": "procedural",
                "concept": concept.id,
                "level": concept.level,
                "caption": concept.caption,
                "label": concept.attrs["shape"],
                "model": "procedural",
                "language": "svg",
                "round": -1,
            },
        )

    try:
        with ThreadPoolExecutor(pool.size) as threads:
            for start in range(0, n, 256):  # bounded look-ahead, results in order
                yield from threads.map(job, range(start, min(n, start + 256)))
    finally:
        if own_pool:
            pool.close()


def export_shapes(
    out: Path,
    n: int,
    options: ExportOptions,
    seed: int = 0,
    clutter: float = 1.0,
    leaves: tuple[int, int] = (60, 150),
    progress: bool = True,
) -> dict[str, Any]:
    """Export ``n`` distinct procedural images to ``out`` (rendering as many as it takes,
    up to 4n); returns the export record."""
    source = f"procedural v{VERSION} seed={seed} clutter={clutter} leaves={leaves[0]},{leaves[1]}"
    with tempfile.TemporaryDirectory(prefix="vad-shapes-") as tmp:
        candidates = procedural_candidates(
            4 * n, Path(tmp), options.size, seed, clutter=clutter, leaves=leaves
        )
        return export(candidates, out, options, [source], progress, limit=n)

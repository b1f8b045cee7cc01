from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad.concepts import load_concepts
from vad.concepts.reference import HEX, layout
from vad.languages import language_names, reference_program
from vad.render import RenderPool


def test_layout_follows_the_attributes() -> None:
    (pair,) = load_concepts(ids=["shape-red-star-above-blue-circle"])
    (star, star_col, sx, sy, _), (circ, circ_col, cx, cy, _) = layout(pair)
    assert (star, star_col, circ, circ_col) == ("star", "red", "circle", "blue")
    assert sx == cx and sy < cy  # above: smaller y on a canvas whose y grows downwards
    (row,) = load_concepts(ids=["shape-3-green-triangles-row"])
    prims = layout(row)
    assert len(prims) == 3 and len({p[3] for p in prims}) == 1
    (corner,) = load_concepts(ids=["shape-yellow-square-top-right"])
    assert layout(corner)[0][2:4] == (0.75, 0.25)


def test_only_shapes_have_reference_drawings() -> None:
    (cat,) = load_concepts(ids=["obj-cat"])
    with pytest.raises(ValueError, match="shape concepts only"):
        reference_program(cat, "svg")


@pytest.mark.parametrize("lang", language_names())
@pytest.mark.slow
def test_reference_drawings_render_in_their_colour(lang: str, tmp_path: Path) -> None:
    concepts = load_concepts(["shapes"], limit=6, seed=3)
    with RenderPool(size=2) as pool:
        for concept in concepts:
            dest = tmp_path / f"{concept.id}.png"
            result = pool.render(lang, reference_program(concept, lang), 96, 96, dest)
            assert result.ok, (concept.id, result)
            colour = np.array([int(HEX[concept.attrs["color"]][i : i + 2], 16) for i in (1, 3, 5)])
            with Image.open(dest) as img:
                rgb = np.asarray(img.convert("RGB")).astype(int)
            close = np.abs(rgb - colour).sum(axis=-1) < 40
            assert close.sum() > 30, concept.id

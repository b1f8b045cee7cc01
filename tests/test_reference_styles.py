"""Reference drawings in a Style (outline only, a coloured background, parts turned),
rendered for real in the jail in every language: the pixels show each nuisance, and the
plain style writes the very programs it always did."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad.concepts import load_concepts
from vad.concepts.reference import HEX, STROKE, Style, ellipse_points, layout, polygon, rgb
from vad.languages import get_language, language_names, reference_program
from vad.render import RenderPool

SIZE = 224
# a blue circle left of an orange square: one part a turn changes, one it does not
(PAIR,) = load_concepts(ids=["shape-blue-circle-left-of-orange-square"])
BACKGROUND = "#204060"
STYLES = {
    "plain": Style(),
    "background": Style(background=BACKGROUND),
    "outline": Style(outline=True),
    "angle": Style(angle=30),
}
LANGUAGES = language_names()


def _pixels(path: Path) -> np.ndarray:
    with Image.open(io.BytesIO(path.read_bytes())) as img:
        return np.asarray(img.convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], np.ndarray]]:
    """Every language's drawing of PAIR in every style, rendered by one jailed pool."""
    out = tmp_path_factory.mktemp("styles")
    drawn: dict[tuple[str, str], np.ndarray] = {}
    with RenderPool(size=1, sandbox=True) as pool:
        for lang in LANGUAGES:
            for name, style in STYLES.items():
                dest = out / f"{lang}-{name}.png"
                result = pool.render(lang, reference_program(PAIR, lang, style), SIZE, SIZE, dest)
                assert result.ok, (lang, name, result.status, result.reason)
                drawn[lang, name] = _pixels(dest)
    yield drawn


def _mask(img: np.ndarray, colour: str, tol: int = 60) -> np.ndarray:
    return np.abs(img - np.array(rgb(colour))).sum(axis=-1) < tol


def _near(pixel: np.ndarray, colour: str, tol: int = 6) -> bool:
    return bool(np.abs(pixel - np.array(rgb(colour))).max() <= tol)


def _part(img: np.ndarray, colour: str) -> tuple[int, int, int, int]:
    """Centre row and column, leftmost and topmost-row column of a part's pixels."""
    ys, xs = np.nonzero(_mask(img, colour))
    assert len(xs) > 100, colour
    top = ys.min()
    return round(ys.mean()), round(xs.mean()), xs.min(), round(xs[ys == top].mean())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_background_fills_the_canvas(images: dict, lang: str) -> None:
    img = images[lang, "background"]
    for y, x in ((0, 0), (0, SIZE - 1), (SIZE - 1, 0), (SIZE - 1, SIZE - 1)):
        assert _near(img[y, x], BACKGROUND), (lang, (y, x), img[y, x])
    for colour in ("blue", "orange"):  # the parts are drawn over it, as before
        cy, cx, _, _ = _part(images[lang, "plain"], HEX[colour])
        assert _near(img[cy, cx], HEX[colour], 12), (lang, colour, img[cy, cx])


@pytest.mark.parametrize("lang", LANGUAGES)
def test_outline_leaves_the_inside_unpainted(images: dict, lang: str) -> None:
    plain, img = images[lang, "plain"], images[lang, "outline"]
    for colour in ("blue", "orange"):
        cy, cx, left, _ = _part(plain, HEX[colour])
        assert _near(img[cy, cx], "#ffffff"), (lang, colour, img[cy, cx])
        ring = img[cy, left - 1 : left + 2]  # the stroke is centred on the part's edge
        assert any(_near(p, HEX[colour], 12) for p in ring), (lang, colour, ring)
        # a closed outline: the part's edge is painted all round (top, bottom, right too)
        assert _mask(img, HEX[colour]).sum() > 0.5 * 4 * (2 * (cx - left)) * STROKE * SIZE


@pytest.mark.parametrize("lang", LANGUAGES)
def test_angle_turns_the_square_not_the_circle(images: dict, lang: str) -> None:
    plain, turned = images[lang, "plain"], images[lang, "angle"]
    circle = _mask(plain, HEX["blue"]), _mask(turned, HEX["blue"])
    assert (circle[0] & circle[1]).sum() / (circle[0] | circle[1]).sum() > 0.95, lang
    square = _mask(plain, HEX["orange"]), _mask(turned, HEX["orange"])
    assert (square[0] & square[1]).sum() / (square[0] | square[1]).sum() < 0.85, lang
    # counter-clockwise as seen: the corner that was top-right comes up, right of centre
    _, cx, _, top_x = _part(turned, HEX["orange"])
    assert top_x - cx > 3, (lang, top_x, cx)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_plain_style_writes_the_programs_it_always_did(lang: str) -> None:
    concepts = [c for c in load_concepts(["shapes"], None, 10_000, 0) if "shape" in c.attrs]
    reference = get_language(lang).reference
    for concept in concepts:
        plain = reference(layout(concept))
        assert reference_program(concept, lang) == plain, concept.id
        assert reference_program(concept, lang, Style()) == plain, concept.id
        assert reference(layout(concept), style=Style()) == plain, concept.id


def test_a_changed_layout_is_drawn() -> None:
    prims = [("square", "red", 0.3, 0.3, 0.1)]
    for lang in LANGUAGES:
        assert reference_program(PAIR, lang, prims=prims) == get_language(lang).reference(prims)
    (cat,) = load_concepts(ids=["obj-cat"])
    with pytest.raises(ValueError, match="shape concepts only"):
        reference_program(cat, "svg", prims=prims)


def test_turning_is_counter_clockwise_as_seen() -> None:
    assert polygon("square", 0.5, 0.5, 0.2, 0.0) == polygon("square", 0.5, 0.5, 0.2)
    (x, y), *_ = polygon("diamond", 0.5, 0.5, 0.2, 90.0) or []  # the top corner goes left
    assert (x, y) == pytest.approx((0.3, 0.5))
    pts = ellipse_points(0.5, 0.5, 0.2, 90.0)
    assert len(pts) == 48 and pts[0] == pytest.approx((0.5, 0.3))  # the right end goes up
    assert max(abs(px - 0.5) for px, _ in pts) == pytest.approx(0.12)


@pytest.mark.parametrize("bad", [{"background": "red"}, {"background": "#12345"},
                                 {"angle": float("nan")}])  # fmt: skip
def test_a_style_is_checked(bad: dict) -> None:
    with pytest.raises(ValueError):
        Style(**bad)

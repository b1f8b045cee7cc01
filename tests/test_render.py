"""Rendering through the warm, jailed pool: images, typed failures, recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad.errors import SpecError
from vad.render import Limits, RenderPool, RenderStatus, get_renderer, renderer_names

CIRCLE = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
    '<circle cx="5" cy="5" r="3" fill="red"/></svg>'
)
MPL = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1], [0, 1])\n"
TIKZ = "\\begin{tikzpicture}\\fill[red] (0,0) circle (1);\\end{tikzpicture}"
GOOD = {"svg": CIRCLE, "matplotlib": MPL, "tikz": TIKZ}


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    with RenderPool(size=2, limits=Limits(timeout_s=6, cpu_s=5)) as p:
        yield p


@pytest.mark.parametrize("lang", ["svg", "matplotlib", "tikz"])
def test_each_language_renders_a_png_of_the_requested_size(
    pool: RenderPool, tmp_path: Path, lang: str
) -> None:
    dest = tmp_path / "out" / f"{lang}.png"
    result = pool.render(lang, GOOD[lang], 96, 64, dest)
    assert result.status is RenderStatus.OK, result
    assert result.image == dest and dest.is_file()
    with Image.open(dest) as img:
        assert img.size == (96, 64)
        rgb = img.convert("RGB")
        assert rgb.getpixel((0, 0)) == (255, 255, 255)
        colours = np.unique(np.asarray(rgb).reshape(-1, 3), axis=0)
        assert len(colours) > 2
    assert result.renderer_version == pool.versions()[lang]


@pytest.mark.parametrize(
    ("lang", "code", "status", "reason"),
    [
        ("svg", '<svg xmlns="http://www.w3.org/2000/svg"><circle', RenderStatus.SYNTAX_ERROR,
         "XML"),
        ("svg", '<svg xmlns="http://www.w3.org/2000/svg"></svg>', RenderStatus.EMPTY_IMAGE,
         "flat"),
        ("matplotlib", "import matplotlib.pyplot as plt\nplt.plot([1,2]", RenderStatus.SYNTAX_ERROR,
         "SyntaxError"),
        ("matplotlib", "x = 1 / 0\n", RenderStatus.RUNTIME_ERROR, "ZeroDivisionError"),
        ("matplotlib", "x = 1\n", RenderStatus.EMPTY_IMAGE, "no figure"),
        ("matplotlib", "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n",
         RenderStatus.EMPTY_IMAGE, "no drawn elements"),
        ("tikz", "\\begin{tikzpicture}\\fill[red] (0,0) circl (1);\\end{tikzpicture}",
         RenderStatus.SYNTAX_ERROR, "!"),
        ("tikz", "\\begin{tikzpicture}\\end{tikzpicture}", RenderStatus.EMPTY_IMAGE, "flat"),
    ],
)  # fmt: skip
def test_failures_are_typed_results(
    pool: RenderPool, tmp_path: Path, lang: str, code: str, status: RenderStatus, reason: str
) -> None:
    result = pool.render(lang, code, 64, 64, tmp_path / "x.png")
    assert result.status is status, result
    assert reason in result.reason
    assert result.image is None and not (tmp_path / "x.png").exists()


def test_the_current_figure_is_the_one_taken(pool: RenderPool, tmp_path: Path) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "a = plt.figure(); plt.plot([0, 1], [0, 1], color='red', linewidth=20)\n"
        "b = plt.figure(); plt.plot([0, 1], [0, 1], color='blue', linewidth=20)\n"
        "plt.figure(a.number)  # makes the red one current again\n"
    )
    result = pool.render("matplotlib", code, 64, 64, tmp_path / "f.png")
    assert result.ok
    with Image.open(tmp_path / "f.png") as img:
        rgb = np.asarray(img.convert("RGB")).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 2] < 80)
    blue = (rgb[..., 2] > 200) & (rgb[..., 0] < 80)
    assert red.sum() > 50 and not blue.any()


def test_size_limits(pool: RenderPool, tmp_path: Path) -> None:
    assert pool.render("svg", CIRCLE, 10_000, 10_000, tmp_path / "a.png").status is (
        RenderStatus.TOO_LARGE
    )
    big = CIRCLE.replace("</svg>", "<!--" + "x" * (2 << 20) + "--></svg>")
    assert pool.render("svg", big, 32, 32, tmp_path / "b.png").status is RenderStatus.TOO_LARGE


def test_unsandboxed_pool_renders_the_same(tmp_path: Path) -> None:
    with RenderPool(size=1, sandbox=False) as raw:  # one worker: every job reuses its folder
        results = [raw.render("svg", CIRCLE, 32, 32, tmp_path / f"raw{i}.png") for i in range(4)]
    assert [r.status for r in results] == [RenderStatus.OK] * 4, [r.reason for r in results]


def test_renderer_registry() -> None:
    assert renderer_names() == ["matplotlib", "p5", "processing", "svg", "tikz"]
    assert get_renderer("matplotlib").module == "mpl"
    with pytest.raises(SpecError, match="no renderer for language 'postscript'"):
        get_renderer("postscript")

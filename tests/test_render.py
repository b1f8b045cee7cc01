from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from vad.errors import SpecError
from vad.render import RenderStatus, get_renderer, renderer_names
from vad.render.process import Limits

CIRCLE = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
    '<circle cx="5" cy="5" r="3" fill="red"/></svg>'
)


def test_svg_renders_a_white_backed_png_of_the_requested_size(tmp_path: Path) -> None:
    result = get_renderer("svg").render(CIRCLE, tmp_path / "job", 64, 48)
    assert result.status is RenderStatus.OK and result.image is not None
    with Image.open(result.image) as img:
        assert img.size == (64, 48)
        rgb = img.convert("RGB")
        assert rgb.getpixel((0, 0)) == (255, 255, 255)
        assert rgb.getpixel((32, 24))[0] > 200 and rgb.getpixel((32, 24))[1] < 50
    assert result.renderer_version.startswith("svg-1+cairosvg-")


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg"><circle', RenderStatus.SYNTAX_ERROR, "XML"),
        ('<svg xmlns="http://www.w3.org/2000/svg"></svg>', RenderStatus.EMPTY_IMAGE, "flat"),
        (
            '<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
            RenderStatus.BLOCKED,
            "Entit",
        ),
    ],
)
def test_failures_are_typed_results(
    tmp_path: Path, code: str, status: RenderStatus, reason: str
) -> None:
    result = get_renderer("svg").render(code, tmp_path / "job", 32, 32)
    assert result.status is status and reason in result.reason
    assert result.image is None


def test_limits_give_too_large_and_timeout(tmp_path: Path) -> None:
    renderer = get_renderer("svg")
    assert renderer.render(CIRCLE, tmp_path / "a", 10_000, 10_000).status is RenderStatus.TOO_LARGE
    big = CIRCLE.replace("</svg>", "<!--" + "x" * (2 << 20) + "--></svg>")
    assert renderer.render(big, tmp_path / "b", 32, 32).status is RenderStatus.TOO_LARGE
    renderer.limits = Limits(timeout_s=0.01)
    result = renderer.render(CIRCLE, tmp_path / "c", 32, 32)
    assert result.status is RenderStatus.TIMEOUT and result.image is None


def test_renderer_registry() -> None:
    assert "svg" in renderer_names()
    with pytest.raises(SpecError, match="no renderer for language 'postscript'"):
        get_renderer("postscript")

"""SVG renderer: cairosvg with unsafe=False (no external resources, no XML entities)."""

from __future__ import annotations

import re

from _protocol import BLOCKED, SYNTAX, TOO_LARGE, RenderFailure

VERSION = "svg-2"
CODE_FILE = "drawing.svg"
FORK = False  # no code runs: the warm worker renders directly, under a host timeout


_EXTERNAL = re.compile(
    r"""(?:href\s*=\s*["']|url\(\s*["']?|@import\s+["']?)\s*(?!#|data:)[a-z][a-z0-9+.-]*:""",
    re.I,
)


def preload() -> None:
    import cairosvg  # noqa: F401


def render(code: str, out_png: str, width: int, height: int) -> None:
    match = _EXTERNAL.search(code)
    if match:
        raise RenderFailure(BLOCKED, f"external reference not allowed: {match.group(0)[:80]}")
    from xml.etree.ElementTree import ParseError

    import cairosvg
    from defusedxml import DefusedXmlException

    try:
        cairosvg.svg2png(
            bytestring=code.encode("utf-8"),
            write_to=out_png,
            output_width=width,
            output_height=height,
            background_color="white",
            unsafe=False,
        )
    except DefusedXmlException as exc:
        raise RenderFailure(BLOCKED, f"{type(exc).__name__}: {exc}") from None
    except ParseError as exc:
        raise RenderFailure(SYNTAX, f"XML parse error: {exc}") from None
    except RecursionError:
        raise RenderFailure(TOO_LARGE, "elements nested too deeply") from None

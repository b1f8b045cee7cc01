"""SVG renderer: cairosvg with unsafe=False (no external resources, no XML entities)."""

from __future__ import annotations

import re

from _protocol import BLOCKED, EMPTY, SYNTAX, TOO_LARGE, RenderFailure

VERSION = "svg-2"
CHECKS_BLANK = True  # render() reports a flat image itself
CODE_FILE = "drawing.svg"
FORK = False  # no code runs: the warm worker renders directly, under a host timeout


_EXTERNAL = re.compile(
    r"""(?:href\s*=\s*["']|url\(\s*["']?|@import\s+["']?)\s*(?!#|data:)[a-z][a-z0-9+.-]*:""",
    re.I,
)


def preload() -> None:
    import cairosvg.parser
    import cairosvg.surface  # noqa: F401


def render(code: str, out_png: str, width: int, height: int) -> None:
    match = _EXTERNAL.search(code)
    if match:
        raise RenderFailure(BLOCKED, f"external reference not allowed: {match.group(0)[:80]}")
    from xml.etree.ElementTree import ParseError

    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface
    from defusedxml import DefusedXmlException

    try:
        tree = Tree(bytestring=code.encode("utf-8"), unsafe=False)
        # Same as cairosvg.svg2png, keeping the surface to check for a blank image
        # without decoding the PNG again.
        surface = PNGSurface(
            tree, None, 96, output_width=width, output_height=height, background_color="white"
        )
        data = bytes(surface.cairo.get_data())
        if data == data[:4] * (len(data) // 4):
            raise RenderFailure(EMPTY, "the image is a single flat colour")
        surface.cairo.write_to_png(out_png)
    except DefusedXmlException as exc:
        raise RenderFailure(BLOCKED, f"{type(exc).__name__}: {exc}") from None
    except ParseError as exc:
        raise RenderFailure(SYNTAX, f"XML parse error: {exc}") from None
    except RecursionError:
        raise RenderFailure(TOO_LARGE, "elements nested too deeply") from None

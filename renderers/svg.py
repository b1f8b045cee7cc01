"""SVG renderer: cairosvg with unsafe=False (no external resources, no entities)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _protocol import BLOCKED, SYNTAX, RenderFailure, run

VERSION = "svg-1"


def render(code: str, out_png: str, width: int, height: int) -> None:
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


if __name__ == "__main__":
    run(render)

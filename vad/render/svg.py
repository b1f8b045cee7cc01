"""SVG through cairosvg (renderers/svg.py) in a limited child process."""

from __future__ import annotations

from importlib.metadata import version

from vad.render.base import register_renderer
from vad.render.process import ProcessRenderer


@register_renderer("svg")
class SvgRenderer(ProcessRenderer):
    script = "svg.py"
    code_file = "drawing.svg"
    version = f"svg-1+cairosvg-{version('cairosvg')}"

"""The drawing languages shipped with vad, each mapped to its module in renderers/."""

from __future__ import annotations

from vad.render.base import Renderer, register_renderer


@register_renderer("svg")
class Svg(Renderer):
    module = "svg"
    code_file = "drawing.svg"


@register_renderer("matplotlib")
class Matplotlib(Renderer):
    module = "mpl"
    code_file = "drawing.py"


@register_renderer("tikz")
class Tikz(Renderer):
    module = "tikz"
    code_file = "drawing.tex"

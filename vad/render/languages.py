"""The drawing languages shipped with vad, each mapped to its module in renderers/."""

from __future__ import annotations

from vad.render.base import Renderer, register_renderer


@register_renderer("svg")
class Svg(Renderer):
    module = "svg"


@register_renderer("matplotlib")
class Matplotlib(Renderer):
    module = "mpl"
    guard = "python-audit"


@register_renderer("tikz")
class Tikz(Renderer):
    module = "tikz"


@register_renderer("turtle")
class Turtle(Renderer):
    module = "pyturtle"
    guard = "python-audit"

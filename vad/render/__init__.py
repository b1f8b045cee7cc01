"""Host side of rendering: typed results and renderers registered by language name."""

from vad.render.base import (
    RenderResult,
    RenderStatus,
    Renderer,
    get_renderer,
    register_renderer,
    renderer_names,
)
from vad.render import svg as _svg  # noqa: F401  (registers "svg")

__all__ = [
    "RenderResult",
    "RenderStatus",
    "Renderer",
    "get_renderer",
    "register_renderer",
    "renderer_names",
]

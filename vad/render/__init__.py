"""Host side of rendering: typed results and renderers registered by language name."""

from vad.render import svg as _svg  # noqa: F401  (registers "svg")
from vad.render.base import (
    Renderer,
    RenderResult,
    RenderStatus,
    get_renderer,
    register_renderer,
    renderer_names,
)

__all__ = [
    "RenderResult",
    "RenderStatus",
    "Renderer",
    "get_renderer",
    "register_renderer",
    "renderer_names",
]

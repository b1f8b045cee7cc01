"""Host side of rendering: typed results, languages registered by name, a warm pool."""

from vad.render import languages as _languages  # noqa: F401  (registers the languages)
from vad.render.base import (
    Renderer,
    RenderResult,
    RenderStatus,
    all_renderers,
    get_renderer,
    register_renderer,
    renderer_names,
)
from vad.render.jail import JailUnavailable, Limits
from vad.render.pool import RenderPool

__all__ = [
    "JailUnavailable",
    "Limits",
    "RenderPool",
    "RenderResult",
    "RenderStatus",
    "Renderer",
    "all_renderers",
    "get_renderer",
    "register_renderer",
    "renderer_names",
]

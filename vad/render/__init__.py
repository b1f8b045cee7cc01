"""Host side of rendering: typed results, a warm pool of jailed workers.

The languages themselves are described in vad/languages.
"""

from vad.render.base import RenderResult, RenderStatus
from vad.render.jail import JailUnavailable, Limits
from vad.render.pool import RenderPool

__all__ = ["JailUnavailable", "Limits", "RenderPool", "RenderResult", "RenderStatus"]

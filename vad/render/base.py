"""Renderer interface: one class per language, registered by name; failures are data."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vad.registry import Registry


class RenderStatus(enum.StrEnum):
    OK = "ok"
    NO_CODE = "no_code"  # extraction found nothing to render
    TIMEOUT = "timeout"
    MEMORY = "memory"
    SYNTAX_ERROR = "syntax_error"
    RUNTIME_ERROR = "runtime_error"
    EMPTY_IMAGE = "empty_image"
    BLOCKED = "blocked"
    TOO_LARGE = "too_large"
    CRASH = "crash"  # the host side failed (the worker died, a reply was forged): not scored


@dataclass(frozen=True)
class RenderResult:
    """Outcome of one render: ``image`` is set only when status is ok."""

    status: RenderStatus
    reason: str = ""
    stderr_tail: str = ""
    elapsed_s: float = 0.0
    renderer_version: str = ""
    image: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status is RenderStatus.OK

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["status"] = str(self.status)
        record.pop("image")
        return record


class Renderer:
    """A drawing language: the name of its sandbox-side module in ``renderers/``.

    Adding a language is one module in ``renderers/`` (``VERSION``, ``preload()``,
    ``render()``; see ``renderers/_protocol.py``) plus a subclass registered by name here.
    """

    name: str = ""
    module: str = ""
    guard: str = ""  # "python-audit": the job installs the audit hook (renderers/_guard.py)


RENDERERS: Registry[Renderer] = Registry("no renderer for language {name}: choose from {choices}")
register_renderer = RENDERERS.register  # class decorator: available as --lang NAME
renderer_names = RENDERERS.names
all_renderers = RENDERERS.all
get_renderer = RENDERERS.get

"""Renderer interface: one class per language, registered by name; failures are data."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
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

    A language may relax the jail for its own jobs only: ``job_proc`` runs each job in a
    jail started for that job alone, whose pid namespace and ``/proc`` the job sees (they
    hold that job's processes and nothing else), instead of in the warm worker, where a
    job sees no ``/proc``; ``limit_overrides`` replaces fields of
    :class:`~vad.render.jail.Limits` for its jobs (and for that jail, whose cgroups they
    size), ``jail_ro_dirs`` are more host folders that jail shows read-only, and
    ``jail_js`` shows it the JavaScript libraries (vad/render/jail.py's ``js_dir``). Every
    other language keeps the warm worker and the pool's limits.
    """

    name: str = ""
    module: str = ""
    job_proc: bool = False
    limit_overrides: Mapping[str, int] = MappingProxyType({})
    jail_ro_dirs: tuple[str, ...] = ()
    jail_js: bool = False

    @classmethod
    def unavailable(cls) -> str:
        """Why this language cannot render on this host, with the fix ("" if it can)."""
        return ""


RENDERERS: Registry[Renderer] = Registry("no renderer for language {name}: choose from {choices}")
register_renderer = RENDERERS.register  # class decorator: available as --lang NAME
renderer_names = RENDERERS.names
all_renderers = RENDERERS.all
get_renderer = RENDERERS.get

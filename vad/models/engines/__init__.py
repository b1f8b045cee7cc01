"""Engines: the providers whose models vad serves itself (free, no key, no endpoint of
their own). ``local/<model>`` is llama.cpp's llama-server (``llamacpp.py``).

Adding an engine is one module in this package, or a module an installed package names
in the entry point group ``vad.engines`` (vad/plugins.py), with a class under
``@register_engine(provider)``: it resolves the provider's model names, serves one model
behind an OpenAI-compatible endpoint, and says what it ships and whether it can serve.
The model seam (vad/models/seam.py) starts, watches and stops it for every command;
``vad models``, ``vad doctor`` and the run manifest ask it. Its own dependencies go in
pyproject.toml: two files.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vad.registry import Registry


class Served(Protocol):
    """A model being served: its endpoint, and the engine process behind it."""

    api_base: str

    def check(self) -> None:
        """Raise (an EngineError naming the fix) when the engine has died."""

    def describe(self) -> dict[str, Any]:
        """What the manifest records of it: build, CPU variant, slots, threads."""

    def stop(self) -> None:
        """Stop it: requests in flight fail at once."""


@dataclass(frozen=True)
class Serving:
    """How a model is served: slots decoded together, the engine's log, where its lines
    go, and its threads (None: the engine's own default)."""

    slots: int = 1
    log: Path | None = None
    say: Callable[[str], None] | None = None
    threads: int | None = None


class Engine:
    """Base class; subclasses are registered with :func:`register_engine`."""

    name: str = ""  # the provider in model names: "<name>/<model>"
    default_slots = 8  # requests decoded together when neither slots nor connections are set
    also = ""  # a line for `vad models` after the models it ships ("<name>/PATH.gguf ...")

    def resolve(self, name: str, model_id: str) -> tuple[str, str, tuple[str, ...]]:
        """For ``<provider>/<model_id>``: the model id to record, what :meth:`serve` is
        given (a key or a path), and the prompt styles it takes, best first. Raises
        ModelConfigError naming the choices."""
        raise NotImplementedError

    def serve(
        self, local: str, alias: str, how: Serving
    ) -> contextlib.AbstractContextManager[Served]:
        """Serve ``local`` under the name ``alias``, as ``how`` says; stop on exit."""
        raise NotImplementedError

    def check(self) -> None:
        """Check the settings it reads from the environment, before any work (one line)."""

    def models(self) -> dict[str, str]:
        """The models it ships: id -> description."""
        return {}

    def weights(self, local: str) -> dict[str, Any]:
        """What a run's manifest records of the weights ``local`` names."""
        return {}

    def unready(self) -> tuple[str, str] | None:
        """None when it can serve; else why not, and the fix."""
        return None


# Engines of installed packages (entry points "vad.engines") join on first look-up.
ENGINES: Registry[Engine] = Registry("unknown engine {name}: choose from {choices}",
                                     "vad.engines")  # fmt: skip
register_engine = ENGINES.register
_INSTANCES: dict[str, Engine] = {}


def _load() -> None:
    import vad.models.engines

    for module in pkgutil.iter_modules(vad.models.engines.__path__):
        importlib.import_module(f"vad.models.engines.{module.name}")


def engines() -> dict[str, Engine]:
    """Every registered engine, by provider name."""
    _load()
    for name, cls in ENGINES.all().items():
        if name not in _INSTANCES:
            _INSTANCES[name] = cls()
    return {name: _INSTANCES[name] for name in ENGINES.names()}


def engine_for(provider: str) -> Engine | None:
    """The engine that serves ``provider``'s models, or None (an API provider)."""
    return engines().get(provider)

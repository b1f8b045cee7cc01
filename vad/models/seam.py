"""One seam for a model: how many requests it gets at once, decided in one place, and
for an embedded model the engine started, watched and stopped around its use.

Every command that calls models (``vad draw``/``run``, ``vad generate``, ``vad bench
generate``, ``vad doctor``) opens them here::

    plan = concurrency(model, connections=args.max_connections, slots=args.slots)
    with open_model(model, plan, retry=RetryPolicy(), stop=stop, log=log) as opened:
        opened.client.complete(prompt, params)

``--max-connections`` means the same for every model: requests in flight to it. For
an embedded model the engine decodes ``--slots`` requests together; the slots default
to the connections asked for (else 8). More connections than slots would only queue at
the engine (a comparison of 1 and 8 connections would measure nothing), so a value set
for the embedded model alone (``rate_limits: {local: {max_connections: N}}``) above
its slots is refused, and a run-wide one (``--max-connections``, shared with API
models) is cut to the slots, with a line saying so.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vad.errors import SpecError
from vad.models.client import ModelClient, RateLimiter, RetryPolicy
from vad.models.engines import Serving, engine_for
from vad.models.registry import ResolvedModel

DEFAULT_CONNECTIONS = 4  # requests in flight to an API model
CONNECTIONS_HELP = (
    "requests in flight to each model (default 4; an embedded model: its --slots); "
    "above an embedded model's --slots it is cut to them"
)
THREADS_HELP = (
    "threads of the embedded engine (default $VAD_ENGINE_THREADS, else every core); fewer "
    "leave cores to the renders"
)
SLOTS_HELP = (
    "requests the embedded engine decodes together (default: --max-connections if "
    "given, else 8; see `vad bench generate`); API models ignore it"
)


@dataclass(frozen=True)
class Concurrency:
    """Requests in flight to one model, and the slots of its engine (embedded only)."""

    connections: int
    slots: int | None = None
    rpm: float | None = None
    note: str = field(default="", compare=False)  # a setting that was cut, said once


def concurrency(
    model: ResolvedModel,
    connections: int | None = None,
    slots: int | None = None,
    rpm: float | None = None,
    source: str = "command line",
    shared: bool = False,
) -> Concurrency:
    """The one rule for every command (see the module's docstring). ``shared``: the
    connections are the run-wide value, not one set for this model alone."""
    engine = engine_for(model.provider) if model.is_local else None
    if engine is None:
        return Concurrency(connections or DEFAULT_CONNECTIONS, None, rpm)
    slots = slots or connections or engine.default_slots
    connections = connections or slots
    if connections > slots and shared:
        note = (f"{model.name}: {connections} connections cut to its engine's {slots} slots "
                f"(more would only queue); give --slots {connections} for more")  # fmt: skip
        return Concurrency(slots, slots, rpm, note)
    if connections > slots:
        raise SpecError(
            f"{source}: {connections} connections to {model.name} (rate_limits.local."
            f"max_connections), whose engine decodes {slots} requests together: the rest "
            f"would only queue. Give slots: {connections} (--slots {connections}) or at "
            f"most {slots} connections"
        )
    return Concurrency(connections, slots, rpm)


@dataclass
class OpenModel:
    """A model ready to be asked: its client, and what serves it."""

    client: ModelClient
    plan: Concurrency
    engine: dict[str, Any] | None = None  # the engine's build, CPU variant, slots, threads
    halt: Callable[[], None] = lambda: None  # stops the engine: requests in flight fail now

    @property
    def model(self) -> ResolvedModel:
        return self.client.model


@contextlib.contextmanager
def open_model(
    model: ResolvedModel,
    plan: Concurrency,
    retry: RetryPolicy | None = None,
    stop: threading.Event | None = None,
    say: Callable[[str], None] | None = None,
    log: Path | None = None,
    threads: int | None = None,
) -> Iterator[OpenModel]:
    """A client of ``model`` with ``plan.connections`` requests in flight; for an
    embedded model, its engine started with ``plan.slots`` slots (and ``threads``
    threads, default $VAD_ENGINE_THREADS or every core), watched while in use (a dead
    engine stops the run through the client's guard) and stopped on exit."""
    limiter = RateLimiter(plan.connections, plan.rpm, stop)
    engine = engine_for(model.provider) if model.local is not None else None
    if engine is None or model.local is None:
        yield OpenModel(ModelClient(model, limiter, retry, stop=stop, say=say), plan)
        return
    how = Serving(plan.slots or 1, log, say, threads)
    with engine.serve(model.local, model.served_name, how) as server:
        client = ModelClient(model.with_api_base(server.api_base), limiter, retry,
                             guard=server.check, stop=stop, say=say)  # fmt: skip
        yield OpenModel(client, plan, server.describe(), server.stop)

"""The life of a run folder, one policy for checkups (`vad run`/`vad draw`) and
generations (`vad generate`).

- ``writing``: one writer per folder (an exclusive lock, or ``--wait`` for it).
- ``Session``: each invocation's entry in ``manifest.json``; written as ``running``
  when it starts, and at its end (whatever ends it) with its status, wall time, error
  and engines, after the run's own resources are closed, with Ctrl-C held back so the
  folder is never left half described.
- ``Window``: the work in flight, bounded: submitting waits for room, the first error
  of finished work surfaces in the submitting thread, a first Ctrl-C drains (no new
  requests, ``grace`` seconds for what is in flight), any other error stops the rest.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from vad.fsutil import held_signals
from vad.models.seam import Concurrency, OpenModel
from vad.rundir import RunFolder, RunLock, now_iso
from vad.stopping import drain, terminated

Say = Callable[[str], None]


@contextlib.contextmanager
def writing(folder: RunFolder, wait: bool, say: Say, other: str) -> Iterator[None]:
    """Hold the folder's lock for the block (made if missing); ``other`` is the way out
    offered when another process holds it ("choose another --out")."""
    folder.path.mkdir(parents=True, exist_ok=True)
    lock = RunLock(folder.path, other)
    lock.acquire(wait, say)
    try:
        yield
    finally:
        lock.release()


class Session:
    """One invocation of a run, recorded in its manifest.

    ``with Session(...) as session:`` appends the entry and marks the run ``running``;
    the body sets ``session.status`` when it ends in something other than
    ``finished`` (a generation that stopped at its budget). On the way out, whatever
    ends the block: ``closing`` callbacks run (each even if another fails), then
    ``describe(status)`` adds the caller's totals to the manifest, and the manifest is
    written. A failure to write it while an error is already on its way out is a
    warning, so the error that stopped the run is the one the user sees.
    """

    def __init__(
        self,
        folder: RunFolder,
        manifest: dict[str, Any],
        say: Say,
        closing: tuple[Callable[[], object], ...] = (),
        describe: Callable[[str], None] | None = None,
        **fields: Any,
    ) -> None:
        self.folder, self.manifest, self.say = folder, manifest, say
        self.closing, self.describe = closing, describe
        self.entry: dict[str, Any] = {"started_at": now_iso(), **fields}
        self.status = "finished"
        self.engines: dict[str, dict[str, Any]] = {}  # model -> its engine's build and slots
        self._started = 0.0

    def opened(self, opened: OpenModel) -> OpenModel:
        """Record the engine that serves ``opened`` (for an embedded model)."""
        if opened.engine is not None:
            self.engines[opened.model.name] = opened.engine
        return opened

    def __enter__(self) -> Session:
        self._started = time.monotonic()
        self.manifest.setdefault("sessions", []).append(self.entry)
        self.manifest["status"] = "running"
        self.folder.write_manifest(self.manifest)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> None:  # fmt: skip
        if kind is not None:
            self.status = "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed"
            if issubclass(kind, KeyboardInterrupt):
                self.entry["signal"] = "SIGTERM" if terminated() else "SIGINT"
            else:
                text = str(exc)
                self.entry["error"] = text.splitlines()[0] if text else kind.__name__
        try:
            with contextlib.ExitStack() as closing:
                for close in reversed(self.closing):  # the stack runs them in given order
                    closing.callback(close)
        finally:
            self._record(kind)

    def _record(self, kind: type[BaseException] | None) -> None:
        with held_signals():  # a Ctrl-C now would leave the folder half described
            try:
                self.entry.update(ended_at=now_iso(), status=self.status,
                                  wall_s=round(time.monotonic() - self._started, 2))  # fmt: skip
                if self.engines:
                    self.entry["engines"] = self.engines
                if self.describe is not None:
                    self.describe(self.status)
                self.manifest.update(status=self.status, ended_at=now_iso())
                self.folder.write_manifest(self.manifest)
            except OSError as error:
                if kind is None:
                    raise
                self.say(f"warning: could not update {self.folder.manifest_path}: {error}")


def concurrency_fields(plans: dict[str, Concurrency]) -> dict[str, Any]:
    """What a session records of how it asked each model (settings outside the spec's
    hash, so they may differ from one session to the next)."""
    fields: dict[str, Any] = {"connections": {m: p.connections for m, p in plans.items()}}
    slots = {m: p.slots for m, p in plans.items() if p.slots is not None}
    if slots:
        fields["slots"] = slots
    return fields


class Window:
    """Work in flight on ``workers`` threads.

    ``submit`` hands one piece to a thread and then waits while ``cap`` or more are
    pending, raising the first error of what finished. ``join`` waits for the rest.
    Leaving the ``with`` by Ctrl-C drains (see ``vad.stopping.drain``); by any other
    error sets ``stop`` and calls ``halt`` (an engine's requests in flight fail at once
    rather than finish). Work not started is dropped either way; work abandoned by a
    second Ctrl-C is not waited for (``abandoned``).
    """

    def __init__(
        self,
        workers: int,
        stop: threading.Event,
        grace: float,
        say: Say,
        what: str = "samples",
        halt: Callable[[], None] = lambda: None,
    ) -> None:
        self.stop, self.grace, self.say, self.what, self.halt = stop, grace, say, what, halt
        self.pending: set[Future[None]] = set()
        self.abandoned = False
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=what)

    def submit(self, fn: Callable[..., None], *args: Any, cap: int) -> None:
        self.pending.add(self._pool.submit(fn, *args))
        while len(self.pending) >= max(1, cap):
            self.wait_one()

    def wait_one(self) -> bool:
        """Wait for some pending work to finish (raising its error); False if none was."""
        if not self.pending:
            return False
        finished, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
        for fut in finished:
            fut.result()
        return True

    def join(self) -> None:
        while self.wait_one():
            pass

    def __enter__(self) -> Window:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> None:  # fmt: skip
        try:
            if kind is not None and issubclass(kind, KeyboardInterrupt):
                self.abandoned = drain(self.pending, self.stop, self.grace, self.say, self.what)
                self.halt()
            elif kind is not None:
                self.stop.set()
                self.halt()
        finally:
            self._pool.shutdown(wait=not self.abandoned, cancel_futures=True)

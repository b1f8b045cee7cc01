"""Stopping work in flight on Ctrl-C: one policy for runs and generations."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from threading import Event
from types import FrameType

GRACE_S = 10.0  # after a first Ctrl-C, how long work in flight is awaited
_TERMINATED = Event()  # a SIGTERM arrived


def stop_on_sigterm() -> None:
    """SIGTERM (what ``kill``, Slurm's scancel and time limit, and Kubernetes send) stops
    the command as Ctrl-C does: no new requests, work in flight awaited for the grace
    period, a second signal quits at once. Exit codes then say which signal it was."""

    def handler(signum: int, frame: FrameType | None) -> None:
        _TERMINATED.set()
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def terminated() -> bool:
    """Whether what stopped the command was a SIGTERM (else a Ctrl-C)."""
    return _TERMINATED.is_set()


def interrupted_exit_code() -> int:
    """143 after a SIGTERM, else 130 (Ctrl-C): 128 + the signal's number."""
    return 128 + signal.SIGTERM if _TERMINATED.is_set() else 128 + signal.SIGINT


def drain(
    pending: set[Future[None]],
    stop: Event,
    grace: float,
    say: Callable[[str], None],
    what: str = "samples",
) -> bool:
    """First Ctrl-C: no new requests; keep what arrives within ``grace`` seconds.

    A second Ctrl-C (or the end of the grace period) gives up on what is still in
    flight; every reply that arrived is already in the response store. Returns whether
    work was abandoned (its threads must not be waited for).
    """
    stop.set()
    try:
        for fut in pending:
            fut.cancel()  # not started yet
        running = [f for f in pending if not f.done()]
        if running:
            again = "a second SIGTERM" if terminated() else "Ctrl-C again"
            say(f"\nstopping: no new requests; waiting up to {grace:g} s for the "
                f"{len(running)} {what} already started ({again} to quit now)")  # fmt: skip
            wait(running, timeout=grace)
    except KeyboardInterrupt:  # the second Ctrl-C, wherever it lands
        pass
    return any(not f.done() for f in pending)

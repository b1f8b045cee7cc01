"""litellm, set up once: imported quietly (its banners and log lines off), in the
background when a command will call a model (it takes seconds), and with one deadline
per request. A leaf: it imports nothing from vad, so the model seam's modules can all
use it."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import

_import_lock = threading.Lock()
_preload: threading.Thread | None = None
_litellm: Any = None


def preload_litellm() -> None:
    """Start importing litellm in a background thread (a no-op once started)."""
    global _preload
    with _import_lock:
        if _preload is not None or _litellm is not None:
            return
        _preload = threading.Thread(target=_import_quietly, name="import-litellm", daemon=True)
        _preload.start()


def _import_quietly() -> None:
    global _litellm
    try:
        import litellm

        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        _bound_socket_waits()
        _litellm = litellm
    except BaseException:  # the caller's own import raises it again, with its traceback
        pass


def quiet_litellm() -> Any:
    """litellm, imported with its banners and log lines off: vad reports errors itself."""
    if _litellm is not None:
        return _litellm
    thread = _preload
    if thread is not None:
        thread.join()  # one import at a time: two threads importing one package can clash
    if _litellm is None:
        _import_quietly()
    if _litellm is None:
        import litellm  # raises the import's own error

        return litellm
    return _litellm


# -- one deadline per request ------------------------------------------------------------
# litellm's ``timeout`` bounds each socket operation, not the request: a server that
# sends a byte every few seconds keeps it open for ever. Every blocking socket call of
# httpcore's synchronous backend (what httpx, the openai SDK and litellm use for calls
# made without asyncio) is given at most the time left before the calling thread's
# deadline, and fails at once with httpcore's own timeout error when none is left. The
# request then ends in the calling thread: its connection is closed, no thread lingers.
_deadlines = threading.local()


def _left(error: type[Exception]) -> float | None:
    end = getattr(_deadlines, "end", None)
    if end is None:
        return None
    left = end - time.monotonic()
    if left <= 0:
        raise error("the request's total deadline passed")
    return left


def _clamped(timeout: float | None, error: type[Exception]) -> float | None:
    left = _left(error)
    if left is None:
        return timeout
    return left if timeout is None else min(timeout, left)


def _bound_socket_waits() -> None:
    import httpcore
    from httpcore._backends import sync

    if getattr(sync, "_vad_deadlines", False):
        return

    def wrap(cls: Any, name: str, error: type[Exception], pos: int) -> None:
        original = getattr(cls, name)

        def bounded(self: Any, *args: Any, **kwargs: Any) -> Any:
            if "timeout" in kwargs or len(args) <= pos:
                kwargs["timeout"] = _clamped(kwargs.get("timeout"), error)
            else:
                args = (*args[:pos], _clamped(args[pos], error), *args[pos + 1 :])
            return original(self, *args, **kwargs)

        setattr(cls, name, bounded)

    for cls in (sync.SyncStream, sync.TLSinTLSStream):
        wrap(cls, "read", httpcore.ReadTimeout, 1)  # read(max_bytes, timeout)
        wrap(cls, "write", httpcore.WriteTimeout, 1)  # write(buffer, timeout)
        wrap(cls, "start_tls", httpcore.ConnectTimeout, 2)  # (ctx, hostname, timeout)
    wrap(sync.SyncBackend, "connect_tcp", httpcore.ConnectTimeout, 2)  # (host, port, timeout)
    wrap(sync.SyncBackend, "connect_unix_socket", httpcore.ConnectTimeout, 1)  # (path, timeout)
    sync._vad_deadlines = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket wait of a request sent in the block ends by ``seconds`` from now."""
    _deadlines.end = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadlines.end = None

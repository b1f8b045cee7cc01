"""Shared by every renderer (runs inside the jail; imports nothing from vad).

A language module defines ``VERSION``, ``preload()`` (imports done once in the warm
worker, before any job) and ``render(code, out_png, width, height)``, which raises
:class:`RenderFailure` for a typed failure; it may set ``CHECKS_BLANK = True`` when
``render`` reports a flat image itself, and ``warm()``, which draws something typical
into memory: the worker calls it in each job's process while that waits for its job
(trusted code, before any of the job's), so that the pages a render writes are copied
before the job starts rather than during it. The worker runs every job in a forked child,
and fills :data:`JOB` with the job's ``timeout_s`` and ``limits`` before ``render``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

OK, SYNTAX, RUNTIME, EMPTY, BLOCKED, TOO_LARGE, MEMORY, TIMEOUT = (
    "ok", "syntax_error", "runtime_error", "empty_image", "blocked", "too_large", "memory",
    "timeout",
)  # fmt: skip


CRASH = "crash"  # not the code's fault (the host's install, the worker): never scored
STATUSES = (OK, SYNTAX, RUNTIME, EMPTY, BLOCKED, TOO_LARGE, MEMORY, TIMEOUT, "no_code", CRASH)
JOB: dict = {}  # this job's timeout_s and limits (set by the worker in the job's process)


class RenderFailure(Exception):
    """Raised by a renderer to report a typed failure."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def is_blank(png_path: str) -> bool:
    """True if every pixel of the image has the same colour."""
    from PIL import Image

    with Image.open(png_path) as img:
        if img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA")
        extrema = img.getextrema()
    if isinstance(extrema[0], int):  # a single band
        extrema = (extrema,)
    return all(lo == hi for lo, hi in extrema)


def fit_png(png_path: str, width: int, height: int) -> None:
    """Scale an image to fit width x height (keeping its aspect) and centre it on white."""
    from PIL import Image

    with Image.open(png_path) as img:
        img = img.convert("RGBA")
        if img.size == (width, height):
            canvas = Image.new("RGBA", img.size, "white")
            canvas.alpha_composite(img)
            canvas.convert("RGB").save(png_path)
            return
        scale = min(width / img.width, height / img.height)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.LANCZOS)
    canvas = Image.new("RGBA", (width, height), "white")
    canvas.alpha_composite(img, ((width - size[0]) // 2, (height - size[1]) // 2))
    canvas.convert("RGB").save(png_path)


def run_script(
    code: str,
    finish: Callable[[], None] | None = None,
    named: tuple[tuple[type[BaseException], str], ...] = (),
    ends: tuple[type[BaseException], ...] = (),
) -> None:
    """Run model-written Python as ``__main__`` (then ``finish``, still as its doing), its
    failures typed: a SyntaxError is syntax_error, a file past the size limit too_large,
    MemoryError goes up (the worker says memory), an exception of ``ends`` ends the
    program as if it had returned (the renderer's own signal), and any other exception,
    SystemExit and KeyboardInterrupt included, is runtime_error (with the reason
    ``named`` gives for its class, if any)."""
    import errno

    try:
        compiled = compile(code, "drawing.py", "exec")
    except SyntaxError as exc:
        raise RenderFailure(SYNTAX, f"SyntaxError: {exc.msg} (line {exc.lineno})") from None
    try:
        exec(compiled, {"__name__": "__main__", "__file__": "drawing.py"})
        if finish is not None:
            finish()
    except (RenderFailure, MemoryError):
        raise
    except ends:
        return
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise RenderFailure(TOO_LARGE, "file size limit: the code wrote too much") from None
        raise RenderFailure(RUNTIME, f"{type(exc).__name__}: {exc}"[:2000]) from None
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the code's too
        reason = next((text for cls, text in named if isinstance(exc, cls)), "")
        raise RenderFailure(RUNTIME, reason or f"{type(exc).__name__}: {exc}"[:2000]) from None


def run_program(
    argv: list[str],
    env: dict[str, str],
    timeout: float,
    errors: str = "",
    cwd: str = ".",
    out: str = "",
) -> int | None:
    """Run a program in ``cwd`` (no input; its standard output into the file ``out`` and
    its standard error into the file ``errors``, each discarded when not given) to its
    end: its return code (negative: killed by that signal), or None when it ran past
    ``timeout`` s and was killed.

    The wait is on a pidfd, so it ends the moment the program does; subprocess's own
    wait with a timeout polls, sleeping up to 50 ms at a time, which on a 40 ms pdflatex
    run costs more than the run.
    """
    import select
    import subprocess

    sinks = [open(name, "wb") if name else subprocess.DEVNULL for name in (out, errors)]  # noqa: SIM115
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sinks[0],
                                stderr=sinks[1], env=env, cwd=cwd)  # fmt: skip
    finally:
        for sink in sinks:
            if sink is not subprocess.DEVNULL:
                sink.close()  # type: ignore[union-attr]
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:  # no pidfds here: the polling wait
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if not ready:
        proc.kill()
        proc.wait()
        return None
    return proc.wait()

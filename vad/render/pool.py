"""A pool of warm render workers: start, feed, supervise and replace them.

Each worker is one long-lived process (jailed by default) that preloads every
renderer. A job is a code file in the worker's job folder plus one JSON line; the
answer is one JSON line. A worker that times out, dies or grows too large is replaced;
the pool keeps serving. Every outcome is a typed :class:`RenderResult`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from vad._paths import project_dir
from vad.render.base import RenderResult, RenderStatus, all_renderers
from vad.render.jail import Cgroups, JailUnavailable, Limits, bwrap_command

READY_TIMEOUT_S = 120.0
GRACE_S = 5.0


class Worker:
    """One warm worker process and its folders."""

    def __init__(self, index: int, sandbox: bool, limits: Limits) -> None:
        self.index, self.sandbox, self.limits = index, sandbox, limits
        self.root = Path(tempfile.mkdtemp(prefix=f"vad-render-{index}-"))
        self.job_dir, self.state_dir = self.root / "job", self.root / "state"
        self.job_dir.mkdir()
        (self.state_dir / "mpl").mkdir(parents=True)
        os.chmod(self.root, 0o755)
        self.proc: subprocess.Popen[bytes] | None = None
        self.cgroups: Cgroups | None = None
        self.versions: dict[str, str] = {}
        self.jobs_done = 0

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        renderers = project_dir("renderers")
        modules = json.dumps({name: cls.module for name, cls in all_renderers().items()})
        argv = [sys.executable, "-E", "-s", str(renderers / "worker.py"), modules]
        limits = self.limits
        if self.sandbox:
            cmd, cwd, env = bwrap_command(self.job_dir, self.state_dir, renderers, argv), None, None
            self.cgroups = Cgroups(f"vad-{os.getpid()}-{self.index}-{time.monotonic_ns()}", limits)
        else:
            cmd, cwd = argv, self.job_dir
            env = {
                "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "HOME": str(self.job_dir),
                "TMPDIR": str(self.job_dir),
                "MPLBACKEND": "Agg",
                "MPLCONFIGDIR": str(self.state_dir / "mpl"),
                "OPENBLAS_NUM_THREADS": "1",
            }
        cgroups = self.cgroups

        def before_exec() -> None:  # in the child: own session, cgroups, worker rlimits
            os.setsid()
            if cgroups is not None:
                cgroups.join()
            resource.setrlimit(resource.RLIMIT_AS, (limits.worker_memory_bytes,) * 2)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes,) * 2)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        with (self.root / "worker.log").open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, env=env if env is not None else {}, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, preexec_fn=before_exec,
            )  # fmt: skip
        line = self._read_line(READY_TIMEOUT_S)
        if not line:
            self.kill()
            tail = (self.root / "worker.log").read_text(errors="replace")[-1500:]
            raise JailUnavailable(f"a render worker did not start:\n{tail}")
        self.versions = json.loads(line)["versions"]
        self.jobs_done = 0
        self._clear_job_dir()

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
        if self.cgroups is not None:
            self.cgroups.remove()
            self.cgroups = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- one job -----------------------------------------------------------------
    def _read_line(self, timeout: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return None
        return self.proc.stdout.readline() or None

    def _clear_job_dir(self) -> None:
        with os.scandir(self.job_dir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)

    def run(self, lang: str, code: str, width: int, height: int, dest: Path) -> RenderResult:
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            self.start()
        started = time.monotonic()
        job_path = "/job" if self.sandbox else str(self.job_dir)
        job = {
            "lang": lang,
            "code": code,
            "dir": job_path,
            "width": width,
            "height": height,
            "timeout_s": self.limits.timeout_s,
            "limits": self.limits.for_worker(),
        }
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
            line = self._read_line(self.limits.timeout_s + GRACE_S)
        except (BrokenPipeError, OSError):
            line = None
        version = self.versions.get(lang, "")
        log = self._log_tail()
        if line is None:
            died = self.proc.poll() is not None
            self.kill()
            status = RenderStatus.CRASH if died else RenderStatus.TIMEOUT
            reason = "the worker died" if died else f"killed after {self.limits.timeout_s} s"
            return _result(status, reason, log, started, version)
        data = json.loads(line)
        self.jobs_done += 1
        if (
            data.get("rss_kb", 0) > self.limits.worker_max_rss_kb
            or self.jobs_done >= self.limits.worker_max_jobs
        ):
            self.kill()  # replaced on the next job
        status = RenderStatus(data["status"])
        if status is RenderStatus.OK:
            status, reason = self._collect(dest)
            data["reason"] = reason
        self._clear_job_dir()
        return _result(
            status,
            data.get("reason", ""),
            log,
            started,
            version,
            dest if status is RenderStatus.OK else None,
        )

    def _collect(self, dest: Path) -> tuple[RenderStatus, str]:
        out = self.job_dir / "out.png"
        if not out.is_file() or out.is_symlink():
            return RenderStatus.CRASH, "no image was written"
        if out.stat().st_size > self.limits.max_png_bytes:
            return RenderStatus.TOO_LARGE, f"PNG larger than {self.limits.max_png_bytes} bytes"
        with out.open("rb") as fh:
            head = fh.read(24)
        if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
            return RenderStatus.CRASH, "the renderer wrote something that is not a PNG"
        w, h = struct.unpack(">II", head[16:24])
        if w * h > self.limits.max_image_pixels:
            return RenderStatus.TOO_LARGE, f"image is {w}x{h}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(out, dest)
        return RenderStatus.OK, ""

    def _log_tail(self) -> str:
        log = self.job_dir / "log.txt"
        if not log.is_file() or log.is_symlink():
            return ""
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - 2000))
            return fh.read().decode("utf-8", errors="replace")


def _result(
    status: RenderStatus,
    reason: str,
    log: str,
    started: float,
    version: str,
    image: Path | None = None,
) -> RenderResult:
    return RenderResult(
        status, reason[:2000], log, round(time.monotonic() - started, 4), version, image
    )


class RenderPool:
    """Warm workers sized to the cores; ``render`` blocks until one is free."""

    def __init__(
        self, size: int | None = None, sandbox: bool = True, limits: Limits | None = None
    ) -> None:
        self.size = size or os.cpu_count() or 1
        self.sandbox, self.limits = sandbox, limits or Limits()
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        self._started = False

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for index in range(self.size):
                worker = Worker(index, self.sandbox, self.limits)
                self._workers.append(worker)
                self._idle.put(worker)
            self._started = True

    def versions(self) -> dict[str, str]:
        """Renderer versions as reported by a running worker."""
        self._start()
        worker = self._idle.get()
        try:
            if worker.proc is None:
                worker.start()
            return dict(worker.versions)
        finally:
            self._idle.put(worker)

    def render(self, lang: str, code: str, width: int, height: int, dest: Path) -> RenderResult:
        """Render ``code`` in ``lang``; on success the PNG is moved to ``dest``."""
        if lang not in all_renderers():
            return RenderResult(RenderStatus.CRASH, f"no renderer for {lang!r}")
        if width * height > self.limits.max_image_pixels or min(width, height) < 1:
            return RenderResult(RenderStatus.TOO_LARGE, f"image size {width}x{height}")
        if len(code.encode("utf-8")) > self.limits.max_code_bytes:
            return RenderResult(
                RenderStatus.TOO_LARGE, f"code is larger than {self.limits.max_code_bytes} bytes"
            )
        self._start()
        worker = self._idle.get()
        try:
            return worker.run(lang, code, width, height, dest)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        self._workers.clear()
        self._started = False
        self._idle = queue.Queue()

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

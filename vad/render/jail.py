"""The jail: bubblewrap around a warm worker, with rlimits and cgroup limits.

Inside: a read-only view of /usr and the Python install, the renderers, the TikZ
preamble's format file (read-only, alone, outside every job folder), no network
(every namespace unshared), an empty environment, uid nobody, a read-only root, and
two writable folders: the job folder (/job, emptied by the host between jobs) and the
worker's private state (/state, matplotlib's font cache). Processes are limited by a
pids cgroup (RLIMIT_NPROC does not bind root), memory by a memory cgroup where one
can be made, and by RLIMIT_AS always. A language may relax some of this for its own jobs,
in a jail of their own (vad/languages: a Language's job_proc, limits, jail_paths and js_libraries).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vad.errors import VadError
from vad.languages._sketch import JS_VAR, js_dir
from vad.render.texformat import JAIL_PATH, RENDERER_VAR

CGROUP_ROOT = Path("/sys/fs/cgroup")
JS_JAIL_PATH = "/js"  # where a jailed worker sees it, read-only
RO_DIRS = ("/usr", "/etc/fonts",
           # the huge-page settings (read-only): glibc reads them before it asks for huge
           # pages, which pdfTeX's large arrays load faster into (renderers/tikz.py)
           "/sys/kernel/mm/transparent_hugepage")  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """Per job unless named worker_*; none of these enter any cache key."""

    timeout_s: float = 20.0
    memory_bytes: int = 2 << 30
    cpu_s: int = 20
    file_bytes: int = 64 << 20
    open_files: int = 256
    max_code_bytes: int = 1 << 20
    max_image_pixels: int = 4096 * 4096
    max_png_bytes: int = 16 << 20
    max_pids: int = 64
    worker_memory_bytes: int = 3 << 30  # the worker's memory cgroup, and its RLIMIT_AS
    worker_address_bytes: int = 0  # the worker's RLIMIT_AS instead, when not 0
    worker_max_rss_kb: int = 1_500_000
    worker_max_jobs: int = 2000
    audit_hook: bool = True  # the Python hint layer (off only to test the jail without it)

    def for_worker(self) -> dict[str, int]:
        keys = ("memory_bytes", "cpu_s", "file_bytes", "open_files", "max_code_bytes",
                "max_png_bytes")  # fmt: skip
        return {k: int(getattr(self, k)) for k in keys}


class JailUnavailable(VadError):
    pass


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise JailUnavailable(
            "bubblewrap (bwrap) is not installed: run `apt-get install bubblewrap` "
            "(scripts/install.sh does), or pass --no-sandbox to run model code unjailed"
        )
    return path


@functools.cache
def _bwrap_supports(option: str) -> bool:
    import subprocess

    out = subprocess.run([bwrap_path(), "--help"], capture_output=True, text=True)
    return option in out.stdout + out.stderr


def isolates_jobs() -> bool:
    """Whether each job gets its own pid, mount and IPC namespaces (root runs bwrap)."""
    return os.geteuid() == 0


def bwrap_command(
    job_dir: Path,
    state_dir: Path,
    renderers: Path,
    argv: list[str],
    tex_format: Path | None = None,
    extra_ro: tuple[str, ...] = (),
    js_libraries: bool = False,
) -> list[str]:
    """The bwrap command line that runs ``argv`` in the jail.

    Run by root, the worker keeps one capability, CAP_SYS_ADMIN inside the jail's own
    user namespace, to give each job fresh namespaces and tmpfs folders (see
    renderers/worker.py); jobs drop it. No new user namespace can be made inside.
    ``tex_format`` (the TikZ preamble's format file) is bound read-only, alone, at
    JAIL_PATH and named to the renderer by $VAD_TEX_FORMAT. ``extra_ro`` are more folders
    shown read-only, and with ``js_libraries`` the JavaScript libraries' npm folder is
    bound read-only at JS_JAIL_PATH and named by $VAD_JS_DIR (a language's
    ``jail_paths`` and ``js_libraries``).
    """
    cmd = [bwrap_path(), "--unshare-all", "--unshare-user", "--die-with-parent",
           "--new-session", "--clearenv", "--uid", "65534", "--gid", "65534",
           "--proc", "/proc", "--dev", "/dev"]  # fmt: skip
    if _bwrap_supports("--disable-userns"):
        cmd.append("--disable-userns")
    isolate = isolates_jobs()
    if isolate:
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SYS_ADMIN"]
    for top in ("/bin", "/lib", "/lib64", "/sbin"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    seen: set[str] = set()
    for path in (*RO_DIRS, *extra_ro, sys.base_prefix, sys.prefix, str(renderers)):
        real = os.path.realpath(path)
        if os.path.isdir(real) and real not in seen:
            seen.add(real)
            cmd += ["--ro-bind", real, real]
            if os.path.realpath(path) != os.path.abspath(path):
                cmd += ["--symlink", real, path]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/job", "TMPDIR": "/job",
           "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/state/mpl", "VAD_JAILED": "1",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "VAD_ISOLATE": "1" if isolate else "0"}  # fmt: skip
    if tex_format is not None:
        cmd += ["--ro-bind", str(tex_format), JAIL_PATH]
        env[RENDERER_VAR] = JAIL_PATH
    if js_libraries and js_dir().is_dir():  # else the sketch languages say how to install
        cmd += ["--ro-bind", str(js_dir().resolve()), JS_JAIL_PATH]
        env[JS_VAR] = JS_JAIL_PATH
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    cmd += ["--bind", str(job_dir), "/job", "--bind", str(state_dir), "/state",
            "--remount-ro", "/", "--chdir", "/job", "--", *argv]  # fmt: skip
    return cmd


class Cgroups:
    """pids (and memory, where possible) cgroups for one worker; v1 or v2."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.dirs: list[Path] = []
        self.kinds: list[str] = []
        settings = {
            "pids": {"pids.max": str(limits.max_pids)},
            "memory": {"memory.limit_in_bytes": str(limits.worker_memory_bytes)},
        }
        current = _current_cgroups()
        if (CGROUP_ROOT / "cgroup.controllers").is_file():  # unified hierarchy (v2)
            enabled = CGROUP_ROOT / current.get("", "/").lstrip("/") / "cgroup.subtree_control"
            controllers = enabled.read_text().split() if enabled.is_file() else []
            v2 = {
                "pids": {"pids.max": str(limits.max_pids)},
                "memory": {"memory.max": str(limits.worker_memory_bytes)},
            }
            wanted = {k: v for k, v in v2.items() if k in controllers}
            if wanted:
                self._make(CGROUP_ROOT / current.get("", "/").lstrip("/") / name, wanted)
            return
        for controller, files in settings.items():
            base = CGROUP_ROOT / controller
            if base.is_dir():
                self._make(
                    base / current.get(controller, "/").lstrip("/") / name, {controller: files}
                )

    def _make(self, path: Path, wanted: dict[str, dict[str, str]]) -> None:
        try:
            path.mkdir(exist_ok=True)
            for controller, files in wanted.items():
                for fname, value in files.items():
                    (path / fname).write_text(value)
                self.kinds.append(controller)
            self.dirs.append(path)
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()

    def join(self) -> None:
        """Move the calling process into the cgroups (run in the child before exec)."""
        for path in self.dirs:
            (path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self, timeout: float = 10.0) -> None:
        """Kill every process in the cgroups until they are empty, then remove them.

        Processes cannot leave a cgroup, and whatever they fork stays in it, so killing
        until ``cgroup.procs`` is empty leaves no survivor, however fast they hop pids.
        """
        deadline = time.monotonic() + timeout
        for path in self.dirs:
            kill_file = path / "cgroup.kill"  # cgroup v2: the kernel kills them all
            if kill_file.is_file():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            while time.monotonic() < deadline:
                try:
                    procs = (path / "cgroup.procs").read_text().split()
                except OSError:
                    break
                if not procs:
                    with contextlib.suppress(OSError):
                        path.rmdir()
                        break
                for pid in procs:
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                time.sleep(0.005)


def _current_cgroups() -> dict[str, str]:
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                found[controller] = path
    return found


def jail_info(sandbox: bool) -> dict[str, object]:
    """What isolated model code in a run, for the manifest."""
    if not sandbox:
        return {"jailed": False}
    import subprocess

    version = subprocess.run([bwrap_path(), "--version"], capture_output=True, text=True)
    probe = Cgroups(f"vad-probe-{os.getpid()}", Limits())
    kinds = list(probe.kinds)
    probe.remove()
    return {
        "jailed": True,
        "bwrap": version.stdout.strip(),
        "cgroups": kinds,
        "process_limit": "pids cgroup" if "pids" in kinds else "none for root (no cgroup)",
        "jobs_isolated": isolates_jobs(),  # fresh pid/mount/IPC namespaces per job
        "nested_userns": "disabled" if _bwrap_supports("--disable-userns") else "allowed",
    }

"""The jail: bubblewrap around a warm worker, with rlimits and cgroup limits.

Inside: a read-only view of /usr and the Python install, the renderers, the files its
languages prepared on the host (each read-only, alone, outside every job folder), no
network (every namespace unshared but, on cgroup v2, the cgroup namespace), an empty
environment, uid nobody inside and, when vad is root, a host uid that owns nothing
(``jail_uid``), a read-only root, and writable: the job folder (/job, emptied by the
host between jobs), the worker's private state (/state, matplotlib's font cache) and
the worker's memory cgroup (/cgroup, where the jobs' own is made). Processes are
limited by a pids cgroup, memory by a memory cgroup where one can be made, and by
RLIMIT_AS always. A language may relax some of this for its own jobs, in a jail of
their own, and says what its jail shows of the host (vad/languages: a Language's
job_proc, limits, jail_paths and prepare_host); the jail knows no language by name.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import shutil
import signal
import stat
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vad.errors import VadError

log = logging.getLogger(__name__)
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_JAIL_PATH = "/cgroup"  # the worker's memory cgroup, where jobs make their own
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


DEFAULT_JAIL_UID = 1_999_000_000  # owns nothing on any host; VAD_JAIL_UID sets another


@functools.cache
def jail_uid() -> int | None:
    """The host uid the jail runs as, when vad runs as root: one that owns nothing here,
    so per-user kernel counters and root-owned files are out of the jail's reach. None
    when vad is not root (the jail is then that user's) or the uid cannot be taken here
    (a container that maps few uids): the jail is then host root's, as ``jail_info``
    says."""
    if os.geteuid() != 0:
        return None
    uid = int(os.environ.get("VAD_JAIL_UID", DEFAULT_JAIL_UID))
    if uid == 0:
        return None
    try:  # the jail's binds are attached as detached mounts (open_tree, Linux 5.2+)
        probe = os.open(os.path.dirname(bwrap_path()), os.O_PATH | os.O_CLOEXEC)
        try:
            os.close(_detached_copy(probe, recursive=False))
        finally:
            os.close(probe)
    except OSError:
        return None
    pid = os.fork()
    if pid == 0:  # can a process of this machine become that uid?
        code = 1
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            # ... and start a jail there, as the workers will (bwrap may be setuid here,
            # or user namespaces closed to other users)
            argv = [bwrap_path(), "--unshare-all", "--unshare-user", "--die-with-parent",
                    "--cap-drop", "ALL", "--cap-add", "CAP_SYS_ADMIN", "--ro-bind", "/usr",
                    "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                    "--symlink", "usr/lib64", "/lib64", "--", "/usr/bin/true"]  # fmt: skip
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.execv(argv[0], argv)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return uid if os.waitstatus_to_exitcode(status) == 0 else None


_LIBC = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNS, _MS_REC, _MS_PRIVATE = 0x00020000, 16384, 1 << 18
_OPEN_TREE, _MOVE_MOUNT = 428, 429  # x86-64 and arm64 alike (the new mount API)
_OPEN_TREE_CLONE, _AT_EMPTY_PATH, _AT_RECURSIVE = 1, 0x1000, 0x8000
_MOVE_MOUNT_F_EMPTY_PATH, _AT_FDCWD = 4, -100
_MS_NOSUID, _MS_NODEV = 2, 4
STAGE_TOP = "/tmp"  # where bwrap's process mounts its own stage (its namespace only)
STAGE = "/tmp/vad-jail"


def _detached_copy(fd: int, recursive: bool = True) -> int:
    """A detached bind of what ``fd`` opened (open_tree(2)): a mount that can be
    attached in another mount namespace, of exactly that file or folder."""
    flags = _OPEN_TREE_CLONE | os.O_CLOEXEC | _AT_EMPTY_PATH | (_AT_RECURSIVE if recursive else 0)
    tree = _LIBC.syscall(_OPEN_TREE, fd, b"", flags)
    if tree < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"open_tree: {os.strerror(err)}")
    return tree


def _libc_check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


@dataclass
class JailCommand:
    """A bwrap command line, the host uid to run it as (None: the caller's) and what it
    binds.

    Under the jail's own uid, bwrap could not reach a folder that only root may enter
    (a Python install under /root, a file a language prepared in root's cache). So
    ``prepare`` (in the child, before exec, still root) gives the child a mount namespace
    of its own, a tmpfs at STAGE there (over /tmp, which everyone may enter), and attaches a
    detached copy of each source (made by the host from the descriptor it opened:
    open_tree(2)) onto a placeholder in it, which bwrap then binds from; then it becomes
    the jail's uid. Nothing is mounted or made in the host's namespace. ``close`` the
    descriptors once the process has started.
    """

    argv: list[str]
    fds: list[int]
    uid: int | None = None
    staged: list[tuple[int, str, bool]] = field(default_factory=list)  # fd, placeholder, dir

    def prepare(self) -> None:
        if self.uid is None:
            return
        _libc_check(_LIBC.unshare(_CLONE_NEWNS), "unshare")
        _libc_check(_LIBC.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount /")
        _libc_check(_LIBC.mount(b"tmpfs", STAGE_TOP.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV,
                                b"size=64k,mode=0755"), "mount the stage")  # fmt: skip
        os.mkdir(STAGE, 0o755)
        for tree, placeholder, is_dir in self.staged:
            if is_dir:
                os.mkdir(placeholder, 0o755)
            else:
                os.close(os.open(placeholder, os.O_CREAT | os.O_WRONLY, 0o444))
            moved = _LIBC.syscall(_MOVE_MOUNT, tree, b"", _AT_FDCWD, placeholder.encode(),
                                  _MOVE_MOUNT_F_EMPTY_PATH)  # fmt: skip
            _libc_check(0 if moved == 0 else -1, f"attach {placeholder}")
        os.setgroups([])
        os.setgid(self.uid)
        os.setuid(self.uid)

    def passed(self) -> list[int]:
        """The descriptors bwrap itself must get (``--ro-bind-fd``; it closes them once
        bound). Under the jail's uid none: ``prepare`` attaches the copies before exec,
        and anything passed on would reach the worker inside, a way back to the host."""
        return [] if self.uid is not None else list(self.fds)

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def bwrap_command(
    job_dir: Path,
    state_dir: Path,
    renderers: Path,
    argv: list[str],
    extra_ro: tuple[str, ...] = (),
    *,
    binds: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    memory_cgroup: Path | None = None,
) -> JailCommand:
    """The bwrap command that runs ``argv`` in the jail, as the jail's uid (``jail_uid``;
    its folders are given to that uid, and its binds staged: see JailCommand).

    Run by root, the worker keeps one capability, CAP_SYS_ADMIN inside the jail's own
    user namespace, to give each job fresh namespaces and tmpfs folders (see
    renderers/worker.py); jobs drop it. No new user namespace can be made inside.
    ``extra_ro`` are more folders shown read-only (a language's ``jail_paths``).
    ``binds`` (host path -> path in the jail) and ``env`` (more variables for the
    worker) are what the languages prepared on the host (a language's ``prepare_host``):
    each file or folder is bound read-only, by a descriptor the host opened, alone, at
    its path in the jail. ``memory_cgroup``
    (the worker's memory cgroup) is bound writable at CGROUP_JAIL_PATH, where each job's
    supervisor makes the job's own cgroup (renderers/_cgroup.py); on cgroup v2 the jail
    then shares the host's cgroup namespace, since a job's cgroup must be inside the
    namespace of the process moving into it (its own cgroup path is all the jail learns
    from that).
    """
    uid = jail_uid()
    folders = (*RO_DIRS, *extra_ro, sys.base_prefix, sys.prefix, str(renderers))
    binds = dict(binds or {})
    shown = [*folders, *binds]
    if uid is not None and not _others_can_reach(shown):
        log.warning(
            "the jail runs as root: a folder it shows is closed to other users "
            "(give it o+rx, as pip and venv make them, for the jail's own uid)"
        )
        uid = None
    isolate = isolates_jobs()
    jail = JailCommand([], [], uid)

    def bind(path: str | Path, dest: str, writable: bool = False) -> list[str]:
        kind = "--bind" if writable else "--ro-bind"
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        jail.fds.append(fd)
        if uid is None:  # bwrap runs as the caller: it binds the descriptor itself
            return [f"{kind}-fd", str(fd), dest]
        placeholder = f"{STAGE}/{len(jail.staged)}"
        tree = _detached_copy(fd)
        jail.fds.append(tree)
        jail.staged.append((tree, placeholder, stat.S_ISDIR(os.fstat(fd).st_mode)))
        return [kind, str(placeholder), dest]

    unshare = ["--unshare-all"]
    if memory_cgroup is not None and (memory_cgroup / "memory.max").exists():  # v2
        unshare = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    cmd = [bwrap_path(), *unshare, "--unshare-user", "--die-with-parent",
           "--new-session", "--clearenv", "--uid", "65534", "--gid", "65534",
           "--proc", "/proc", "--dev", "/dev"]  # fmt: skip
    if _bwrap_supports("--disable-userns"):
        cmd.append("--disable-userns")
    if isolate:
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SYS_ADMIN"]
    try:
        for top in ("/bin", "/lib", "/lib64", "/sbin"):
            if os.path.islink(top):
                cmd += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                cmd += bind(top, top)
        seen: set[str] = set()
        for path in folders:
            real = os.path.realpath(path)
            if os.path.isdir(real) and real not in seen:
                seen.add(real)
                cmd += bind(real, real)
                if os.path.realpath(path) != os.path.abspath(path):
                    cmd += ["--symlink", real, path]
        variables = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/job",
                     "TMPDIR": "/job", "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/state/mpl",
                     "VAD_JAILED": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                     "VAD_ISOLATE": "1" if isolate else "0"}  # fmt: skip
        for host, where in binds.items():
            own = ("/job", "/state", "/cgroup", "/proc", "/dev", "/usr", "/bin", "/lib", "/etc")
            if any(where == top or where.startswith(top + "/") for top in own):
                raise ValueError(f"a language's host file may not be shown at {where}: the "
                                 "jail's own folders are not a language's to fill")  # fmt: skip
            cmd += bind(host, where)
        for key in env or {}:
            if key in variables or key.startswith(("LD_", "PYTHON")):
                raise ValueError(f"a language's host files may not set {key}: the jail's "
                                 "own variables are not a language's to change")  # fmt: skip
        variables.update(env or {})
        if memory_cgroup is not None and isolate:
            _give(memory_cgroup, uid, ("cgroup.procs", "cgroup.threads"))
            cmd += bind(memory_cgroup, CGROUP_JAIL_PATH, writable=True)
        for key, value in variables.items():
            cmd += ["--setenv", key, value]
        for folder in (job_dir, state_dir):
            _give(folder, uid, (), recursive=True)
        cmd += [*bind(job_dir, "/job", writable=True), *bind(state_dir, "/state", writable=True),
                "--remount-ro", "/", "--chdir", "/job", "--", *argv]  # fmt: skip
    except BaseException:
        jail.close()
        raise
    jail.argv = cmd
    return jail


def _others_can_reach(paths: list[str]) -> bool:
    """Whether a uid that owns nothing can enter every folder shown (and read every file
    shown), and every folder between a shown folder and another shown inside it: bwrap,
    run as that uid, must make those mount points (a wheel's renderers inside its venv)."""
    real = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    for path in real:
        mode = os.stat(path).st_mode
        need = 0o005 if stat.S_ISDIR(mode) else 0o004
        if mode & need != need:
            return False
        for outer in real:
            if path.startswith(outer + "/"):
                folder = outer
                for part in path[len(outer) + 1 :].split("/")[:-1]:
                    folder = os.path.join(folder, part)
                    if not os.stat(folder).st_mode & 0o001:
                        return False
    return True


def _give(path: Path, uid: int | None, files: tuple[str, ...], recursive: bool = False) -> None:
    """Make ``path`` (and ``files`` in it; everything below it with ``recursive``) the
    jail uid's, so that the jail can write there and nowhere else."""
    if uid is None:
        return
    os.chown(path, uid, uid, follow_symlinks=False)
    for name in files:
        with contextlib.suppress(FileNotFoundError):
            os.chown(path / name, uid, uid, follow_symlinks=False)
    if recursive:
        for root, dirs, names in os.walk(path):
            for name in (*dirs, *names):
                os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


class Cgroups:
    """pids (and memory, where possible) cgroups for one worker; v1 or v2."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.dirs: list[Path] = []
        self.kinds: list[str] = []
        self.memory: Path | None = None  # the memory cgroup, where jobs make their own
        self._join: list[Path] = []  # where the worker goes (v2: a leaf below the memory one)
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
                path = CGROUP_ROOT / current.get("", "/").lstrip("/") / name
                self._make(path, wanted)
                if "memory" in self.kinds:
                    self._delegate_v2(path)
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
                if controller == "memory":
                    self.memory = path
            self.dirs.append(path)
            self._join.append(path)
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()

    def _delegate_v2(self, path: Path) -> None:
        """v2 allows processes only in leaves once a controller is enabled below: the
        worker goes into ``keeper``, jobs into cgroups of their own beside it."""
        try:
            (path / "cgroup.subtree_control").write_text("+memory")
            try:
                (path / "keeper").mkdir()
            except OSError:
                (path / "cgroup.subtree_control").write_text("-memory")  # processes may join
                raise
            self._join = [path / "keeper"]
        except OSError:
            self.memory = None  # the worker's own limit still holds; no job cgroups

    def join(self) -> None:
        """Move the calling process into the cgroups (run in the child before exec)."""
        for path in self._join:
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
            with contextlib.suppress(OSError):  # the jobs' (and v2's keeper) cgroups first
                for child in [p for p in path.iterdir() if p.is_dir()]:
                    _empty_and_remove(child, deadline)
            _empty_and_remove(path, deadline)


def _empty_and_remove(path: Path, deadline: float) -> None:
    """Kill every process in ``path`` until it is empty, then remove it."""
    while time.monotonic() < deadline:
        try:
            procs = (path / "cgroup.procs").read_text().split()
        except OSError:
            return
        if not procs:
            with contextlib.suppress(OSError):
                path.rmdir()
                return
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
        "jail_uid": jail_uid() if jail_uid() is not None else os.geteuid(),
        "job_memory_cgroups": probe.memory is not None,
        "nested_userns": "disabled" if _bwrap_supports("--disable-userns") else "allowed",
    }

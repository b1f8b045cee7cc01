"""A warm render worker (runs inside the jail; imports nothing from vad).

Started once as ``python worker.py '{"svg": "svg", ...}' JOB_DIR [--alone]`` (language
-> module, or the path of a plugin's renderer file); it serves jobs: one JSON line per
job on the original stdin, one JSON line back on the original stdout (both kept as
duplicates; fds 0, 1 and 2 then point at /dev/null so that nothing else reaches them).

The worker never sees model-written code, and no job can reach it:

- A job line holds only its nonce, language, size and limits. The code is in
  ``code.txt`` in the host's job folder, read by the job's supervisor.
- The worker forks one zygote per language (:class:`Zygote`) on that language's first
  job, which loads only that language's renderer, and routes each job line to it (a
  worker that only ever draws SVG never loads matplotlib).
- A zygote runs its jobs in a chain (:class:`Chain`) made ahead of time and kept across
  jobs: a supervisor S which (when isolated) enters new mount, pid and IPC namespaces
  and mounts fresh, size-capped tmpfs folders over the job folder, ``/state``
  (matplotlib's config) and ``/dev/shm`` before every job, with ``/dev`` read-only; J,
  pid 1 of the new pid namespace, which hides ``/proc``, and for every job forks K
  ahead of time; and K, the job itself, which warms its renderer while it waits (trusted
  code), then drops every capability, takes no new privileges, a seccomp profile,
  rlimits, and for Python languages an audit hook (a hint layer, not the boundary).
- K cannot name the zygote or S (another pid namespace, no /proc), so it cannot signal,
  trace, ``prlimit`` or read their memory (they are not dumpable either). It can name
  J (pid 1), which ignores its signals and cannot be traced (seccomp, not dumpable);
  what a process of J's uid can still change in J (rlimits, priority, CPUs) J checks
  after every job, and a chain so changed is not used again.
- When K ends, J kills every process left in the namespace and reaps them all before
  it reports to S, so nothing of a job runs on; S replaces the job's folders before the
  next job. The chain is replaced after CHAIN_JOBS jobs, and after any job that timed
  out, lost J (out of memory) or changed J.
- The jobs of a chain run in a memory cgroup of their own (renderers/_cgroup.py), so
  memory they fault in is theirs and an OOM kill strikes them alone.
- S copies the result out by file descriptor (no symlink followed, regular files of a
  capped size only) into the host's job folder, and answers. K's result file is the
  program's to write as well (model code runs in K): S takes from it only the statuses
  a program may claim, never "crash" (the host failed: not scored), and once the job has
  started, anything it cannot read or parse is the program's ``runtime_error``.

With ``--alone`` the jail was started for one job (a language whose jobs need a
``/proc``; see vad/languages): the worker serves that job and exits, and J
hides no ``/proc``. The job then sees the jail's procfs (a new one cannot be mounted
inside bwrap's jail), whose processes are this jail's: bwrap's init, the worker, the
zygote, S, J and the job; it can name none of them but its own (they are in an outer
pid namespace), and they are not dumpable.

Without isolation (``VAD_ISOLATE`` not ``1``, or no capabilities to make namespaces;
for trusted code only) a chain is S alone, which forks K per job: no namespaces, tmpfs
folders or dropped capabilities; K runs in a fresh folder ``w`` that S makes inside the
job folder once the job starts, in its own process group, which S kills when K ends
or times out.
"""

from __future__ import annotations

import contextlib
import gc
import json
import mmap
import os
import resource
import select
import signal
import stat
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _cgroup
import _guard
import _ns
import _protocol
from _protocol import (
    BLOCKED,
    EMPTY,
    MEMORY,
    OK,
    RUNTIME,
    STATUSES,
    SYNTAX,
    TIMEOUT,
    TOO_LARGE,
    RenderFailure,
    is_blank,
)  # fmt: skip

MODULES: dict = {}
# What a job's own result may say: "crash" (the host failed: not scored) and "no_code"
# are never the program's to claim; a language that cannot run says so to S (unavailable).
JOB_STATUSES = frozenset({OK, SYNTAX, RUNTIME, EMPTY, BLOCKED, TOO_LARGE, MEMORY, TIMEOUT})
MAX_LINE = 1 << 16
MAX_RESULT = 1 << 16
WORK_SIZE, STATE_SIZE, SHM_SIZE = "256m", "16m", "64m"
INODES = 20000  # files per tmpfs: enough for any drawing, quick to tear down
# Address space a job holds back and frees once it has run, so that a program that
# used up its memory limit in small objects (still referenced) can still write its
# result ("memory", not "the program ended without a result").
RESERVE = 4 << 20
CRASH = "crash"


def _import(module_name: str):
    """A language's renderer: a module of this folder by name, or a plugin's file by its
    absolute path (its folder, shown read-only by the jail, is searched last for its own
    helpers)."""
    if not os.path.isabs(module_name):
        return __import__(module_name)
    import importlib.util
    import zlib

    stem = os.path.splitext(os.path.basename(module_name))[0]
    key = f"_plugin_{stem}_{zlib.crc32(module_name.encode()):08x}"
    if key not in sys.modules:
        if os.path.dirname(module_name) not in sys.path:
            sys.path.append(os.path.dirname(module_name))
        spec = importlib.util.spec_from_file_location(key, module_name)
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[key]
            raise
    return sys.modules[key]


def _load(languages: dict[str, str]) -> dict[str, str]:
    """Import and preload each language's module; return their versions."""
    for lang, module_name in languages.items():
        module = _import(module_name)
        module.preload()
        MODULES[lang] = module
    return {lang: module.VERSION for lang, module in MODULES.items()}


def _limits(meta: dict) -> None:
    limits = meta["limits"]
    for res, value in (
        (resource.RLIMIT_AS, limits["memory_bytes"]),
        (resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1)),
        (resource.RLIMIT_FSIZE, limits["file_bytes"]),
        (resource.RLIMIT_NOFILE, limits["open_files"]),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(res, value if isinstance(value, tuple) else (value, value))


def _render(meta: dict, code: str) -> dict:
    """Run one renderer on the code, in this process (K); a typed result."""
    module = MODULES[meta["lang"]]
    try:
        if len(code.encode("utf-8")) > meta["limits"]["max_code_bytes"]:
            raise RenderFailure(TOO_LARGE, "code is larger than the limit")
        module.render(code, "out.png", meta["width"], meta["height"])
        if not os.path.isfile("out.png"):
            raise RenderFailure(EMPTY, "the code produced no image")
        width, height = meta["width"], meta["height"]  # the host's budget, before decoding
        if os.path.getsize("out.png") > 8 * width * height + height + (64 << 10):
            raise RenderFailure(TOO_LARGE, "the PNG is far larger than its pixels need")
        if not getattr(module, "CHECKS_BLANK", False) and is_blank("out.png"):
            raise RenderFailure(EMPTY, "the image is a single flat colour")
        return {"status": OK, "reason": ""}
    except RenderFailure as exc:
        return {"status": exc.status, "reason": exc.reason}
    except MemoryError:
        return {"status": MEMORY, "reason": "out of memory"}
    except RecursionError:
        return {"status": TOO_LARGE, "reason": "nesting too deep"}
    except Exception as exc:
        return {"status": RUNTIME, "reason": traceback.format_exception_only(exc)[-1].strip()}


def _close_fds(keep: set[int]) -> None:
    top = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    top = 4096 if top == resource.RLIM_INFINITY or top > 65536 else top
    start = 3
    for fd in [*sorted(k for k in keep if k >= 3), top]:
        if fd > start:
            os.closerange(start, fd)
        start = fd + 1


def _read_all(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[: limit + 1]


def _read_exact(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the job's message ended early")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, data: bytes) -> None:
    """One message on a pipe that outlives it: its length, then the bytes."""
    view = memoryview(len(data).to_bytes(8, "big") + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int) -> bytes:
    return _read_exact(fd, int.from_bytes(_read_exact(fd, 8), "big"))


def _job(job_r: int, work: str, isolate: bool, ack_w: int = -1) -> None:
    """K: the job itself, forked ahead of time; it waits for its one message. Once set up
    (just before the job's code runs) it writes one byte on ``ack_w``: S then knows the
    code ran, and a K that died before (idle, or in its own setup) is the host's failure.
    Never returns."""
    try:
        for module in MODULES.values():  # this zygote's language: warm while waiting
            with contextlib.suppress(Exception):
                getattr(module, "warm", lambda: None)()
        data = json.loads(_receive(job_r))
        os.close(job_r)
        meta, code = data["meta"], data["code"]
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.chdir(work)
        log = os.open("log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        _close_fds({ack_w})
        if isolate:
            _ns.drop_all_capabilities()
            _ns.deny_syscalls(meta.get("syscalls", "drawing"))
        os.setpgid(0, 0)
        gc.disable()  # a collection would touch (and copy) every page shared with the zygote
        _limits(meta)
        _protocol.JOB.update(timeout_s=meta["timeout_s"], limits=meta["limits"])
        if meta.get("guard") == "python-audit":
            _guard.install(work)
        reserve = mmap.mmap(-1, RESERVE)  # address space only (never touched): room to answer
        if ack_w >= 0:
            os.write(ack_w, b"k")
            os.close(ack_w)
        try:
            result = _render(meta, code)
        except MemoryError:  # even the answer could not be made
            result = None
        reserve.close()
        if result is None:
            result = {"status": MEMORY, "reason": "out of memory"}
        if _guard.TRIPPED:
            result = {"status": BLOCKED, "reason": _guard.TRIPPED[0]}
        with open("result.json", "w") as fh:
            json.dump(result, fh)
        os._exit(0)
    except BaseException:
        os._exit(70)


def _own_settings() -> tuple:
    """What another process of J's uid could change in J: rlimits, nice, CPU affinity,
    scheduling policy and I/O priority."""
    limits = tuple(resource.getrlimit(getattr(resource, name)) for name in sorted(dir(resource))
                   if name.startswith("RLIMIT_"))  # fmt: skip
    return (limits, os.getpriority(os.PRIO_PROCESS, 0), tuple(sorted(os.sched_getaffinity(0))),
            os.sched_getscheduler(0), os.sched_getparam(0).sched_priority,
            _ns.ioprio())  # fmt: skip


def _init(pipes: dict[str, int], work: str, alone: bool, cgroup) -> None:
    """J: pid 1 of the chain's pid namespace, kept across jobs. Joins the job cgroup,
    hides /proc (unless the jail is the job's ``alone``), then for each job: waits for
    S's go-ahead (the job's fresh folders are in place), forks K ahead of the job, waits
    for it, kills whatever K left in the namespace and reaps it all (so nothing of a job
    outlives it), and reports K's end to S. Never returns."""
    try:
        _ns.prctl(_ns.PR_SET_PDEATHSIG, signal.SIGKILL)  # S gone: the whole chain goes
        # No handler of Python's: as pid 1 with none, J ignores every signal a job sends it.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _enter_job(cgroup)
        os.chdir("/")  # not the host's job folder (K changes to the job's own)
        if not alone:
            _ns.tmpfs("/proc", "4k", "0555", ro=True)  # no way to name anything outside
        before = _own_settings()
        report_w = pipes["report_w"]
        while os.read(pipes["next_r"], 1):
            kpid = os.fork()
            if kpid == 0:
                for name in ("report_w", "next_r"):
                    os.close(pipes[name])
                _job(pipes["job_r"], work, True, pipes["ack_w"])
            while True:  # reap K and any orphan reparented to us
                pid, status, usage = os.wait4(-1, 0)
                if pid == kpid:
                    break
            cpu = usage.ru_utime + usage.ru_stime
            while True:  # every process the job left in the namespace, killed and reaped
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)
                try:
                    os.wait4(-1, 0)
                except ChildProcessError:
                    break
            # A job's process could name J (pid 1) and change what a process of the same
            # uid may change: its limits (prlimit), priority, CPUs. Then the chain ends.
            dirty = _own_settings() != before
            report = json.dumps({"status": status, "cpu_s": cpu, "dirty": dirty}).encode()
            os.write(report_w, report + b"\n")
            if alone or dirty:
                os._exit(0)
    except BaseException:
        os._exit(70)


def _open_regular(name: str, dir_fd: int, limit: int) -> int | None:
    """An fd to a regular file of at most ``limit`` bytes, never through a symlink."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        return None
    return fd


def _copy_out(name: str, work_fd: int, host_fd: int, limit: int, tail: bool = False) -> int:
    """Copy a regular file of the job's folder into the host's folder, by fd.

    Returns its size (-1: none, or not a regular file). A file over ``limit`` is not
    copied, unless ``tail``: then its last ``limit`` bytes are.
    """
    src = _open_regular(name, work_fd, 1 << 40)
    if src is None:
        return -1
    try:
        size = os.fstat(src).st_size
        if size > limit and not tail:
            return size
        if tail:
            os.lseek(src, max(0, size - limit), os.SEEK_SET)
        data = _read_all(src, limit)[:limit]
    finally:
        os.close(src)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        dst = os.open(name, flags, 0o644, dir_fd=host_fd)
        try:
            os.write(dst, data)
        finally:
            os.close(dst)
    except OSError as exc:  # the host's folder (full, or not as the host left it)
        raise _HostFailure(f"{name}: {exc.strerror}") from None
    return size


def _classify(meta: dict, work_fd: int, report: dict | None, timed_out: bool) -> dict:
    if timed_out:
        return {"status": TIMEOUT, "reason": f"killed after {meta['timeout_s']} s"}
    if report is not None:
        status = report["status"]
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        if sig == signal.SIGXCPU or (
            sig == signal.SIGKILL and report["cpu_s"] >= meta["limits"]["cpu_s"]
        ):
            return {"status": TIMEOUT, "reason": "CPU time limit"}
        if sig == signal.SIGXFSZ:
            return {"status": TOO_LARGE, "reason": "file size limit"}
        if sig is not None:
            return {"status": RUNTIME, "reason": f"the program was killed by signal {sig}"}
    fd = _open_regular("result.json", work_fd, MAX_RESULT)
    if fd is None:
        return {"status": RUNTIME, "reason": "the program ended without a result"}
    try:
        raw = _read_all(fd, MAX_RESULT)
    finally:
        os.close(fd)
    try:  # written by the job (model code may write it itself): hostile until checked
        result = json.loads(raw)  # nested deep, it raises RecursionError: caught too
        status, reason = result["status"], result.get("reason", "")
        if status not in STATUSES or not isinstance(reason, str):
            raise ValueError(status)
    except Exception:
        return {"status": RUNTIME, "reason": "the program wrote a malformed result"}
    if status not in JOB_STATUSES:  # "crash" and "no_code" are the host's to say (not scored)
        return {"status": RUNTIME, "reason": f"the program reported {status!r} itself"}
    return {"status": status, "reason": reason[:2000]}


def _mounts_below(top: str) -> dict[str, int]:
    """Mount points strictly below ``top`` with the flags they must keep when remounted."""
    found = {}
    names = {"nosuid": _ns.MS_NOSUID, "nodev": _ns.MS_NODEV, "noexec": _ns.MS_NOEXEC}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point, options = fields[4], fields[5].split(",")
            if point.startswith(top + "/"):
                found[point] = sum(flag for name, flag in names.items() if name in options)
    return dict(sorted(found.items(), key=lambda item: len(item[0])))


def _seal_dev(below: dict[str, int]) -> None:
    """/dev read-only for the job: device nodes stay usable, nothing can be changed.

    The jail's uid owns bwrap's device nodes (/dev/null, ...), so a job could chmod
    them; folders below /dev (/dev/pts) are shared by every job of the worker.
    """
    for point, keep in below.items():
        if os.path.isdir(point):
            _ns.tmpfs(point, "4k", "0555", ro=True)
        else:
            flags = _ns.MS_REMOUNT | _ns.MS_BIND | _ns.MS_RDONLY | keep
            _ns.mount("none", point, None, flags)
    flags = _ns.MS_REMOUNT | _ns.MS_BIND | _ns.MS_RDONLY | _ns.MS_NOSUID | _ns.MS_NODEV
    _ns.mount("none", "/dev", None, flags)


CHAIN_JOBS = 200  # jobs one chain serves before it is replaced


def _fresh_folders(job_dir: str, first: bool = False) -> None:
    """New, empty, size-capped tmpfs folders for the next job (in the chain's own mount
    namespace): the job folder, matplotlib's config and /dev/shm. The last job's go
    with their mounts."""
    if not first:
        for path in (job_dir, "/state", "/dev/shm"):
            _ns.umount(path)
    _ns.tmpfs(job_dir, WORK_SIZE, inodes=INODES)
    _ns.tmpfs("/state", STATE_SIZE, inodes=INODES)
    os.mkdir("/state/mpl")
    _ns.tmpfs("/dev/shm", SHM_SIZE, "1777", inodes=INODES)


class _Retire(Exception):
    """The chain cannot serve another job (its answer then says so)."""


class _HostFailure(Exception):
    """Writing into the host's folder failed: the host's failure, not the program's."""


class _Links:
    """S's ends of the chain's pipes (isolated): the job to K, J's reports, K's
    acknowledgement that its code runs, and the go-ahead for J's next K."""

    def __init__(self) -> None:
        self.job_r, self.job_w = os.pipe()
        self.report_r, self.report_w = os.pipe()
        self.ack_r, self.ack_w = os.pipe()
        self.next_r, self.next_w = os.pipe()
        os.set_blocking(self.ack_r, False)

    def for_j(self) -> dict[str, int]:
        return {"job_r": self.job_r, "report_w": self.report_w, "ack_w": self.ack_w,
                "next_r": self.next_r}  # fmt: skip

    def keep_s_ends(self) -> None:
        for fd in self.for_j().values():
            os.close(fd)
        self.reports = os.fdopen(self.report_r, "rb")

    def acknowledged(self) -> bool:
        try:
            return os.read(self.ack_r, 1) == b"k"
        except BlockingIOError:
            return False

    def pending_report(self) -> bool:
        ready, _, _ = select.select([self.reports], [], [], 0)
        return bool(ready)


def _supervise(job_dir: str, isolate: bool, go_r: int, res_w: int, alone: bool) -> None:
    """S: make the chain's world once, then serve jobs one at a time (a line of meta in,
    a line of result out) until told to stop or the chain must be replaced; then end
    the chain (J, and with it the pid namespace) and remove its cgroup."""
    host_fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY)
    cgroup = _cgroup.JobCgroup.make() if isolate else None
    go = os.fdopen(go_r, "rb")
    jpid, links = -1, None
    try:
        if isolate:
            below_dev = _mounts_below("/dev")
            _ns.unshare(_ns.CLONE_NEWNS | _ns.CLONE_NEWPID | _ns.CLONE_NEWIPC)
            _ns.mount("none", "/", None, _ns.MS_REC | _ns.MS_PRIVATE)
            if os.path.isdir(_cgroup.ROOT):  # the job sees no cgroup (S keeps descriptors)
                _ns.tmpfs(_cgroup.ROOT, "4k", "0555", ro=True)
            _seal_dev(below_dev)
            _fresh_folders(job_dir, first=True)
            links = _Links()
            jpid = os.fork()
            if jpid == 0:
                for fd in (res_w, host_fd, links.job_w, links.report_r, links.ack_r,
                           links.next_w, go_r):  # fmt: skip
                    with contextlib.suppress(OSError):
                        os.close(fd)
                _init(links.for_j(), job_dir, alone, cgroup)
            links.keep_s_ends()
            if cgroup is not None:
                cgroup.close_procs()  # S keeps what it reads: the directory and its parent
            os.write(links.next_w, b"n")  # J may fork the first job's K
        while True:
            line = go.readline(MAX_LINE)
            if not line:
                return
            meta = json.loads(line)
            retire = alone or not _ns.SECCOMP  # without a filter, no job's leftovers are known
            try:
                if links is not None:
                    result = _serve(meta, job_dir, host_fd, links, jpid, cgroup)
                    # after a timeout or running out of memory, never reused
                    retire = retire or result["status"] in (TIMEOUT, MEMORY)
                    if not retire:
                        retire = not _next_job(job_dir, links)
                else:
                    result = _serve_unjailed(meta, job_dir, host_fd)
            except _Retire as exc:
                result, retire = exc.args[0], True
            result["retire"] = retire
            os.write(res_w, json.dumps(result).encode() + b"\n")
            if retire:
                return
    finally:
        if jpid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(jpid, signal.SIGKILL)  # the chain's pid namespace goes with J
            with contextlib.suppress(ChildProcessError):
                os.waitpid(jpid, 0)
        if cgroup is not None:
            cgroup.remove()


def _next_job(job_dir: str, links: _Links) -> bool:
    """Fresh folders for the next job, then J may fork its K (which warms up in them).
    False if that failed: the job is done and scored, the chain cannot go on."""
    try:
        _fresh_folders(job_dir)
        os.write(links.next_w, b"n")
    except OSError:
        return False
    return True


def _job_input(meta: dict, host_fd: int) -> tuple[str | None, dict | None]:
    """The job's code from the host's folder, or the crash that says why it cannot run
    here (no code.txt, or this machine cannot run the language: the host's failures)."""
    code_fd = _open_regular("code.txt", host_fd, meta["limits"]["max_code_bytes"] * 4 + 16)
    if code_fd is None:
        return None, {"status": CRASH, "reason": "no code.txt"}
    try:
        code = _read_all(code_fd, 64 << 20).decode("utf-8", errors="replace")
    finally:
        os.close(code_fd)
    module = MODULES.get(meta.get("lang"))
    missing = str(getattr(module, "unavailable", lambda: "")())[:500]
    return (None, {"status": CRASH, "reason": missing}) if missing else (code, None)


def _serve(
    meta: dict,
    job_dir: str,
    host_fd: int,
    links: _Links,
    jpid: int,
    cgroup: _cgroup.JobCgroup | None,
) -> dict:
    """One job in the chain: hand it to the K waiting for it, wait for J's report of K's
    end (or the timeout), classify what K left, copy its image and log out."""
    code, failed = _job_input(meta, host_fd)
    if failed is not None:
        return failed
    retry = {"status": CRASH, "retry": True}
    if links.pending_report():  # K died before its job (out of memory while idle)
        raise _Retire({**retry, "reason": "the job's process died before its job"})
    hidden = []
    try:
        if cgroup is not None:
            cgroup.limit(meta["limits"]["memory_bytes"])
        for path in meta.get("hide", ()):  # what this language's jobs must not see
            _ns.tmpfs(path, "4k", "0555", ro=True)
            hidden.append(path)
        work_fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY)
        oom_before = cgroup.oom_kills() if cgroup is not None else 0
        started = time.monotonic()
        _send(links.job_w, json.dumps({"meta": meta, "code": code}).encode())
    except OSError as exc:  # before the job ran: the host's failure; a new chain retries
        raise _Retire({**retry, "reason": f"job setup: {exc}"}) from None
    del code
    # From here on the job's code runs: whatever goes wrong in reading what it left is
    # the program's doing, a scored runtime_error, never a crash (which is not scored).
    retire = False
    try:
        report, timed_out = None, False
        ready, _, _ = select.select([links.reports], [], [], meta["timeout_s"])
        if ready:
            raw = links.reports.readline(4096)
            report = json.loads(raw) if raw.endswith(b"\n") else None
        else:
            timed_out = True
        acknowledged = links.acknowledged()
        if report is None or report.get("dirty") or not acknowledged:
            retire = True  # timed out, J died, J was changed, or K never ran the code
            with contextlib.suppress(ProcessLookupError):
                os.kill(jpid, signal.SIGKILL)  # the whole pid namespace with it
            with contextlib.suppress(ChildProcessError):
                os.waitpid(jpid, 0)
        if not acknowledged:  # K died (or hung) before the code ran: not the program's
            result = {**retry, "reason": "the job's process failed before the code ran"}
        elif cgroup is not None and cgroup.oom_kills() > oom_before:
            result = {"status": MEMORY, "reason": "out of memory (the job's memory limit)"}
        elif report is None and not timed_out:
            result = {"status": RUNTIME, "reason": "the job ended its own supervisor"}
        else:
            result = _classify(meta, work_fd, report, timed_out)
        if acknowledged:  # else nothing of it is kept: the job runs again on a new chain
            result = _take_image(meta, result, work_fd, host_fd)
    except _HostFailure as exc:
        retire = True
        result = {"status": CRASH, "reason": f"writing the job's output: {exc}"}
    except Exception as exc:
        retire = True
        result = _unreadable(exc)
    finally:
        os.close(work_fd)
        for path in reversed(hidden):
            try:
                _ns.umount(path)
            except OSError:
                retire = True
    result["job_s"] = round(time.monotonic() - started, 4)
    if retire:
        with contextlib.suppress(ProcessLookupError):
            os.kill(jpid, signal.SIGKILL)
        raise _Retire(result)
    return result


def _unreadable(exc: Exception) -> dict:
    reason = f"the job's result could not be read ({type(exc).__name__})"
    return {"status": RUNTIME, "reason": reason}


def _take_image(meta: dict, result: dict, work_fd: int, host_fd: int) -> dict:
    """Copy out.png (when the job is ok) and the log's tail into the host's folder."""
    if result["status"] == OK:
        limit = meta["limits"]["max_png_bytes"]
        size = _copy_out("out.png", work_fd, host_fd, limit)
        if size < 0:  # the program's doing: it said "ok" and left no image
            result = {"status": RUNTIME, "reason": "no image was written (as a regular file)"}
        elif size > limit:
            result = {"status": TOO_LARGE, "reason": f"PNG larger than {limit} bytes"}
    _copy_out("log.txt", work_fd, host_fd, 2000, tail=True)
    return result


def _serve_unjailed(meta: dict, job_dir: str, host_fd: int) -> dict:
    """One job without isolation (trusted code only): K in a fresh folder ``w`` of the
    job folder (which the host has cleared), in its own process group, killed with it."""
    code, failed = _job_input(meta, host_fd)
    if failed is not None:
        return failed
    work = os.path.join(job_dir, "w")
    os.mkdir(work, 0o700)
    work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    job_r, job_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(job_w)
        _job(job_r, work, False)
    os.close(job_r)
    started = time.monotonic()
    with contextlib.suppress(BrokenPipeError):
        _send(job_w, json.dumps({"meta": meta, "code": code}).encode())
    os.close(job_w)
    try:
        pidfd = os.pidfd_open(child)
        ready, _, _ = select.select([pidfd], [], [], meta["timeout_s"])
        os.close(pidfd)
        if not ready:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child, signal.SIGKILL)
        _, status, usage = os.wait4(child, 0)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)  # leftovers of the job's group
        report = {"status": status, "cpu_s": usage.ru_utime + usage.ru_stime}
        result = _classify(meta, work_fd, report, not ready)
        result = _take_image(meta, result, work_fd, host_fd)
    except _HostFailure as exc:
        result = {"status": CRASH, "reason": f"writing the job's output: {exc}"}
    except Exception as exc:
        result = _unreadable(exc)
    finally:
        os.close(work_fd)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, os.WNOHANG)
    result["job_s"] = round(time.monotonic() - started, 4)
    return result


def _enter_job(cgroup: _cgroup.JobCgroup | None) -> None:
    """In J, before any job runs: into the jobs' own memory cgroup, and first in line
    when memory runs out (never the zygote or S)."""
    if cgroup is not None:
        cgroup.enter()
        cgroup.close_in_child()
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("1000")


class Chain:
    """A job's supervisor S and (isolated) J, made ahead of time and kept across jobs
    (at most CHAIN_JOBS, and never past a job that timed out, ran out of memory or left
    anything it could not account for); each job gets a K of its own."""

    def __init__(self, job_dir: str, isolate: bool, alone: bool = False) -> None:
        go_r, self.go_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.jobs, self.dead, self._buffer = 0, False, bytearray()
        self.pid = os.fork()
        if self.pid == 0:
            code = 70
            try:
                _ns.prctl(_ns.PR_SET_PDEATHSIG, signal.SIGKILL)  # its zygote gone: S goes
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # S waits for its jobs
                os.close(self.go_w)
                os.close(self.res_r)
                _close_fds({go_r, res_w})
                _supervise(job_dir, isolate, go_r, res_w, alone)
                code = 0
            except BaseException as exc:
                reason = f"job supervisor: {type(exc).__name__}: {exc}"[:500]
                answer = {"status": CRASH, "reason": reason, "retire": True}
                with contextlib.suppress(OSError):
                    os.write(res_w, json.dumps(answer).encode() + b"\n")
            finally:
                os._exit(code)
        os.close(go_r)
        os.close(res_w)

    def run(self, meta: dict) -> dict:
        self.jobs += 1
        try:
            result = _exchange(self.go_w, self.res_r, self._buffer, meta, meta["timeout_s"] + 15)
        except (OSError, ValueError):  # S is gone or garbled (never the job's doing)
            self.close(kill=True)
            return {"status": CRASH, "reason": "the job supervisor failed", "retry": True}
        if result.get("retire") or self.jobs >= CHAIN_JOBS:
            self.close()
        return result

    def close(self, kill: bool = False) -> None:
        """End the chain: S sees the end of its input, ends J (and the chain's pid
        namespace with it) and removes the jobs' cgroup; ``kill`` S at once when it is
        not answering."""
        if self.dead:
            return
        self.dead = True
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        for fd in (self.go_w, self.res_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        # No wait: the zygote ignores SIGCHLD, so S is reaped by the kernel.


def _read_line(fd: int, buffer: bytearray, deadline: float) -> bytes | None:
    """One line from ``fd`` by ``deadline`` (None: late, too long, or the end)."""
    while b"\n" not in buffer and len(buffer) <= MAX_LINE:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            return None
        buffer += chunk
    if b"\n" not in buffer:
        return None
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def _exchange(out: int, into: int, buffer: bytearray, meta: dict, within_s: float) -> dict:
    """Send a job's meta as one line to a child (a zygote, or a chain's S) and read its
    answer, one line holding a JSON object, within ``within_s`` seconds. OSError or
    ValueError when the child is gone, late or garbled."""
    os.write(out, json.dumps(meta).encode() + b"\n")
    result = json.loads(_read_line(into, buffer, time.monotonic() + within_s) or b"")
    if not isinstance(result, dict):
        raise ValueError(result)
    return result


def _serve_language(
    lang: str, module: str, job_dir: str, isolate: bool, alone: bool, to_r: int, from_w: int
) -> None:
    """A language's zygote: load its renderer, then serve its jobs through chains."""
    version = _load({lang: module})[lang]
    gc.freeze()  # forked children then leave the preloaded objects' pages alone
    out = os.fdopen(from_w, "w", buffering=1)
    out.write(json.dumps({"ready": True, "version": version}) + "\n")
    jobs = os.fdopen(to_r, "rb")
    chain = None  # made for the first job (a language with no jobs here costs no chain)
    while True:
        line = jobs.readline(MAX_LINE)
        if not line:
            return
        meta = json.loads(line)
        chain = chain or Chain(job_dir, isolate, alone)
        result = chain.run(meta)
        if result.pop("retry", False) and not alone:  # the chain failed before the job ran
            chain = Chain(job_dir, isolate)
            result = chain.run(meta)
            result.pop("retry", None)
        result.pop("retire", None)
        result["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out.write(json.dumps(result) + "\n")
        if alone:
            return
        if chain.dead:  # ready while the host reads this answer
            chain = Chain(job_dir, isolate)


class Zygote:
    """One language's zygote, forked from the worker: it imports and preloads only that
    language's renderer and forks that language's chains. A zygote of every language
    would be several times larger, and every fork of it, every exit of a job and every
    page a job copies costs by its size; a job's process also holds no other
    language's code."""

    def __init__(self, lang: str, module: str, job_dir: str, isolate: bool, alone: bool) -> None:
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        self.lang, self.dead, self._buffer = lang, False, bytearray()
        self.pid = os.fork()
        if self.pid == 0:
            code = 70
            try:
                _ns.prctl(_ns.PR_SET_PDEATHSIG, signal.SIGKILL)
                os.close(self.to_w)
                os.close(self.from_r)
                _close_fds({to_r, from_w})
                _serve_language(lang, module, job_dir, isolate, alone, to_r, from_w)
                code = 0
            finally:
                os._exit(code)
        os.close(to_r)
        os.close(from_w)

    def ready(self, timeout_s: float = 110.0) -> str:
        """Its renderer's version, once it has loaded ("" if it did not)."""
        line = _read_line(self.from_r, self._buffer, time.monotonic() + timeout_s)
        try:
            return str(json.loads(line or b"")["version"])
        except (ValueError, KeyError, TypeError):
            self.close()
            return ""

    def run(self, meta: dict) -> dict:
        try:
            return _exchange(self.to_w, self.from_r, self._buffer, meta, meta["timeout_s"] + 20)
        except (OSError, ValueError):
            self.close()
            return {"status": CRASH, "reason": f"the {self.lang} zygote failed"}

    def close(self) -> None:
        """Kill it (its chain's S, J and the job go with it: parent-death signals)."""
        if not self.dead:
            self.dead = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            for fd in (self.to_w, self.from_r):
                with contextlib.suppress(OSError):
                    os.close(fd)


def _versions(languages: dict[str, str]) -> dict[str, str]:
    """Each language's renderer version, from its module's constant: the module itself is
    small (what a renderer needs is imported by ``preload``, in the language's zygote,
    which the worker forks on the language's first job)."""
    return {lang: str(_import(module).VERSION) for lang, module in languages.items()}


def main() -> None:
    languages, job_dir = json.loads(sys.argv[1]), sys.argv[2]
    alone = sys.argv[3:] == ["--alone"]  # this jail serves one job
    isolate = os.environ.get("VAD_ISOLATE") == "1"
    _ns.prctl(_ns.PR_SET_DUMPABLE, 0)  # no same-uid process may read or write our memory
    _close_fds(set())  # nothing of the host's but stdin, stdout and stderr
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    jobs = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    if isolate and not _ns.effective_capabilities():
        isolate = False  # cannot make namespaces here: reported to the host
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # zygotes and supervisors reaped for us
    versions = _versions(languages)
    proto.write(json.dumps({"ready": True, "versions": versions, "isolated": isolate}) + "\n")
    zygotes: dict[str, Zygote] = {}
    while True:
        line = jobs.readline(MAX_LINE)
        if not line:
            break
        meta = json.loads(line)
        started = time.monotonic()
        lang = meta["lang"]
        zygote = zygotes.get(lang)
        if zygote is None or zygote.dead:  # its first job, or it failed on an earlier one
            zygote = zygotes[lang] = Zygote(lang, languages[lang], job_dir, isolate, alone)
            loaded = zygote.ready()
        else:
            loaded = versions[lang]
        if loaded != versions[lang]:
            reason = f"the {lang} renderer did not load" + (f" ({loaded})" if loaded else "")
            result = {"status": CRASH, "reason": reason}
            zygote.close()
        else:
            result = zygote.run(meta)
        result["nonce"] = meta["nonce"]
        result["elapsed_s"] = round(time.monotonic() - started, 4)
        result.setdefault("rss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        proto.write(json.dumps(result) + "\n")
        if alone:
            break


if __name__ == "__main__":
    main()

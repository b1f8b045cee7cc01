"""A warm render worker (runs inside the jail; imports nothing from vad).

Started once as ``python worker.py '{"svg": "svg", ...}' JOB_DIR [--alone]`` (language
-> module); it preloads every language module and then serves jobs: one JSON line per job
on the original stdin, one JSON line back on the original stdout (both kept as
duplicates; fds 0, 1 and 2 then point at /dev/null so that nothing else reaches them).

The worker is a zygote that never sees model-written code, and no job can reach it:

- A job line holds only its nonce, language, size and limits. The code is in
  ``code.txt`` in the host's job folder, read by the job's own supervisor.
- Each job runs in a chain forked ahead of time from the zygote: a supervisor S, which
  (when isolated) enters new mount, pid and IPC namespaces and mounts fresh, size-capped
  tmpfs folders over the job folder, ``/state`` (matplotlib's config) and ``/dev/shm``,
  with ``/dev`` read-only; J, pid 1 of the new pid namespace, which hides ``/proc``
  and reaps; and K, the job itself, with every capability dropped, no new privileges,
  rlimits, and for Python languages an audit hook (a hint layer, not the boundary).
- K cannot name the zygote or S (another pid namespace, no /proc), so it cannot signal,
  trace, ``prlimit`` or read their memory (they are not dumpable either). Its files
  live in a tmpfs that disappears with the job, and when K and J are gone the kernel
  kills every process left in the job's pid namespace.
- S copies the result out by file descriptor (no symlink followed, regular files of a
  capped size only) into the host's job folder, and answers the zygote. K's result
  file is the program's to write as well (model code runs in K): S takes from it only
  the statuses a program may claim, never "crash" (the host failed: not scored).

With ``--alone`` the jail was started for one job (a language whose jobs need a
``/proc``; see vad/languages): the worker serves that job and exits, and J
hides no ``/proc``. The job then sees the jail's procfs (a new one cannot be mounted
inside bwrap's jail), whose processes are this jail's: bwrap's init, the zygote, S, J
and the job; it can name none of them but its own (they are in an outer pid namespace),
and the zygote, S and J are not dumpable.

Without isolation (``VAD_ISOLATE`` not ``1``, or no capabilities to make namespaces;
for trusted code only) the chain is S and K alone: no namespaces, tmpfs folders or
dropped capabilities; K runs in a fresh folder ``w`` that S makes inside the job folder
once the job starts, in its own process group, which S kills when K ends or times out.
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


def _load(languages: dict[str, str]) -> dict[str, str]:
    """Import and preload each language's module; return their versions."""
    for lang, module_name in languages.items():
        module = __import__(module_name)
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


def _job(job_r: int, work: str, isolate: bool) -> None:
    """K: the job itself. Never returns."""
    try:
        data = json.loads(_read_all(job_r, 64 << 20))
        os.close(job_r)
        meta, code = data["meta"], data["code"]
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.chdir(work)
        log = os.open("log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        _close_fds(set())
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


def _init(job_r: int, report_w: int, work: str, alone: bool) -> None:
    """J: pid 1 of the job's pid namespace. Hides /proc (unless the jail is the job's
    ``alone``), starts K, reaps. Never returns."""
    try:
        _ns.prctl(_ns.PR_SET_PDEATHSIG, signal.SIGKILL)  # S gone: the whole job goes
        if not alone:
            _ns.tmpfs("/proc", "4k", "0555", ro=True)  # no way to name anything outside
        kpid = os.fork()
        if kpid == 0:
            os.close(report_w)
            _job(job_r, work, True)
        os.close(job_r)
        while True:  # reap K and any orphan reparented to us
            pid, status, usage = os.wait4(-1, 0)
            if pid == kpid:
                break
        cpu = usage.ru_utime + usage.ru_stime
        os.write(report_w, json.dumps({"status": status, "cpu_s": cpu}).encode())
        os._exit(0)  # every process left in the namespace is killed now
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
    dst = os.open(name, flags, 0o644, dir_fd=host_fd)
    try:
        os.write(dst, data)
    finally:
        os.close(dst)
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


def _supervise(job_dir: str, isolate: bool, go_r: int, res_w: int, alone: bool) -> None:
    """S: prepare the job's world ahead of time, run the job, copy its output out."""
    host_fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY)
    cgroup = _cgroup.JobCgroup.make() if isolate else None
    if isolate:
        below_dev = _mounts_below("/dev")
        _ns.unshare(_ns.CLONE_NEWNS | _ns.CLONE_NEWPID | _ns.CLONE_NEWIPC)
        _ns.mount("none", "/", None, _ns.MS_REC | _ns.MS_PRIVATE)
        if os.path.isdir(_cgroup.ROOT):  # the job sees no cgroup (S keeps descriptors)
            _ns.tmpfs(_cgroup.ROOT, "4k", "0555", ro=True)
        _ns.tmpfs(job_dir, WORK_SIZE, inodes=INODES)
        _ns.tmpfs("/state", STATE_SIZE, inodes=INODES)
        os.mkdir("/state/mpl")
        _seal_dev(below_dev)
        _ns.tmpfs("/dev/shm", SHM_SIZE, "1777", inodes=INODES)
        work = job_dir
    else:  # unjailed (trusted code only): a fresh folder inside the job folder, made
        work = os.path.join(job_dir, "w")  # once the host has cleared it for this job
    work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY) if isolate else -1
    job_r, job_w = os.pipe()
    report_r, report_w = os.pipe()
    child = os.fork()
    if child == 0:
        for fd in (go_r, res_w, host_fd, work_fd, job_w, report_r):
            if fd >= 0:
                os.close(fd)
        _enter_job(cgroup)
        if isolate:
            _init(job_r, report_w, work, alone)
        os.close(report_w)
        _job(job_r, work, False)
    for fd in (job_r, report_w):
        os.close(fd)
    meta = json.loads(_read_all(go_r, MAX_LINE))
    os.close(go_r)
    if not isolate:
        os.mkdir(work, 0o700)
        work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    started = time.monotonic()
    code_fd = _open_regular("code.txt", host_fd, meta["limits"]["max_code_bytes"] * 4 + 16)
    if code_fd is None:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.write(res_w, json.dumps({"status": CRASH, "reason": "no code.txt"}).encode())
        return
    code = _read_all(code_fd, 64 << 20).decode("utf-8", errors="replace")
    os.close(code_fd)
    missing = getattr(MODULES.get(meta.get("lang")), "unavailable", lambda: "")()
    if missing:  # this machine cannot run the language (a host failure, not the code's)
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.write(res_w, json.dumps({"status": CRASH, "reason": str(missing)[:500]}).encode())
        return
    if cgroup is not None:
        cgroup.limit(meta["limits"]["memory_bytes"])
    if isolate:  # what this language's jobs must not see (TeX: the Python install)
        for path in meta.get("hide", ()):
            _ns.tmpfs(path, "4k", "0555", ro=True)
    with contextlib.suppress(BrokenPipeError):
        os.write(job_w, json.dumps({"meta": meta, "code": code}).encode())
    os.close(job_w)
    del code
    # From here on the job's code runs: whatever goes wrong in reading what it left is
    # the program's doing, a scored runtime_error, never a crash (which is not scored).
    try:
        result = _outcome(meta, child, isolate, report_r, work_fd, host_fd, cgroup)
    except Exception as exc:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        reason = f"the job's result could not be read ({type(exc).__name__})"
        result = {"status": RUNTIME, "reason": reason}
    result["job_s"] = round(time.monotonic() - started, 4)
    os.write(res_w, json.dumps(result).encode())
    os.close(res_w)
    if cgroup is not None:  # after the answer: off the critical path
        cgroup.remove()


def _enter_job(cgroup: _cgroup.JobCgroup | None) -> None:
    """In the job's first process, before anything of the job runs: into the job's own
    memory cgroup, and first in line when memory runs out (never the zygote or S)."""
    if cgroup is not None:
        cgroup.enter()
        cgroup.close_in_child()
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("1000")


def _outcome(
    meta: dict,
    child: int,
    isolate: bool,
    report_r: int,
    work_fd: int,
    host_fd: int,
    cgroup: _cgroup.JobCgroup | None,
) -> dict:
    """Wait for the job (J, or K unjailed), classify it, copy its image and log out."""
    pidfd = os.pidfd_open(child)
    ready, _, _ = select.select([pidfd], [], [], meta["timeout_s"])
    os.close(pidfd)
    timed_out = not ready
    if timed_out:
        with contextlib.suppress(ProcessLookupError):
            (os.kill if isolate else os.killpg)(child, signal.SIGKILL)
    _, status, usage = os.wait4(child, 0)
    report = None
    if isolate:
        raw = _read_all(report_r, 4096)
        with contextlib.suppress(ValueError):
            report = json.loads(raw) if raw else None
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)  # leftovers of the job's group
        report = {"status": status, "cpu_s": usage.ru_utime + usage.ru_stime}
    os.close(report_r)
    if cgroup is not None and cgroup.oom_kills():
        result = {"status": MEMORY, "reason": "out of memory (the job's memory limit)"}
    else:
        result = _classify(meta, work_fd, report, timed_out)
    if result["status"] == OK:
        limit = meta["limits"]["max_png_bytes"]
        size = _copy_out("out.png", work_fd, host_fd, limit)
        if size < 0:  # the program's doing: it said "ok" and left no image
            result = {"status": RUNTIME, "reason": "no image was written (as a regular file)"}
        elif size > limit:
            result = {"status": TOO_LARGE, "reason": f"PNG larger than {limit} bytes"}
    _copy_out("log.txt", work_fd, host_fd, 2000, tail=True)
    return result


class Standby:
    """A job's supervisor, forked (and its namespaces and folders made) ahead of time."""

    def __init__(self, job_dir: str, isolate: bool, alone: bool = False) -> None:
        go_r, self.go_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            code = 70
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # S waits for its job
                os.close(self.go_w)
                os.close(self.res_r)
                _close_fds({go_r, res_w})
                _supervise(job_dir, isolate, go_r, res_w, alone)
                code = 0
            except BaseException as exc:
                reason = f"job supervisor: {type(exc).__name__}: {exc}"[:500]
                with contextlib.suppress(OSError):
                    os.write(res_w, json.dumps({"status": CRASH, "reason": reason}).encode())
            finally:
                os._exit(code)
        os.close(go_r)
        os.close(res_w)

    def run(self, meta: dict) -> dict:
        with contextlib.suppress(BrokenPipeError):
            os.write(self.go_w, json.dumps(meta).encode())
        os.close(self.go_w)
        deadline = time.monotonic() + meta["timeout_s"] + 15
        chunks = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.res_r], [], [], deadline - time.monotonic())
            if not ready:
                break
            chunk = os.read(self.res_r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(self.res_r)
        if not chunks:  # it never answered: it must not linger (its job dies with it)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        # No wait: the zygote ignores SIGCHLD, so S is reaped by the kernel while it
        # tears down the job's folders, off the critical path.
        try:
            return json.loads(b"".join(chunks))
        except ValueError:
            return {"status": CRASH, "reason": "the job supervisor failed"}


def main() -> None:
    languages, job_dir = json.loads(sys.argv[1]), sys.argv[2]
    alone = sys.argv[3:] == ["--alone"]  # this jail serves one job
    isolate = os.environ.get("VAD_ISOLATE") == "1"
    _ns.prctl(_ns.PR_SET_DUMPABLE, 0)  # no same-uid process may read or write our memory
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    jobs = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    versions = _load(languages)
    if isolate and not _ns.effective_capabilities():
        isolate = False  # cannot make namespaces here: reported to the host
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped automatically
    gc.freeze()  # forked children then leave the preloaded objects' pages alone
    proto.write(json.dumps({"ready": True, "versions": versions, "isolated": isolate}) + "\n")
    standby = Standby(job_dir, isolate, alone)
    while True:
        line = jobs.readline(MAX_LINE)
        if not line:
            break
        meta = json.loads(line)
        started = time.monotonic()
        result = standby.run(meta)
        if not alone:
            standby = Standby(job_dir, isolate)  # ready while the host reads this answer
        result["nonce"] = meta["nonce"]
        result["elapsed_s"] = round(time.monotonic() - started, 4)
        result["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        proto.write(json.dumps(result) + "\n")
        if alone:
            break


if __name__ == "__main__":
    main()

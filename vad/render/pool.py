"""A pool of warm render workers: start, feed, supervise and replace them.

Each worker is one long-lived process (jailed by default) that preloads every
renderer. For a job the host empties the worker's job folder, writes the code there
as ``code.txt`` and sends one JSON line on the worker's stdin (nonce, language, width
and height, timeout and limits); the worker answers one JSON line on its stdout (the
same nonce, a status and reason, timings and its peak RSS) and leaves ``out.png`` and
``log.txt`` in the job folder. Everything that comes back is hostile until checked:
the answer is read with a whole-line deadline and a length cap and must be well formed
with the job's nonce (else the worker is killed and the job is a crash); files are
opened with ``O_NOFOLLOW``, checked with ``fstat`` (a regular file, under a size cap)
and copied by descriptor, and the image must be a whole PNG (it is decoded) within the
pixel limit; reasons and log tails become plain text (valid UTF-8, no control
characters but newline and tab). A worker that times out, dies or misbehaves is killed
with everything in its cgroups, and one that grows too large or has served its job
limit likewise after answering; each is started again on its next job, so the pool
keeps serving. Every outcome is a typed :class:`RenderResult`. When the pool starts
it calls the ``prepare_host`` hook of each language it serves (vad/languages: a
Language's, which builds or finds what its jobs need of the host and says how their
jail shows it, read-only); a jail then shows the files of the languages it runs (a warm
worker's: every language but the ``job_proc`` ones), and the pool itself knows no
language by name.

A language that sets ``job_proc`` (the sketch languages, whose Chromium needs a
``/proc``) never runs in the warm workers: each of its jobs gets a worker of its own in a
jail started for it (its own cgroups, sized by the language's ``limits``), which
serves that job and is then killed with everything in its cgroups.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import re
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vad._paths import project_dir
from vad.fsutil import open_regular, read_fd
from vad.languages import Language, all_languages, canonical, get_language
from vad.languages.base import HostFiles
from vad.render import png
from vad.render.base import RenderResult, RenderStatus
from vad.render.jail import Cgroups, JailCommand, JailUnavailable, Limits, bwrap_command

READY_TIMEOUT_S = 120.0
GRACE_S = 25.0  # beyond the job's timeout: the worker's own deadline is 15 s past it
MAX_REPLY = 1 << 16
STATUSES = {str(s) for s in RenderStatus}


TMP_PREFIX = "vad-render-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


STALE_AFTER_S = 600.0  # a render folder untouched this long, of a dead pid, is stale


def _idle_for(root: Path, seconds: float) -> bool:
    """Nothing in the folder (or its job and state folders) changed for ``seconds``."""
    try:
        newest = max(os.lstat(p).st_mtime for p in (root, root / "job", root / "state")
                     if os.path.lexists(p))  # fmt: skip
    except (OSError, ValueError):
        return False
    return time.time() - newest > seconds


def sweep_stale_folders(tmp: Path | None = None, idle_s: float = STALE_AFTER_S) -> int:
    """Remove render folders left by vad processes that died (kill -9); return how many.

    A folder is ``vad-render-<pid>-<worker>-<random>``; it is stale when no process has
    that pid *and* nothing in it changed for ``idle_s`` seconds (a process in another
    pid namespace sharing /tmp may have that pid number and be alive). Folders of live
    processes, and anything else, are left alone.
    """
    removed = 0
    base = tmp or Path(tempfile.gettempdir())
    with contextlib.suppress(OSError), os.scandir(base) as entries:
        for entry in entries:
            pid = entry.name.removeprefix(TMP_PREFIX).split("-", 1)[0]
            if (
                not entry.name.startswith(TMP_PREFIX)
                or not pid.isdigit()
                or not entry.is_dir(follow_symlinks=False)
                or _alive(int(pid))
                or not _idle_for(Path(entry.path), idle_s)
            ):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


def python_paths(keep: tuple[str, ...] = ()) -> list[str]:
    """The folders of the Python install and the renderers, as the jail shows them: what
    a language that does not see Python has hidden from its jobs. Never a folder that
    holds (or is) one of ``keep`` or of the jail's system folders: a Python installed in
    /usr has its prefix there, and hiding it would hide the programs too."""
    import sysconfig

    from vad.render.jail import RO_DIRS

    paths = [str(project_dir("renderers")), *_plugin_folders(), sys.prefix, sys.base_prefix]
    paths += [sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    paths += [os.path.join(sys.base_prefix, "lib", "python3", "dist-packages")]
    needed = {os.path.realpath(p) for p in (*RO_DIRS, *keep, "/usr/bin", "/bin", "/usr/lib",
                                            "/usr/share", "/usr/local/share", "/etc")}  # fmt: skip
    found: list[str] = []
    for path in sorted({os.path.realpath(p) for p in paths}, key=lambda p: (p.count("/"), p)):
        if not os.path.isdir(path) or any(path.startswith(f"{top}/") for top in found):
            continue  # one below a hidden folder is hidden with it
        if any(n == path or n.startswith(f"{path}/") for n in needed):
            continue
        found.append(path)
    return found


def renderer_of(language: Language) -> str:
    """What the worker loads as the language's renderer: a module of ``renderers/`` by
    name (vad's own), or a plugin's file by its absolute host path (``renderer``)."""
    return language.renderer or language.module


def _plugin_folders(alone: Language | None = None) -> list[str]:
    """The folders of plugins' renderers (one language's, or every one: a warm worker
    reads each renderer's version), which the jail shows read-only at their host path."""
    languages = [alone] if alone is not None else list(all_languages().values())
    # the folder checked at registration (base._check_renderer): the real one
    return [os.path.dirname(os.path.realpath(lang.renderer)) for lang in languages
            if lang.renderer]  # fmt: skip


def _jail_paths(alone: Language | None) -> tuple[str, ...]:
    """The read-only host paths a jail shows besides the base ones: a language's own, for
    a jail of its own; else those of every language the warm workers run."""
    if alone is not None:
        return (*alone.jail_paths, *_plugin_folders(alone))
    paths = [p for lang in all_languages().values() if not lang.job_proc for p in lang.jail_paths]
    return tuple(dict.fromkeys([*paths, *_plugin_folders()]))


def _host_files(prepared: dict[str, HostFiles], alone: str) -> HostFiles:
    """What a jail shows of the host: the files prepared for its language, for a jail of
    its own; else those of every language the warm workers run."""
    names = [alone] if alone else [n for n, lang in all_languages().items() if not lang.job_proc]
    return HostFiles.merge(prepared[name] for name in names if name in prepared)


class Worker:
    """One warm worker process and its folders; or, with ``alone`` (a language), a worker
    in a jail of its own that serves one job of that language. ``host_files`` are what
    the pool's languages prepared on the host (by name)."""

    def __init__(
        self,
        index: int,
        sandbox: bool,
        limits: Limits,
        host_files: dict[str, HostFiles] | None = None,
        alone: str = "",
    ) -> None:
        self.index, self.sandbox, self.limits = index, sandbox, limits
        self.host_files = host_files or {}
        self.alone = alone
        self.root = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-{index}-"))
        self.job_dir, self.state_dir = self.root / "job", self.root / "state"
        self.job_dir.mkdir()
        (self.state_dir / "mpl").mkdir(parents=True)
        os.chmod(self.root, 0o755)
        self.proc: subprocess.Popen[bytes] | None = None
        self.cgroups: Cgroups | None = None
        self.versions: dict[str, str] = {}
        self.loaded: set[str] = set()  # languages whose renderer this worker has loaded
        self.jobs_done = 0
        self._buffer = b""

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        renderers = project_dir("renderers")
        languages = {name: renderer_of(lang) for name, lang in all_languages().items()}
        if self.alone:
            languages = {self.alone: languages[self.alone]}
        job_path = "/job" if self.sandbox else str(self.job_dir)
        argv = [sys.executable, "-E", "-s", str(renderers / "worker.py"), json.dumps(languages),
                job_path, *(["--alone"] if self.alone else [])]  # fmt: skip
        limits = self.limits
        # What the languages prepared when the pool started, if it is still there:
        # another vad process may be building a file again (found damaged or stale), and
        # bwrap cannot bind what is gone; the jobs do without it.
        host = _host_files(self.host_files, self.alone).present()
        if self.sandbox:
            alone = get_language(self.alone) if self.alone else None
            self.cgroups = Cgroups(f"vad-{os.getpid()}-{self.index}-{time.monotonic_ns()}", limits)
            jail = bwrap_command(self.job_dir, self.state_dir, renderers, argv,
                                 _jail_paths(alone), binds=host.binds, env=host.env,
                                 memory_cgroup=self.cgroups.memory)  # fmt: skip
            cmd, cwd, env = jail.argv, None, None
        else:
            jail = JailCommand(argv, [])
            cmd, cwd = argv, self.job_dir
            env = {
                "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "HOME": str(self.job_dir),
                "TMPDIR": str(self.job_dir),
                "MPLBACKEND": "Agg",
                "MPLCONFIGDIR": str(self.state_dir / "mpl"),
                "OPENBLAS_NUM_THREADS": "1",
                **host.unjailed_env(),  # unjailed (trusted code only): the host's paths
            }
        cgroups = self.cgroups

        def before_exec() -> None:  # in the child: own session, cgroups, worker rlimits
            os.setsid()
            if cgroups is not None:
                cgroups.join()
            address = limits.worker_address_bytes or limits.worker_memory_bytes
            resource.setrlimit(resource.RLIMIT_AS, (address,) * 2)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes,) * 2)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            jail.prepare()  # its binds staged, then the jail's own uid (last: needs root)

        try:
            with (self.root / "worker.log").open("wb") as log:
                self.proc = subprocess.Popen(
                    cmd, cwd=cwd, env=env if env is not None else {}, stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=log, preexec_fn=before_exec,
                    pass_fds=jail.passed(),
                )  # fmt: skip
        finally:
            jail.close()
        self._buffer = b""
        line = self._read_line(READY_TIMEOUT_S)
        try:
            hello = json.loads(line or b"")
            versions = {str(k): str(v) for k, v in hello["versions"].items()}
        except (ValueError, KeyError, AttributeError, TypeError):
            self.kill()
            tail = (self.root / "worker.log").read_text(errors="replace")[-1500:]
            raise JailUnavailable(f"a render worker did not start:\n{tail}") from None
        self.versions = versions
        self.loaded = set()
        self.jobs_done = 0

    def kill(self) -> None:
        """Kill the worker and every process in its cgroups; wait until they are gone."""
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self.cgroups is not None:
            self.cgroups.remove()  # kill what is left, wait until empty, remove
            self.cgroups = None
        if proc is not None:
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- one job -----------------------------------------------------------------
    def _read_line(self, timeout: float) -> bytes | None:
        """One whole line within ``timeout`` seconds (None if not: late, too long, EOF)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or len(self._buffer) > MAX_REPLY or not sel.select(left):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _clear_job_dir(self) -> None:
        with os.scandir(self.job_dir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)

    def _write_code(self, code: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.job_dir / "code.txt", flags, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(code.encode("utf-8", errors="surrogateescape"))

    def run(self, lang: str, code: str, width: int, height: int, dest: Path) -> RenderResult:
        language = get_language(lang)
        if not self.alone and language.job_proc:
            return self._run_alone(lang, code, width, height, dest)
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            self.start()
        started = time.monotonic()
        nonce = secrets.token_hex(12)
        job = {
            "nonce": nonce,
            "lang": lang,
            "width": width,
            "height": height,
            "timeout_s": self.limits.timeout_s,
            "limits": dataclasses.replace(self.limits, **language.limits).for_worker(),
            "guard": language.guard if self.limits.audit_hook else "",
            "syscalls": language.syscalls,
            "hide": []
            if language.sees_python or not self.sandbox
            else python_paths(language.jail_paths),
        }
        assert self.proc is not None and self.proc.stdin is not None
        self._clear_job_dir()
        try:
            self._write_code(code)
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
            # a language's first job here waits for its renderer to load as well
            loading = 0.0 if lang in self.loaded else READY_TIMEOUT_S
            line = self._read_line(self.limits.timeout_s + GRACE_S + loading)
        except (BrokenPipeError, OSError):
            line = None
        version = self.versions.get(lang, "")
        if line is None:
            died = self.proc.poll() is not None
            self.kill()
            status = RenderStatus.CRASH if died else RenderStatus.TIMEOUT
            reason = "the worker died" if died else f"killed after {self.limits.timeout_s} s"
            return _result(status, reason, "", started, version)
        data = _parse_reply(line, nonce)
        if data is None:  # forged, stale or malformed: the worker is not trusted again
            self.kill()
            reason = "the worker sent a malformed or unexpected reply"
            return _result(RenderStatus.CRASH, reason, "", started, version)
        log = self._log_tail()
        self.loaded.add(lang)
        self.jobs_done += 1
        if (
            data.get("rss_kb", 0) > self.limits.worker_max_rss_kb
            or self.jobs_done >= self.limits.worker_max_jobs
        ):
            self.kill()  # replaced on the next job
        status, reason = RenderStatus(data["status"]), data["reason"]
        if status is RenderStatus.OK:
            status, reason = self._collect(dest, width, height)
        return _result(
            status, reason, log, started, version, dest if status is RenderStatus.OK else None
        )

    def _run_alone(self, lang: str, code: str, width: int, height: int, dest: Path) -> RenderResult:
        """One job in a jail started for it alone, with its language's limits; then the
        jail is killed, with everything in its cgroups, and its folders removed."""
        limits = dataclasses.replace(self.limits, **get_language(lang).limits)
        alone = Worker(self.index, self.sandbox, limits, self.host_files, alone=lang)
        started = time.monotonic()
        try:
            alone.start()
            if self.sandbox and not alone.memory_bounded():
                reason = f"{lang} jobs need a memory cgroup, and none could be made here"
                return _result(RenderStatus.CRASH, reason, "", started, "")
            return alone.run(lang, code, width, height, dest)
        except JailUnavailable as exc:
            return _result(RenderStatus.CRASH, str(exc), "", started, "")
        finally:
            alone.close()

    def memory_bounded(self) -> bool:
        """Whether the jobs' memory is bounded: by their address space, or else (a limit
        above the worker's memory) by the worker's memory cgroup."""
        kinds = self.cgroups.kinds if self.cgroups is not None else []
        return self.limits.memory_bytes <= self.limits.worker_memory_bytes or "memory" in kinds

    def _collect(self, dest: Path, width: int, height: int) -> tuple[RenderStatus, str]:
        """Read out.png by fd (never through a symlink), check it and write its pixels,
        re-encoded, to ``dest`` (vad/render/png.py): what the host judged is what is kept."""
        out = self.job_dir / "out.png"
        fd = open_regular(out, 1 << 40)
        if fd is None:
            return RenderStatus.RUNTIME_ERROR, "no image was written (as a regular file)"
        try:
            if os.fstat(fd).st_size > self.limits.max_png_bytes:
                return RenderStatus.TOO_LARGE, f"PNG larger than {self.limits.max_png_bytes} bytes"
            data = read_fd(fd, self.limits.max_png_bytes)
        finally:
            os.close(fd)
        # model code may leave any file and report "ok": the host decides
        checked = png.reencode(data, width, height, self.limits.max_image_pixels)
        if checked.failure:
            return RenderStatus(checked.status), checked.failure
        data = checked.png
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)  # replaces whatever entry was there, never writes through it
        return RenderStatus.OK, ""

    def _log_tail(self) -> str:
        fd = open_regular(self.job_dir / "log.txt", 1 << 20)
        if fd is None:
            return ""
        try:
            os.lseek(fd, max(0, os.fstat(fd).st_size - 2000), os.SEEK_SET)
            return read_fd(fd, 2000).decode("utf-8", errors="replace")
        finally:
            os.close(fd)


def _parse_reply(line: bytes, nonce: str) -> dict[str, Any] | None:
    """The worker's answer if it is well formed and for this job, else None."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("nonce") != nonce:
        return None
    if data.get("status") not in STATUSES or not isinstance(data.get("reason", ""), str):
        return None
    data.setdefault("reason", "")
    if not isinstance(data.get("rss_kb", 0), int):
        return None
    return data


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain_text(text: str) -> str:
    """Text from the jail as plain, valid UTF-8: no lone surrogates (they cannot be
    written to samples.jsonl) and no control characters but newline and tab (no
    terminal escapes when a reason is printed)."""
    return _CONTROL.sub("\ufffd", text.encode("utf-8", "replace").decode("utf-8"))


def _result(
    status: RenderStatus,
    reason: str,
    log: str,
    started: float,
    version: str,
    image: Path | None = None,
) -> RenderResult:
    return RenderResult(
        status,
        plain_text(reason[:2000]),
        plain_text(log),
        round(time.monotonic() - started, 4),
        version,
        image,
    )


class RenderPool:
    """Warm workers sized to the cores; ``render`` blocks until one is free.

    ``languages``: those it will render (None: any); only theirs prepare files on the
    host (a language's ``prepare_host``, called when the pool starts). ``host_files``:
    what some languages' jobs get of the host instead of what their hook would prepare
    (an empty HostFiles: nothing).
    """

    def __init__(
        self,
        size: int | None = None,
        sandbox: bool = True,
        limits: Limits | None = None,
        languages: Sequence[str] | None = None,
        host_files: dict[str, HostFiles] | None = None,
    ) -> None:
        self.size = size or os.cpu_count() or 1
        self.languages = None if languages is None else {canonical(x) for x in languages}
        self.sandbox, self.limits = sandbox, limits or Limits()
        self._given = {canonical(name): files for name, files in (host_files or {}).items()}
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        self._started = False
        self.host_files: dict[str, HostFiles] = {}  # by language, when the pool starts

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            sweep_stale_folders()
            self.host_files = self._prepare_host()
            for index in range(self.size):
                worker = Worker(index, self.sandbox, self.limits, self.host_files)
                self._workers.append(worker)
                self._idle.put(worker)
            self._started = True

    def _prepare_host(self) -> dict[str, HostFiles]:
        """What each language the pool serves prepared on the host (its hook, called
        here once), or was given for it."""
        prepared = dict(self._given)
        for name, language in all_languages().items():
            served = self.languages is None or name in self.languages
            if served and name not in prepared and language.prepare_host is not None:
                prepared[name] = language.prepare_host()
        return prepared

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
        if lang not in all_languages():
            return RenderResult(RenderStatus.CRASH, f"no renderer for {lang!r}")
        unavailable = all_languages()[lang].unavailable
        missing = unavailable() if unavailable is not None else ""
        if missing:
            return RenderResult(RenderStatus.CRASH, missing)
        if width * height > self.limits.max_image_pixels or min(width, height) < 1:
            return RenderResult(RenderStatus.TOO_LARGE, f"image size {width}x{height}")
        if len(code.encode("utf-8", errors="surrogateescape")) > self.limits.max_code_bytes:
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

"""A warm render worker (runs inside the jail; imports nothing from vad).

Started once as ``python worker.py '{"svg": "svg", ...}'`` (language -> module);
preloads every language module, then reads one JSON job per line on stdin (the code is
in the job) and answers
one JSON line on its protocol channel
(the original stdout; fd 1 and 2 are pointed at a log so that nothing else reaches it).

Languages with ``FORK = True`` run each job in a forked child with rlimits, its own
process group, an audit hook and the job folder as working directory; the parent
kills the child's group on timeout and then every other process left in the jail.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import select
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


import _guard
from _protocol import (
    BLOCKED,
    EMPTY,
    MEMORY,
    OK,
    RUNTIME,
    TIMEOUT,
    TOO_LARGE,
    RenderFailure,
    is_blank,
)  # fmt: skip

MODULES = {}


def _load(languages: dict[str, str]) -> dict[str, str]:
    """Import and preload each language's module; return their versions."""
    for lang, module_name in languages.items():
        module = __import__(module_name)
        module.preload()
        MODULES[lang] = module
    return {lang: module.VERSION for lang, module in MODULES.items()}


def _limits(job: dict) -> None:
    limits = job["limits"]
    for res, value in (
        (resource.RLIMIT_AS, limits["memory_bytes"]),
        (resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1)),
        (resource.RLIMIT_FSIZE, limits["file_bytes"]),
        (resource.RLIMIT_NOFILE, limits["open_files"]),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(res, value if isinstance(value, tuple) else (value, value))


def _run_in_place(job: dict) -> dict:
    """Render in this process (no code is executed, e.g. SVG)."""
    module = MODULES[job["lang"]]
    out = os.path.join(job["dir"], "out.png")
    code = job["code"]
    if len(code.encode("utf-8")) > job["limits"]["max_code_bytes"]:
        raise RenderFailure(TOO_LARGE, f"code is larger than {job['limits']['max_code_bytes']} B")
    module.render(code, out, job["width"], job["height"])
    if not os.path.isfile(out):
        raise RenderFailure(EMPTY, "the code produced no image")
    if not getattr(module, "CHECKS_BLANK", False) and is_blank(out):
        raise RenderFailure(EMPTY, "the image is a single flat colour")
    return {"status": OK, "reason": ""}


def _result(job: dict) -> dict:
    try:
        return _run_in_place(job)
    except RenderFailure as exc:
        return {"status": exc.status, "reason": exc.reason}
    except MemoryError:
        return {"status": MEMORY, "reason": "out of memory"}
    except RecursionError:
        return {"status": TOO_LARGE, "reason": "nesting too deep"}
    except Exception as exc:
        return {"status": RUNTIME, "reason": traceback.format_exception_only(exc)[-1].strip()}


def _child(job: dict) -> None:
    """In the forked child: limits, guard, render, write result.json, exit."""
    os.setpgid(0, 0)
    gc.disable()  # a collection would touch (and copy) every page shared with the parent
    log = os.open(os.path.join(job["dir"], "log.txt"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.chdir(job["dir"])
    _limits(job)
    if job["lang"] == "matplotlib":
        _guard.install(job["dir"])
    result = _result(job)
    if _guard.TRIPPED:
        result = {"status": BLOCKED, "reason": _guard.TRIPPED[0]}
    with open(os.path.join(job["dir"], "result.json"), "w") as fh:
        json.dump(result, fh)
    os._exit(0)


def _sweep(keep: set[int]) -> None:
    """Kill every process of the jail but this one (we are in our own pid namespace)."""
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in keep:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(name), signal.SIGKILL)


class Standby:
    """A child forked ahead of time, waiting on a pipe for its job.

    Forking costs several milliseconds in a process that has matplotlib loaded; doing
    it right after a job, while the host prepares the next one, keeps it off the
    critical path.
    """

    def __init__(self) -> None:
        read_end, self.write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.write_end)
            try:
                with os.fdopen(read_end, "rb") as pipe:
                    data = pipe.read()
                if data:
                    _child(json.loads(data))
            finally:
                os._exit(70)
        os.close(read_end)

    def start(self, job: dict) -> int:
        os.write(self.write_end, json.dumps(job).encode())
        os.close(self.write_end)
        return self.pid


def _run_forked(job: dict, jailed: bool, standby: Standby) -> dict:
    pid = standby.start(job)
    pidfd = os.pidfd_open(pid)
    ready, _, _ = select.select([pidfd], [], [], job["timeout_s"])
    os.close(pidfd)
    timed_out = not ready
    if timed_out:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if jailed:
        _sweep({os.getpid(), 1})
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # leftovers of the child's group
    result_file = os.path.join(job["dir"], "result.json")
    if timed_out:
        return {"status": TIMEOUT, "reason": f"killed after {job['timeout_s']} s"}
    if os.path.isfile(result_file):
        with open(result_file) as fh:
            return json.load(fh)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    if sig == signal.SIGXCPU:
        return {"status": TIMEOUT, "reason": "CPU time limit"}
    if sig == signal.SIGXFSZ:
        return {"status": TOO_LARGE, "reason": "file size limit"}
    if sig is not None:
        return {"status": "crash", "reason": f"killed by signal {sig}"}
    return {"status": "crash", "reason": f"exited with {os.WEXITSTATUS(status)}"}


def main() -> None:
    jailed = os.environ.get("VAD_JAILED") == "1"
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    versions = _load(json.loads(sys.argv[1]))
    gc.freeze()  # forked children then leave the preloaded objects' pages alone
    proto.write(json.dumps({"ready": True, "versions": versions}) + "\n")
    standby = Standby()
    for line in sys.stdin:
        job = json.loads(line)
        started = time.monotonic()
        module = MODULES[job["lang"]]
        result = _run_forked(job, jailed, standby) if module.FORK else _result(job)
        result["elapsed_s"] = round(time.monotonic() - started, 4)
        result["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        proto.write(json.dumps(result) + "\n")
        if module.FORK:
            standby = Standby()  # after the sweep, which would have killed it


if __name__ == "__main__":
    main()

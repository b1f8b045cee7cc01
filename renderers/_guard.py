"""An audit hook for model-written Python: refuse what a drawing never needs.

This is not the security boundary (the jail is); it turns attempts at processes,
sockets, native code and files outside the job folder into a clear "blocked" result.
"""

from __future__ import annotations

import os
import sys

from _protocol import BLOCKED, RenderFailure

_DENY = {
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "pty.spawn", "socket.connect", "socket.bind", "socket.sendto",
    "socket.sendmsg", "socket.getaddrinfo", "ctypes.dlopen", "ctypes.dlsym",
    "ctypes.call_function", "os.kill", "os.killpg", "signal.pthread_kill", "os.chdir",
    "os.putenv", "os.unsetenv", "urllib.Request", "http.client.connect", "os.link",
    "os.symlink", "sys.setrecursionlimit",
}  # fmt: skip
TRIPPED: list[str] = []  # every refusal, even if the drawing code caught the exception
_WRITE_EVENTS = {
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.utime",
    "shutil.rmtree",
    "shutil.copyfile",
}


def install(job_dir: str) -> None:
    job_dir = os.path.realpath(job_dir)
    trusted = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        "/usr",
        "/etc/fonts",
        os.path.dirname(os.path.abspath(__file__)),
        *sys.path,
    }
    readable = tuple(os.path.realpath(p) + os.sep for p in trusted if p)
    readable += (job_dir + os.sep, "/dev/null", "/dev/urandom")

    def inside(path: object, allowed: tuple[str, ...]) -> bool:
        if isinstance(path, int):
            return True  # an fd already open
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        full = os.path.realpath(os.path.join(job_dir, str(path)))
        return full == job_dir or full.startswith(allowed) or full in allowed

    def refuse(reason: str) -> None:
        TRIPPED.append(reason)
        raise RenderFailure(BLOCKED, reason)

    def hook(event: str, args: tuple) -> None:
        if event in _DENY:
            refuse(f"{event} is not allowed in drawing code")
        if event == "open":
            path, mode, flags = args[0], args[1] or "r", args[2] or 0
            writing = any(c in str(mode) for c in "wax+") or flags & (
                os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
            )
            allowed = (job_dir + os.sep,) if writing else readable
            if path is not None and not inside(path, allowed):
                what = "write" if writing else "read"
                refuse(f"may not {what} {path}: outside the job folder")
        elif event in _WRITE_EVENTS:
            for arg in args[:2]:
                if isinstance(arg, str | bytes) and not inside(arg, (job_dir + os.sep,)):
                    refuse(f"{event} outside the job folder")

    sys.addaudithook(hook)

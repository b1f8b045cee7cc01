"""An audit hook for model-written Python: refuse what a drawing never needs.

This is not the security boundary (the jail is, and no test relies on this hook for
containment); it turns attempts at processes, sockets, native code and files outside
the job folder into a clear "blocked" result. Paths are judged by their characters
(``os.fspath`` and the str data itself, not a ``__str__`` the code may have
overridden), and the deny list is immutable.
"""

from __future__ import annotations

import os
import sys

from _protocol import BLOCKED, RenderFailure

_DENY = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "pty.spawn", "socket.connect", "socket.bind", "socket.sendto",
    "socket.sendmsg", "socket.getaddrinfo", "ctypes.dlopen", "ctypes.dlsym",
    "ctypes.call_function", "os.kill", "os.killpg", "signal.pthread_kill", "os.chdir",
    "os.putenv", "os.unsetenv", "urllib.Request", "http.client.connect", "os.link",
    "os.symlink", "sys.setrecursionlimit",
})  # fmt: skip
TRIPPED: list[str] = []  # every refusal, even if the drawing code caught the exception
_WRITE_EVENTS = frozenset(
    {
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
)


def _plain(path: object) -> str | int:
    """The path as the system call will see it (an fd stays an int)."""
    if isinstance(path, int):
        return path
    if not isinstance(path, str | bytes):
        path = os.fspath(path)  # type: ignore[arg-type]
    if isinstance(path, bytes):
        return bytes(path).decode(errors="replace")
    return str.__str__(path)  # the characters, whatever the subclass says


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
        try:
            plain = _plain(path)
        except TypeError:
            return False
        if isinstance(plain, int):
            return True  # an fd already open
        full = os.path.realpath(os.path.join(job_dir, plain))
        return full == job_dir or full.startswith(allowed) or full in allowed

    def refuse(reason: str) -> None:
        TRIPPED.append(reason)
        raise RenderFailure(BLOCKED, reason)

    def hook(event: str, args: tuple, deny: frozenset = _DENY) -> None:
        if event in deny:
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

"""The jobs' own memory cgroup, a child of the worker's (runs inside the jail; imports
nothing from vad).

The host binds the worker's memory cgroup at ``/cgroup`` (vad/render/jail.py), owned by
the jail's uid. A chain's supervisor S makes ``job-<pid>-<random>`` in it and keeps
descriptors to it; J, which forks every job's process, joins it before any job runs,
so every page a job's processes fault in (anonymous memory, tmpfs files, shared
memory) is charged there, bounded by the job's limit (set for each job), and an
out-of-memory kill there strikes J and the job's processes only, never the worker. S
reads a job's OOM kills from the cgroup (``memory``) and removes the cgroup when the
chain ends.

cgroup v1 (``memory.limit_in_bytes``, ``memory.oom_control``) and v2 (``memory.max``,
``memory.events``) alike; without ``/cgroup`` there is no job cgroup (the worker's own,
and RLIMIT_AS, still bound the job).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time

ROOT = "/cgroup"


def _read(dir_fd: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, 65536).decode("ascii", "replace")
    finally:
        os.close(fd)


def _write(dir_fd: int, name: str, value: str) -> None:
    fd = os.open(name, os.O_WRONLY, dir_fd=dir_fd)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


class JobCgroup:
    """``job-<pid>`` under the worker's memory cgroup, made by the supervisor."""

    def __init__(self, parent_fd: int, name: str) -> None:
        self.parent_fd, self.name = parent_fd, name
        os.mkdir(name, 0o700, dir_fd=parent_fd)
        self.fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=parent_fd)
        self.v2 = self._has("memory.max")
        # opened now: the job's first process writes "0" (itself) here, once
        self.procs_fd = os.open("cgroup.procs", os.O_WRONLY, dir_fd=self.fd)

    @classmethod
    def make(cls) -> JobCgroup | None:
        """The jobs' cgroup; None where the host bound none."""
        try:
            parent_fd = os.open(ROOT, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return None
        try:  # the host bound one: without the job cgroup no job may run (S fails)
            return cls(parent_fd, f"job-{os.getpid()}-{secrets.token_hex(4)}")
        except OSError:
            os.close(parent_fd)
            raise

    def _has(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd)
        except OSError:
            return False
        return True

    def limit(self, memory_bytes: int) -> None:
        """Bound the job's memory (the worker's limit bounds it too: it is the parent)."""
        if self.v2:
            _write(self.fd, "memory.max", str(memory_bytes))
            if self._has("memory.swap.max"):
                _write(self.fd, "memory.swap.max", "0")
        else:
            _write(self.fd, "memory.limit_in_bytes", str(memory_bytes))

    def enter(self) -> None:
        """Move the calling process into the job's cgroup (its children follow)."""
        os.write(self.procs_fd, b"0")

    def close_procs(self) -> None:
        """S keeps the directories (to read and remove), not the way in."""
        with contextlib.suppress(OSError):
            os.close(self.procs_fd)

    def close_in_child(self) -> None:
        for fd in (self.procs_fd, self.fd, self.parent_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def oom_kills(self) -> int:
        """How many of the job's processes the kernel killed for want of memory."""
        try:
            text = _read(self.fd, "memory.events" if self.v2 else "memory.oom_control")
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def remove(self, timeout_s: float = 5.0) -> None:
        """Kill whatever is left in it, wait until it is empty, remove it."""
        deadline = time.monotonic() + timeout_s
        if self.v2 and self._has("cgroup.kill"):
            with contextlib.suppress(OSError):
                _write(self.fd, "cgroup.kill", "1")
        while time.monotonic() < deadline:
            try:
                pids = _read(self.fd, "cgroup.procs").split()
            except OSError:
                pids = []
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            try:
                os.rmdir(self.name, dir_fd=self.parent_fd)
                break
            except OSError:
                time.sleep(0.002)
        self.close_in_child()

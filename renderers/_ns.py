"""Linux namespaces, mounts and capabilities for one job (runs inside the jail).

Imports nothing from vad. Every call raises OSError with the errno on failure.
"""

from __future__ import annotations

import ctypes
import os

_LIBC = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_LIBC.unshare(flags), "unshare")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _LIBC.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


MNT_DETACH = 2


def umount(target: str) -> None:
    """Detach the mount at ``target`` (lazily: gone once nothing uses it)."""
    _check(_LIBC.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def tmpfs(target: str, size: str, mode: str = "0755", ro: bool = False, inodes: int = 0) -> None:
    flags = MS_NOSUID | MS_NODEV | (MS_RDONLY if ro else 0)
    data = f"size={size},mode={mode}" + (f",nr_inodes={inodes}" if inodes else "")
    mount("tmpfs", target, "tmpfs", flags, data)


def prctl(option: int, value: int) -> None:
    _check(_LIBC.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl")


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def drop_all_capabilities() -> None:
    """Empty effective, permitted and inheritable sets; no privileges through exec."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_LIBC.capset(ctypes.byref(header), data), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


# x86-64 system calls no job needs and that reach past the job: the kernel keyrings
# (per uid, so they would outlive the job), tracing and other processes' memory, perf,
# BPF, userfaultfd, namespaces and mounts, io_uring.
DENIED_X86_64 = {
    "add_key": 248, "request_key": 249, "keyctl": 250, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "perf_event_open": 298,
    "bpf": 321, "userfaultfd": 323, "unshare": 272, "setns": 308, "mount": 165,
    "umount2": 166, "pivot_root": 155, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "kcmp": 312, "pidfd_getfd": 438, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "fsopen": 430, "fsmount": 432, "move_mount": 429,
    "open_tree": 428, "fanotify_init": 300, "fanotify_mark": 301,
    # kernel AIO: fs.aio-max-nr is one counter for the whole machine
    "io_setup": 206, "io_destroy": 207, "io_getevents": 208, "io_submit": 209,
    "io_cancel": 210, "io_pgetevents": 333,
}  # fmt: skip
# Also denied to a drawing (CPython, cairo, TeX, poppler never call them; a browser does):
# memory no process maps (memfds, SysV shared memory, POSIX message queues), semaphores
# and message queues that outlive their process, and inotify, whose instances count
# against a per-user limit of the host.
DENIED_DRAWING_X86_64 = {
    "memfd_create": 319, "memfd_secret": 447, "shmget": 29, "shmat": 30, "shmctl": 31,
    "shmdt": 67, "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220,
    "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "mq_open": 240,
    "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245, "inotify_init": 253, "inotify_add_watch": 254,
    "inotify_rm_watch": 255, "inotify_init1": 294,
}  # fmt: skip
# What each kind of job may not call: "drawing" (every renderer in the warm workers),
# "browser" (Chromium, which needs memfds, shared memory and inotify; its jobs run in a
# jail of their own, under a uid of their own).
PROFILES = {
    "drawing": {**DENIED_X86_64, **DENIED_DRAWING_X86_64},
    "browser": dict(DENIED_X86_64),
}
_AUDIT_ARCH_X86_64 = 0xC000003E
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO, _SECCOMP_RET_KILL = 0x7FFF0000, 0x00050000, 0
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


SECCOMP = os.uname().machine == "x86_64"  # whether deny_syscalls installs a filter here


def ioprio() -> int:
    """This process's I/O priority (ioprio_get, x86-64; 0 elsewhere)."""
    if not SECCOMP:
        return 0
    return int(_LIBC.syscall(252, 1, 0))  # ioprio_get(IOPRIO_WHO_PROCESS, self)


def deny_syscalls(profile: str = "drawing") -> bool:
    """A seccomp filter: the calls of ``profile`` (PROFILES) fail with EPERM (x86-64 only).

    Returns False (and installs nothing) on other architectures. Needs no_new_privs.
    An unknown profile raises KeyError (the job's process ends before its code runs).
    """
    denied = PROFILES[profile]
    if not SECCOMP:
        return False
    ld_w_abs, jeq, ret = 0x20, 0x15, 0x06
    numbers = sorted(set(denied.values()))
    prog = [(ld_w_abs, 0, 0, 4), (jeq, 1, 0, _AUDIT_ARCH_X86_64), (ret, 0, 0, _SECCOMP_RET_KILL),
            (ld_w_abs, 0, 0, 0)]  # fmt: skip
    # also deny the x32 ABI (numbers with bit 30 set): jump to EPERM if nr >= 0x40000000
    prog.append((0x35, len(numbers) + 1, 0, 0x40000000))  # jge
    for i, nr in enumerate(numbers):
        prog.append((jeq, len(numbers) - i, 0, nr))
    prog.append((ret, 0, 0, _SECCOMP_RET_ALLOW))
    prog.append((ret, 0, 0, _SECCOMP_RET_ERRNO | 1))  # EPERM
    filters = (_SockFilter * len(prog))(*[_SockFilter(*f) for f in prog])
    fprog = _SockFprog(len(prog), filters)
    _check(_LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")
    return True


def effective_capabilities() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0

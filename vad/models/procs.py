"""Child processes that end when vad ends, however it ends.

A build runs compilers several levels down (cmake, ninja, cc1plus). Each command runs
under a small keeper process in a session of its own: when vad stops (an error,
Ctrl-C, SIGTERM), the whole session is killed; when vad is killed outright (SIGKILL),
the kernel sends the keeper SIGTERM (``PR_SET_PDEATHSIG``) and the keeper kills the
session itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from typing import Any

# Resolved once, at import: the child between fork and exec must not load libraries.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM when the spawning thread ends.

    The signal is tied to the *thread* that started the child, so children are started
    only from threads that outlive them.
    """
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


# The keeper: argv is [parent pid, command...]. Its session holds every descendant.
_KEEPER = """
import os, signal, subprocess, sys
def end(*_):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGKILL)
signal.signal(signal.SIGTERM, end)
signal.signal(signal.SIGINT, end)
signal.signal(signal.SIGHUP, end)
if os.getppid() != int(sys.argv[1]):
    end()  # the parent died before the death signal was armed
code = subprocess.call(sys.argv[2:])
sys.exit(128 - code if code < 0 else code)
"""


def run_tree(cmd: list[str], **popen: Any) -> int:
    """Run ``cmd`` to its end and return its exit status; nothing of it outlives vad.

    ``popen`` takes ``stdout``, ``stderr``, ``cwd`` and ``env`` as ``subprocess.run``.
    Any exception here (KeyboardInterrupt from Ctrl-C or SIGTERM included) kills the
    command and everything it started before it propagates.
    """
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", _KEEPER, str(os.getpid()), *cmd],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
        **popen,
    )
    try:
        return proc.wait()
    finally:
        kill_tree(proc)


def kill_tree(proc: subprocess.Popen[Any]) -> None:
    """Kill the session that ``proc`` leads, then reap ``proc``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)

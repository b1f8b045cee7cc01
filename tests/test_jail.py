"""The jail itself, without the worker's audit hook: what raw code inside can reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openai_server import FakeOpenAI

from vad._paths import project_dir
from vad.render.jail import Cgroups, Limits, bwrap_command, jail_info

PROBE = r"""
import json, os, socket, sys, time
out = {}
def attempt(name, fn):
    try:
        out[name] = repr(fn())
    except BaseException as exc:
        out[name] = "ERR " + type(exc).__name__
attempt("passwd", lambda: open("/etc/passwd").read())
attempt("root_home", lambda: os.listdir("/root"))
attempt("write_usr", lambda: open("/usr/owned", "w"))
attempt("write_root", lambda: open("/owned", "w"))
attempt("write_job", lambda: open("/job/ok", "w").write("x"))
attempt("environ", lambda: open("/proc/self/environ").read())
def connect():
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")
    return s.recv(100)
attempt("loopback", connect)
attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
pids = 0
try:
    for _ in range(500):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        pids += 1
except OSError:
    pass
out["forks"] = pids
print(json.dumps(out))
"""


def test_raw_code_in_the_jail_reaches_nothing(tmp_path: Path) -> None:
    job, state = tmp_path / "job", tmp_path / "state"
    job.mkdir()
    state.mkdir()
    limits = Limits(max_pids=32)
    cgroups = Cgroups(f"vad-test-{os.getpid()}", limits)
    (job / "probe.py").write_text(PROBE)
    with FakeOpenAI() as server:
        port = server.api_base.split(":")[2].split("/")[0]
        jail = bwrap_command(
            job,
            state,
            project_dir("renderers"),
            [sys.executable, "-E", "-s", "/job/probe.py", port],
        )
        env = {"OPENAI_API_KEY": "sk-must-not-leak", "PATH": "/usr/bin"}

        def before_exec() -> None:
            cgroups.join()
            jail.prepare()

        try:
            done = subprocess.run(
                jail.argv, capture_output=True, text=True, timeout=60, env=env,
                preexec_fn=before_exec, pass_fds=jail.fds,
            )  # fmt: skip
        finally:
            jail.close()
            cgroups.remove()
        assert server.requests == []
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["passwd"] == "ERR FileNotFoundError"
    assert ".ssh" not in out["root_home"]  # at most the Python install's path exists
    assert out["write_usr"].startswith("ERR") and out["write_root"].startswith("ERR")
    assert out["write_job"] == "1" and (job / "ok").read_text() == "x"
    assert "sk-must-not-leak" not in out["environ"] and "OPENAI_API_KEY" not in out["environ"]
    assert out["loopback"] == "ERR ConnectionRefusedError"
    assert out["dns"].startswith("ERR")
    if "pids" in cgroups.kinds:
        assert out["forks"] < limits.max_pids
    else:
        pytest.skip("no pids cgroup on this machine: process count not bounded for root")


def test_jail_info_names_the_limits() -> None:
    info = jail_info(True)
    assert info["jailed"] is True and info["bwrap"].startswith("bubblewrap")
    assert jail_info(False) == {"jailed": False}


def test_the_jail_keeps_root_where_its_uid_cannot_enter_a_folder_it_shows(
    tmp_path: Path,
) -> None:
    """bwrap, run as the jail's own uid, makes the mount points of what it shows: a venv
    in a folder closed to other users (pytest's own temporary folders are 0700) could not
    be shown, so that jail stays root-mapped (and warns) instead of failing to start."""
    from vad.render.jail import _others_can_reach

    closed = tmp_path / "venv"
    (closed / "lib" / "renderers").mkdir(parents=True)
    os.chmod(closed, 0o700)
    assert not _others_can_reach([str(closed)])
    os.chmod(closed, 0o755)
    assert _others_can_reach([str(closed), str(closed / "lib" / "renderers")])
    os.chmod(closed / "lib", 0o750)  # between a shown folder and one shown inside it
    assert not _others_can_reach([str(closed), str(closed / "lib" / "renderers")])
    assert _others_can_reach([str(closed / "lib" / "renderers")])  # shown alone: a copy

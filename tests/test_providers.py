"""Model servers that misbehave, through the command line: a server that trickles bytes
is cut at the request's deadline, one that answers errors that will not pass stops the
command within seconds with one line, a spec file that is not a mapping is refused,
no child process outlives vad, and litellm is imported only where a model is called."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openai_server import FakeOpenAI

VAD = [sys.executable, "-m", "vad.cli"]
ROOT = Path(__file__).resolve().parent.parent


def _vad(*args: str, timeout: float = 90, env: dict[str, str] | None = None) -> tuple[
    subprocess.CompletedProcess[str], float
]:  # fmt: skip
    started = time.monotonic()
    done = subprocess.run([*VAD, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or os.environ.copy(), cwd=ROOT)  # fmt: skip
    return done, time.monotonic() - started


def _error(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("error:"))


def _spec(tmp_path: Path, server: FakeOpenAI, extra: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"models:\n  - name: openai/fake\n    api_base: {server.api_base}\n"
                    f"levels: [shapes]\nsandbox: false\n{extra}")  # fmt: skip
    return spec


# 9. One deadline per request -------------------------------------------------------------


@pytest.mark.slow
def test_a_server_that_trickles_bytes_is_cut_at_the_spec_timeout(tmp_path: Path) -> None:
    with FakeOpenAI(trickle=0.5) as server:  # a reply would take minutes
        spec = _spec(tmp_path, server, "limit: 1\nretry: {timeout: 2, max_retries: 0}\n")
        done, took = _vad("run", str(spec), "--no-progress")
        time.sleep(1.0)  # the server notices the closed connection at its next byte
        assert done.returncode == 1, done.stderr
        assert took < 20, took  # 2 s of request, not the reply's minutes
        assert "no complete reply within 2 s" in _error(done.stderr)
        assert server.trickle_cut == 1 and server.answered == 0  # the socket was closed


@pytest.mark.slow
def test_the_timeout_flag_bounds_each_try_and_retries_are_announced(tmp_path: Path) -> None:
    with FakeOpenAI(trickle=0.5) as server:
        done, took = _vad("draw", "--model", "openai/fake", "--api-base", server.api_base,
                          "--limit", "1", "--no-progress", "--no-sandbox",
                          "--timeout", "1.5", "--max-retries", "1")  # fmt: skip
        time.sleep(1.0)
        assert done.returncode == 1, done.stderr
        assert took < 20, took
        assert len(server.requests) == 2 and server.trickle_cut == 2
    assert f"retrying model openai/fake at {server.api_base}: no complete reply within " in (
        done.stderr
    )
    assert "try 2 of 2 in" in done.stderr


def test_a_bad_timeout_flag_is_refused_with_one_line(tmp_path: Path) -> None:
    done, _ = _vad("draw", "--model", "openai/fake", "--api-base", "http://127.0.0.1:9/v1",
                   "--timeout", "0")  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "error: command line: --timeout = 0.0: must be a number > 0 and <= 86400"
    )


# 10. Errors that will not pass stop the command; errors that pass are retried ------------


@pytest.mark.slow
def test_generate_against_an_html_page_stops_within_seconds(tmp_path: Path) -> None:
    with FakeOpenAI(broken="html") as server:
        done, took = _vad("generate", "--model", "openai/fake", "--api-base", server.api_base,
                          "--out", str(tmp_path / "set"), "--n", "5", "--level", "shapes",
                          "--no-progress", "--no-sandbox")  # fmt: skip
        asked = len(server.requests)
    assert done.returncode == 2, done.stderr
    assert took < 30, took
    assert asked <= 5 + 4  # a few calls, not 20 x 7 attempts
    assert _error(done.stderr) == (
        f"error: model openai/fake at {server.api_base}: a reply that is not in the OpenAI "
        "API's format (an HTML page), 5 calls in a row; check that the URL is the API's base "
        "(for OpenAI-compatible servers it often ends in /v1), not a web page"
    )


@pytest.mark.slow
def test_generate_takes_retry_settings_from_its_spec_and_stops_on_500s(tmp_path: Path) -> None:
    with FakeOpenAI(fail_first=10**6, fail_status=500, fail_html=True) as server:
        spec = tmp_path / "gen.yaml"
        spec.write_text(f"out: {tmp_path / 'set'}\nn: 5\nmodels: [openai/fake]\n"
                        f"api_base: {server.api_base}\nlevels: [shapes]\n"
                        "retry: {timeout: 5, base_delay: 0.05, max_delay: 0.1}\n")  # fmt: skip
        done, took = _vad("generate", str(spec), "--no-progress", "--no-sandbox")
    assert done.returncode == 2, done.stderr
    assert took < 30, took
    assert _error(done.stderr).startswith(
        f"error: model openai/fake at {server.api_base}: the server answered HTTP 500 "
        "(an HTML page), 5 calls in a row; check"
    )
    assert "retrying model openai/fake" in done.stderr  # the waits are said, not silent


def test_generate_refuses_a_bad_retry_field_naming_it(tmp_path: Path) -> None:
    spec = tmp_path / "gen.yaml"
    spec.write_text("out: set\nn: 5\nretry: {timout: 5}\n")
    done, _ = _vad("generate", str(spec))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {spec}: field 'retry.timout' = 5: unknown key; valid: max_retries, "
        "base_delay, max_delay, timeout"
    )


# A 404 repeats whatever is asked: the run stops after 5 calls. A 400 with an API's JSON
# error (a prompt too long for the context, a content filter) is the request's own fault:
# each sample fails and the run goes through them all.
@pytest.mark.parametrize(("status", "asked", "code"), [(404, 5, 2), (400, 8, 1)])
@pytest.mark.slow
def test_errors_that_repeat_stop_a_run_and_a_requests_own_do_not(
    tmp_path: Path, status: int, asked: int, code: int
) -> None:
    with FakeOpenAI(fail_first=10**6, fail_status=status) as server:
        done, took = _vad("draw", "--model", "openai/fake", "--api-base", server.api_base,
                          "--limit", "8", "--max-connections", "1", "--no-progress",
                          "--no-sandbox")  # fmt: skip
    assert len(server.requests) == asked and done.returncode == code, done.stderr
    if status == 400:
        assert "every sample failed (8 model_error)" in _error(done.stderr)
        return
    assert took < 30
    assert _error(done.stderr) == (
        f"error: model openai/fake at {server.api_base}: the server answered HTTP 404 (slow "
        "down), 5 calls in a row; check the URL (for OpenAI-compatible servers the API's base "
        "often ends in /v1) and the model's name"
    )


@pytest.mark.slow
def test_a_server_that_is_gone_stops_the_run_with_retries_off(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done, took = _vad("draw", "--model", "openai/fake", "--api-base",
                      f"http://127.0.0.1:{port}/v1", "--limit", "20", "--max-connections", "1",
                      "--max-retries", "0", "--no-progress", "--no-sandbox")  # fmt: skip
    assert done.returncode == 2, done.stderr
    line = _error(done.stderr)
    assert line.startswith(f"error: model openai/fake at http://127.0.0.1:{port}/v1: no answer")
    assert "5 calls in a row" in line and took < 60


@pytest.mark.slow
def test_a_run_waits_out_503s_saying_so(tmp_path: Path) -> None:
    with FakeOpenAI(fail_first=2, fail_status=503) as server:
        spec = _spec(tmp_path, server, "limit: 1\nretry: {base_delay: 0.05}\n")
        done, _ = _vad("run", str(spec), "--no-progress")
    assert done.returncode == 0, done.stderr
    lines = [x for x in done.stderr.splitlines() if x.startswith("retrying")]
    assert len(lines) == 2
    assert lines[0].startswith(
        f"retrying model openai/fake at {server.api_base}: the server answered HTTP 503 "
        "(slow down); try 2 of 7 in "
    )


# 11. Spec files that are not mappings; no child outlives vad ----------------------------


@pytest.mark.parametrize(("text", "what"), [("", "is empty"), ("# nothing\n", "is empty"),
                                            ("- a\n- b\n", "holds a list")])  # fmt: skip
@pytest.mark.slow
def test_an_empty_or_non_mapping_run_spec_is_refused(tmp_path: Path, text: str, what: str) -> None:
    spec = tmp_path / "empty.yaml"
    spec.write_text(text)
    done, _ = _vad("run", str(spec), timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: run spec {spec} {what}: a run spec is a mapping of fields (models, levels, "
        "languages, ...) as in runs/*.yaml"
    )


@pytest.mark.parametrize(("text", "what"), [("", "is empty"), ("7\n", "holds a int")])
@pytest.mark.slow
def test_an_empty_or_non_mapping_generation_spec_is_refused(
    tmp_path: Path, text: str, what: str
) -> None:
    spec = tmp_path / "gen.yaml"
    spec.write_text(text)
    done, _ = _vad("generate", str(spec), "--out", str(tmp_path / "set"), "--n", "1")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: generation spec {spec} {what}: a generation spec is a mapping of settings "
        "(out, n, models, ...: the flags' names)"
    )


FAKE_PIP = """
import os, subprocess, sys, time
kids = [subprocess.Popen(["sleep", "300"]) for _ in range(2)]
with open(os.environ["FAKE_PIDS"], "a") as f:
    f.write("".join(f"{p}\\n" for p in [os.getpid(), *(k.pid for k in kids)]))
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie has ended


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL])
def test_no_child_of_an_engine_build_outlives_vad(tmp_path: Path, sig: signal.Signals) -> None:
    """The build's first step (fetching sources with pip) stands for the whole build: a
    `pip` that starts two grandchildren and waits."""
    fake = tmp_path / "fake"
    (fake / "pip").mkdir(parents=True)
    (fake / "pip" / "__init__.py").write_text("")
    (fake / "pip" / "__main__.py").write_text(FAKE_PIP)
    pids = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(fake), "FAKE_PIDS": str(pids),
           "VAD_ENGINE_DIR": str(tmp_path / "engine")}  # fmt: skip
    env.pop("VAD_ENGINE_SDIST", None)
    vad = subprocess.Popen([*VAD, "engine", "build"], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (pids.is_file() and len(pids.read_text().split()) == 3):
            assert vad.poll() is None, vad.communicate()
            assert time.monotonic() < deadline, "the build's children never started"
            time.sleep(0.1)
        children = [int(p) for p in pids.read_text().split()]
        assert all(_alive(p) for p in children)
        vad.send_signal(sig)
        _, err = vad.communicate(timeout=30)
        assert vad.returncode == (143 if sig == signal.SIGTERM else -9), err
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [p for p in children if _alive(p)] == []
    finally:
        vad.kill()
        for pid in [int(p) for p in pids.read_text().split()] if pids.is_file() else []:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# 25. litellm is imported only where a model is called -----------------------------------


IMPORTED = (
    "import runpy, sys, atexit\n"
    "atexit.register(lambda: print('litellm imported:', 'litellm' in sys.modules, "
    "file=sys.stderr))\n"
    "sys.argv = ['vad', *sys.argv[1:]]\n"
    "runpy.run_module('vad.cli', run_name='__main__')\n"
)


@pytest.mark.parametrize(
    "args", [["models"], ["concepts", "--limit", "1"], ["runs"], ["engine", "info"]]
)
@pytest.mark.slow
def test_commands_that_call_no_model_never_import_litellm(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", IMPORTED, *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "litellm imported: False" in done.stderr


def test_an_openai_compatible_model_is_resolved_without_waiting_for_litellm(
    tmp_path: Path,
) -> None:
    """A run that fails before its first request does not wait seconds for the import."""
    done, took = _vad("draw", "--model", "openai/fake", "--api-base", "http://127.0.0.1:9/v1",
                      "--ids", "no-such-concept", "--no-sandbox")  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ")
    assert took < 3.0, took  # importing litellm alone takes about 5 s here

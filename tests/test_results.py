"""Results that never lie, through the real command against a loopback endpoint.

One writer per run folder; model errors never enter a rate; every bad spec value is
refused with its field; damaged lines, manifests and stores are named, never fatal;
Ctrl-C keeps what arrived.
"""

from __future__ import annotations

import base64
import csv
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from openai_server import FakeOpenAI

from vad.cli import main
from vad.render.pool import sweep_stale_folders
from vad.rundir import QUARANTINE, RunFolder, RunStateError, read_samples, scan_samples

VAD = [sys.executable, "-m", "vad.cli"]


def _draw_args(server: FakeOpenAI, limit: int = 4, *extra: str) -> list[str]:
    return [*VAD, "draw", "--model", "openai/fake", "--api-base", server.api_base,
            "--limit", str(limit), "--no-progress", *extra]  # fmt: skip


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def _samples(tmp_path: Path) -> Path:
    (found,) = list((tmp_path / "runs").glob("*/samples.jsonl"))
    return found


def _first_line(stderr: str, prefix: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith(prefix))


# 1. Two processes on one run folder ------------------------------------------------


@pytest.mark.slow
def test_a_second_writer_is_refused_and_names_the_first(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        server.gate.clear()  # the first run waits on its first request
        args = _draw_args(server, 6, "--max-connections", "1")
        first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not server.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            second = _run(args)
            server.gate.set()
            _, err = first.communicate(timeout=120)
        finally:
            first.kill()
        assert first.returncode == 0, err
        assert second.returncode == 2, second.stderr
        line = _first_line(second.stderr, "error:")
        assert f"is being written by another vad process (pid {first.pid} since" in line
        assert "--wait" in line
        records = read_samples(_samples(tmp_path))
        assert len(records) == len({r["sample_id"] for r in records}) == 6
        assert len(server.requests) == 6  # the second process asked nothing


@pytest.mark.slow
def test_wait_queues_behind_the_writer_then_finds_everything_done(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        server.gate.clear()
        args = _draw_args(server, 4, "--max-connections", "1")
        first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.Popen([*args, "--wait"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)  # fmt: skip
        lines: list[str] = []  # the second's stderr, read as it comes
        reader = threading.Thread(target=lambda: lines.extend(second.stderr), daemon=True)
        reader.start()
        deadline = time.monotonic() + 120  # the gate opens once the second is waiting
        while not any("waiting for pid" in ln for ln in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        server.gate.set()
        assert second.wait(timeout=120) == 0
        reader.join(timeout=30)
        stdout = second.stdout.read() if second.stdout else ""
        second = subprocess.CompletedProcess(second.args, 0, stdout, "".join(lines))
        assert first.wait(timeout=120) == 0
        assert "waiting for pid" in second.stderr
        assert "model calls: 0" in second.stderr and "already done: 4" in second.stderr
        assert len(read_samples(_samples(tmp_path))) == 4 and len(server.requests) == 4


@pytest.mark.slow
def test_a_killed_run_shows_as_interrupted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with FakeOpenAI(delay=0.3) as server:
        proc = subprocess.Popen(_draw_args(server, 8, "--max-connections", "1"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 60
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert main(["runs"]) == 0
        assert "running" in capsys.readouterr().out  # alive: its lock is held
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    manifest = json.loads((_samples(tmp_path).parent / "manifest.json").read_text())
    assert manifest["status"] == "running"  # what the killed process left
    assert main(["runs"]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert "interrupted" in row and "running" not in row
    assert main(["show", _samples(tmp_path).parent.name]) == 0
    assert "(interrupted)" in capsys.readouterr().out


def test_render_folders_of_dead_processes_are_swept(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"vad-render-{dead.pid}-0-abc"
    live = tmp_path / f"vad-render-{os.getpid()}-0-abc"
    other = tmp_path / "vad-render-notapid"
    recent = tmp_path / f"vad-render-{dead.pid}-1-abc"
    for folder in (stale, live, other, recent):
        (folder / "job").mkdir(parents=True)
    old = time.time() - 3600
    for folder in (stale, live, other):
        for path in (folder / "job", folder):
            os.utime(path, (old, old))
    assert sweep_stale_folders(tmp_path) == 1
    assert not stale.exists() and live.is_dir() and other.is_dir()
    assert recent.is_dir()  # a dead pid, but touched lately: maybe another pid namespace


# 2. API failures are not scores ----------------------------------------------------


@pytest.mark.slow
def test_model_errors_never_enter_a_rate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "flaky.yaml"
    with FakeOpenAI(fail_first=5, fail_status=429) as server:
        spec.write_text(
            f"models:\n  - name: openai/fake\n    api_base: {server.api_base}\n"
            "limit: 10\nmax_connections: 1\nretry: {max_retries: 0}\n"
        )
        done = _run([*VAD, "run", str(spec), "--no-progress"])
    assert done.returncode == 3, done.stderr  # some samples could not be scored
    line = _first_line(done.stderr, "warning:")
    assert "5 of 10 samples could not be scored (5 model_error)" in line
    assert "first model_error: openai/fake: RateLimitError" in line
    run = _samples(tmp_path).parent.name
    assert main(["leaderboard", run, "--out", str(tmp_path / "site")]) == 0
    (row,) = csv.DictReader((tmp_path / "site" / "draw.csv").open())
    assert row["render rate %"] == "100.00"  # 5 of the 5 replies rendered
    assert (row["n scored"], row["n asked"], row["not scored"]) == ("5", "10", "model_error 5")
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "| 5 / 10 | model_error 5 |" in markdown
    assert "model_error 5" in (tmp_path / "site" / "index.html").read_text()
    assert main(["show", run]) == 0
    assert "10 (5 scored, 5 not scored)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("server_args", "reason"),
    [
        ({"fail_first": 10**6, "fail_status": 500}, "InternalServerError"),
        ({"broken": "empty_choices"}, "ValueError: the provider's reply holds no choices"),
        ({"broken": "invalid_json"}, "openai/fake: "),
    ],
)
@pytest.mark.slow
def test_a_provider_that_never_answers_fails_the_run(
    tmp_path: Path, server_args: dict, reason: str
) -> None:
    with FakeOpenAI(**server_args) as server:
        spec = tmp_path / "down.yaml"
        spec.write_text(
            f"models:\n  - name: openai/fake\n    api_base: {server.api_base}\n"
            "limit: 2\nretry: {max_retries: 0}\n"
        )
        done = _run([*VAD, "run", str(spec), "--no-progress"])
    assert done.returncode == 1, done.stderr
    line = _first_line(done.stderr, "error:")
    assert "every sample failed (2 model_error)" in line and reason in line
    assert "run the same command again" in line


# 3. Bad spec values and flags ------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("levels: [shapes, objects]\nlimit: {shapes: 2, object: 3}\n",
         "field 'limit.object' = 3: unknown level; valid: shapes, objects"),
        ("retry: {timeout: five}\n", "field 'retry.timeout' = 'five': must be a number > 0"),
        ("limit: true\n", "field 'limit' = True: must be an integer >= 1"),
        ("recognize: {options: x}\n", "field 'recognize.options' = 'x': must be an integer"),
        ("correct: {rounds: -1}\n", "field 'correct.rounds' = -1: must be an integer"),
        ("rate_limits: {openai: {rpm: fast}}\n", "field 'rate_limits.openai.rpm' = 'fast'"),
    ],
)  # fmt: skip
def test_each_bad_spec_value_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, yaml: str, message: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("models: [openai/fake]\n" + yaml)
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {spec}: {message}" + err.split(message, 1)[1]
    assert len(err.strip().splitlines()) == 1 and not list(tmp_path.glob("runs/*"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-connections", "0"], "command line: --max-connections = 0: must be an integer"),
        (["--slots", "0"], "command line: --slots = 0: must be an integer"),
        (["--samples", "0"], "command line: --samples = 0: must be an integer"),
        (["--limit", "0"], "command line: --limit = 0: must be an integer >= 1"),
        (["--grace", "-1"], "command line: --grace = -1: must be a number >= 0"),
    ],
)
def test_bad_flags_read_like_bad_fields(
    capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    assert main(["draw", "--model", "openai/fake", *flags]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


@pytest.mark.slow
def test_rate_limits_must_name_a_provider_of_the_run(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    spec = tmp_path / "typo.yaml"
    spec.write_text("models: [openai/fake]\nrate_limits: {opnai: {rpm: 10}}\n")
    assert main(["run", str(spec)]) == 2
    assert (
        "field 'rate_limits.opnai' = {'rpm': 10}: no model of this run uses that provider; "
        "valid: openai" in capsys.readouterr().err
    )
    assert main(["draw", "--model", "openai/fake", "--rpm", "0"]) == 2
    assert "--rpm = 0.0: must be a number >= 0.01" in capsys.readouterr().err


# 4-5. Damaged state is named and never fatal ---------------------------------------


@pytest.mark.slow
def test_a_garbled_middle_line_is_quarantined_and_redone(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with FakeOpenAI() as server:
        args = _draw_args(server, 4)
        assert _run(args).returncode == 0
        samples = _samples(tmp_path)
        lines = samples.read_bytes().split(b"\n")
        lost = json.loads(lines[1])["sample_id"]
        lines[1] = b'{"sample_id": "x", "status": \xff garbled'
        samples.write_bytes(b"\n".join(lines))
        run = samples.parent.name
        # Every reader goes on and says what it skipped.
        assert main(["leaderboard", run, "--out", str(tmp_path / "site")]) == 0
        err = capsys.readouterr().err
        assert "1 damaged line(s) skipped (line 2: not UTF-8" in err
        (row,) = csv.DictReader((tmp_path / "site" / "draw.csv").open())
        assert (row["n scored"], row["n asked"]) == ("3", "4")  # asked: what the run planned
        assert main(["show", run]) == 0
        assert "1 damaged line(s) skipped (line 2" in capsys.readouterr().out
        # The next run moves it aside and redoes that sample from the response store.
        again = _run(args)
        assert again.returncode == 0, again.stderr
        assert "1 damaged line(s)" in again.stderr and QUARANTINE in again.stderr
        assert "model calls: 0, cache hits: 1, already done: 3" in again.stderr
    scan = scan_samples(samples)
    assert not scan.damaged and len(scan.records) == 4
    assert lost in {r["sample_id"] for _, r in scan.records}
    (moved,) = [json.loads(x) for x in (samples.parent / QUARANTINE).read_text().splitlines()]
    assert moved["line"] == 2 and "garbled" in moved["text"]
    assert base64.b64decode(moved["bytes_b64"]) == b'{"sample_id": "x", "status": \xff garbled'

    assert main(["show", run]) == 0
    assert "quarantine: 1 damaged line(s) moved aside" in capsys.readouterr().out


@pytest.mark.slow
def test_readers_skip_lines_whose_fields_have_the_wrong_type(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with FakeOpenAI() as server:
        assert _run(_draw_args(server, 2)).returncode == 0
    samples = _samples(tmp_path)
    good = json.loads(samples.read_text().splitlines()[0])
    with samples.open("a") as fh:
        for bad in ({"sample_index": "x"}, {"round": "a"}, {"image": 5},
                    {"prompt_tokens": "5"}, {"model": ["m"]}):  # fmt: skip
            fh.write(json.dumps({**good, "sample_id": f"bad-{len(bad)}-{next(iter(bad))}",
                                 **bad}) + "\n")  # fmt: skip
    run = samples.parent.name
    assert main(["leaderboard", run, "--out", str(tmp_path / "site")]) == 0
    assert "5 damaged line(s) skipped (line 3, 4, 5, 6, 7: field 'sample_index' is a str)" in (
        capsys.readouterr().err
    )
    assert main(["show", run]) == 0 and main(["runs"]) == 0
    (row,) = csv.DictReader((tmp_path / "site" / "draw.csv").open())
    assert row["n asked"] == "2"


@pytest.mark.slow
def test_a_damaged_manifest_is_named_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with FakeOpenAI() as server:
        args = _draw_args(server, 2)
        assert _run(args).returncode == 0
        folder = _samples(tmp_path).parent
        (folder / "manifest.json").write_text('{"run": "x", "status": ')
        assert main(["show", str(folder)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {folder / 'manifest.json'} is damaged (")
        assert "mv " in err and "run the same command again" in err
        assert main(["runs"]) == 0  # listed, not hidden
        out = capsys.readouterr()
        assert folder.name in out.out and "damaged" in out.out and "is damaged" in out.err
        assert _run(args).returncode == 2
        (folder / "manifest.json").rename(folder / "manifest.json.damaged")
        again = _run(args)  # the fix the message gives
        assert again.returncode == 0 and "already done: 2" in again.stderr


def test_a_garbage_response_store_is_named_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    store = tmp_path / "store.sqlite"
    store.write_bytes(os.urandom(4096))
    with FakeOpenAI() as server:
        code = main(["draw", "--model", "openai/fake", "--api-base", server.api_base,
                     "--limit", "1", "--cache", str(store), "--no-progress"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the response store {store} cannot be used (")
    assert f"mv {store} {store}.damaged" in err and "--cache" in err


def test_a_read_only_runs_folder_is_one_line(tmp_path: Path) -> None:
    runs = tmp_path / "ro"
    runs.mkdir()
    # A file where the run folder should go: no write can succeed, for root too.
    with FakeOpenAI() as server:
        (runs / "x").write_text("")
        done = _run([*_draw_args(server, 1), "--runs-dir", str(runs / "x")])
    assert done.returncode == 2, done.stderr
    line = _first_line(done.stderr, "error: ")
    assert "Not a directory. Check the path" in line and "Traceback" not in done.stderr


def test_a_failed_append_leaves_no_partial_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.open()
    folder.append({"sample_id": "a", "status": "ok"})
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:  # the disk fills mid-line
        if b'"b"' in bytes(data):
            real_write(fd, bytes(data)[:7])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(RunStateError, match=r"No space left on device\. Free some space"):
        folder.append({"sample_id": "b", "status": "ok"})
    monkeypatch.undo()
    folder.append({"sample_id": "c", "status": "ok"})
    folder.close()
    scan = scan_samples(folder.samples_path)
    assert [r["sample_id"] for _, r in scan.records] == ["a", "c"] and not scan.damaged


# 6. Ctrl-C --------------------------------------------------------------------------


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_slow(server: FakeOpenAI, extra: list[str]) -> subprocess.Popen[str]:
    # A shell started in the background hands its children SIGINT ignored (POSIX), and
    # Python keeps it so: give the run the default, as a terminal would.
    proc = subprocess.Popen(_draw_args(server, 6, "--max-connections", "2", *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_default)  # fmt: skip
    deadline = time.monotonic() + 60
    while len(server.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(server.requests) == 2, "the run did not get going"
    return proc


@pytest.mark.parametrize(
    ("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)
@pytest.mark.slow
def test_ctrl_c_keeps_the_replies_in_flight(tmp_path: Path, sent: int, code: int) -> None:
    """Ctrl-C, and SIGTERM (scancel, a Slurm time limit, a Kubernetes eviction) alike."""
    with FakeOpenAI(delay=2.0) as server:
        proc = _start_slow(server, [])
        proc.send_signal(sent)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert "stopping: no new requests; waiting up to 10 s for " in err
        assert len(server.requests) == 2  # nothing new after the Ctrl-C
        assert len(read_samples(_samples(tmp_path))) == 2  # both replies kept
        manifest = json.loads((_samples(tmp_path).parent / "manifest.json").read_text())
        session = manifest["sessions"][-1]
        assert session["status"] == "interrupted"
        assert session["signal"] == ("SIGTERM" if sent == signal.SIGTERM else "SIGINT")
        again = _run(_draw_args(server, 6, "--max-connections", "2"))
        assert again.returncode == 0, again.stderr
        assert "model calls: 4" in again.stderr and "already done: 2" in again.stderr
        assert len(server.requests) == 6


@pytest.mark.slow
def test_a_second_ctrl_c_quits_at_once_and_loses_nothing_that_arrived(tmp_path: Path) -> None:
    with FakeOpenAI(delay=20.0) as server:
        proc = _start_slow(server, ["--grace", "60"])
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 10  # not the 20 s of the requests in flight
        assert proc.returncode == 130, err
        assert "interrupted: run the same command again" in err
    manifest = json.loads((_samples(tmp_path).parent / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"

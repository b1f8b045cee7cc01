"""The embedded models: weight assembly, a real llama.cpp server, real requests."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vad.errors import ModelConfigError
from vad.models import ModelClient, SamplingParams, resolve_model
from vad.models import local as local_mod
from vad.models.client import RateLimiter
from vad.prompts import load_prompts
from vad.rundir import read_samples


def _tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digest: str | None = None):
    parts = []
    for i, data in enumerate([b"GGUF" + b"a" * 1000, b"b" * 777]):
        part = tmp_path / f"part{i}.bin"
        part.write_bytes(data)
        parts.append(part)
    whole = b"".join(p.read_bytes() for p in parts)
    model = local_mod.EmbeddedModel(
        "tiny",
        "test",
        ("tiny-pkg==1",),
        "tiny.gguf",
        digest or hashlib.sha256(whole).hexdigest(),
        len(whole),
        ("chat",),
    )
    monkeypatch.setitem(local_mod.EMBEDDED, "tiny", model)
    monkeypatch.setitem(local_mod._PARTS, "tiny", lambda: parts)
    monkeypatch.setenv("VAD_MODELS_DIR", str(tmp_path / "models"))
    return whole


def test_weights_are_assembled_once_and_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _tiny_model(tmp_path, monkeypatch)
    path = local_mod.weights_path("tiny")
    assert path.read_bytes() == whole
    mtime = path.stat().st_mtime_ns
    assert local_mod.weights_path("tiny") == path and path.stat().st_mtime_ns == mtime
    path.write_bytes(b"corrupted")  # changed file: verified again, then rebuilt
    assert local_mod.weights_path("tiny").read_bytes() == whole


def test_a_wrong_hash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tiny_model(tmp_path, monkeypatch, digest="0" * 64)
    with pytest.raises(ModelConfigError, match="expected 0000"):
        local_mod.weights_path("tiny")
    assert not list((tmp_path / "models").glob("tiny*"))


def _ask_embedded(name: str, style: str, caption: str, max_tokens: int):
    """Serve an embedded model, send one draw prompt; return reply, seconds, server."""
    model = resolve_model(name)
    values = {"caption": caption, "width": 224, "height": 224}
    prompt = load_prompts("draw").render("svg", style, values)
    with local_mod.serve(model.local, model.served_name) as server:
        client = ModelClient(model.with_api_base(server.api_base), RateLimiter(1))
        started = time.monotonic()
        reply = client.complete(prompt, SamplingParams(0.0, max_tokens, seed=1))
        elapsed = time.monotonic() - started
        pid = server.proc.pid
    return reply, elapsed, server, pid


@pytest.mark.slow
def test_qwen_answers_a_chat_request_and_the_server_stops() -> None:
    reply, elapsed, server, pid = _ask_embedded(
        "local/qwen2.5-coder-0.5b", "chat", "a red circle", 160
    )
    assert "<svg" in reply.text and reply.completion_tokens > 20
    print(f"qwen: {reply.completion_tokens / elapsed:.1f} tokens/s")
    assert reply.cost_usd == 0.0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{server.api_base}/models", timeout=2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.slow
def test_gemma_answers_a_completion_request() -> None:
    reply, _, _, _ = _ask_embedded("local/gemma-3-270m", "completion", "a blue square", 120)
    assert reply.completion_tokens > 0 and reply.text.strip()
    assert "Draw:" not in reply.text  # the stop sequence held


@pytest.mark.slow
def test_server_dies_with_a_killed_parent() -> None:
    code = (
        "import time\nfrom vad.models.local import serve\n"
        "with serve('gemma-3-270m', 'gemma-3-270m') as s:\n"
        "    print(s.proc.pid, flush=True)\n    time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    server_pid = int(parent.stdout.readline())
    os.kill(server_pid, 0)  # it is running
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{server_pid}/stat") as fh:
            if fh.read().split()[2] == "Z":  # exited, waiting to be reaped by init
                return
        time.sleep(0.2)
    pytest.fail("the model server outlived its parent")


@pytest.mark.slow
def test_vad_draw_on_the_embedded_model(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vad.cli",
            "draw",
            "--level",
            "shapes",
            "--limit",
            "2",
            "--max-tokens",
            "300",
            "--max-connections",
            "1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "model calls: 2" in done.stderr
    folder = next((tmp_path / "runs").glob("draw-*"))
    # one connection asked for: one request in flight, on an engine of one slot
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sessions"][-1]["engines"]["local/qwen2.5-coder-0.5b"]["slots"] == 1
    records = read_samples(folder / "samples.jsonl")
    assert len(records) == 2
    assert all(r["model"] == "local/qwen2.5-coder-0.5b" and r["raw_reply"] for r in records)
    for r in records:
        if r["status"] == "ok":
            assert (folder / r["image"]).is_file()


def _engine_pid(parent: int, other_than: int | None = None, timeout: float = 60) -> int:
    """The pid of the llama-server child of ``parent`` (a new one if ``other_than``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                comm = stat.with_name("comm").read_text().strip()
            except OSError:
                continue
            pid = int(stat.parent.name)
            alive = fields[0] != "Z"
            if int(fields[1]) == parent and comm == "llama-server" and pid != other_than and alive:
                return pid
        time.sleep(0.1)
    pytest.fail("no engine process found")


def _wait_for(found, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


@pytest.mark.slow
def test_a_dead_engine_stops_the_run_loudly_and_a_rerun_completes_it(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "vad.cli", "draw", "--model", "local/gemma-3-270m",
            "--level", "shapes", "--limit", "8", "--max-tokens", "120", "--slots", "2",
            "--no-progress"]  # fmt: skip
    err = tmp_path / "stderr.txt"
    with err.open("w") as fh:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=fh)
    first = _engine_pid(proc.pid)
    _wait_for(lambda: list((tmp_path / "runs").glob("draw-*/samples.jsonl")), "the run")
    folder = next((tmp_path / "runs").glob("draw-*"))
    log = folder / "logs" / "engine-gemma-3-270m.log"
    _wait_for(lambda: _lines(folder / "samples.jsonl") >= 1, "a first sample")
    os.kill(first, signal.SIGSEGV)  # one crash: restarted once
    second = _engine_pid(proc.pid, other_than=first)
    _wait_for(lambda: log.read_text(errors="replace").count("listening on") >= 2, "a restart")
    os.kill(second, signal.SIGSEGV)  # a second crash: the run stops
    killed = time.monotonic()
    code = proc.wait(timeout=60)
    stopped_in = time.monotonic() - killed
    stderr = err.read_text()
    assert code != 0 and stopped_in < 15, (code, stopped_in, stderr)
    assert "restarting it once" in stderr
    line = next(x for x in stderr.splitlines() if x.startswith("error:"))
    assert "local/gemma-3-270m" in line and "SIGSEGV" in line and str(log) in line
    assert "Likely fix" in line and "VAD_ENGINE_CPU" in line
    assert "Traceback" not in stderr and "Give Feedback" not in stderr
    before = read_samples(folder / "samples.jsonl")
    assert len(before) < 8
    assert not [r for r in before if r["status"] == "model_error"]  # not results
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "SIGSEGV" in manifest["sessions"][-1]["error"]

    rerun = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    records = read_samples(folder / "samples.jsonl")
    ids = [r["sample_id"] for r in records]
    assert len(ids) == len(set(ids)) == 8
    assert {r["sample_id"] for r in before} <= set(ids)
    assert not [r for r in records if r["status"] == "model_error"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["sessions"][-1]["engines"]["local/gemma-3-270m"]["slots"] == 2


@pytest.mark.slow
def test_parallel_slots_answer_concurrent_requests() -> None:
    model = resolve_model("local/gemma-3-270m")
    prompt = load_prompts("draw").render(
        "svg", "completion", {"caption": "a green star", "width": 224, "height": 224}
    )
    with local_mod.serve(model.local, model.served_name, slots=4) as server:
        client = ModelClient(model.with_api_base(server.api_base), RateLimiter(4))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            replies = list(
                pool.map(lambda s: client.complete(prompt, SamplingParams(0.8, 40, seed=s)),
                         range(4))
            )  # fmt: skip
        slots = json.loads(urllib.request.urlopen(f"{server.api_base[:-3]}/props").read())
    assert all(r.completion_tokens > 0 for r in replies)
    assert slots["total_slots"] == 4


def test_engine_threads_follow_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from vad.errors import EngineError

    monkeypatch.delenv("VAD_ENGINE_THREADS", raising=False)
    assert local_mod.engine_threads() == local_mod.cpu_count()
    monkeypatch.setenv("VAD_ENGINE_THREADS", "1")
    server = local_mod.LocalServer(Path("m.gguf"), "m")
    assert server.threads == 1
    command = server.command(Path("llama-server"))
    assert command[command.index("--threads") + 1] == "1"
    assert command[command.index("--threads-batch") + 1] == "1"
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("VAD_ENGINE_THREADS", bad)
        with pytest.raises(EngineError, match=f"VAD_ENGINE_THREADS={bad}: give a whole number"):
            local_mod.engine_threads()

"""`vad generate` through the real command, against a loopback endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from openai_server import FakeOpenAI
from vision_server import VisionServer

from vad.cli import main
from vad.concepts import load_concepts
from vad.generate.run import _part, label_dir, normalise_program
from vad.generate.strategies import stream
from vad.rundir import read_samples
from vad.train.data import image_root, list_images

VAD = [sys.executable, "-m", "vad.cli"]


def _args(server: FakeOpenAI, out: Path, n: int, *extra: str) -> list[str]:
    return ["generate", "--model", "openai/fake", "--api-base", server.api_base,
            "--out", str(out), "--n", str(n), "--level", "shapes", "--no-progress",
            "--max-connections", "2", *extra]  # fmt: skip


def _shard_ids(out: Path) -> list[str]:
    ids = []
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            ids += [m.name[:-4] for m in tar.getmembers() if m.name.endswith(".png")]
    return ids


def _check_set(out: Path, n: int) -> list[dict]:
    """Exactly ``n`` kept images, each once: files, records, shards and metadata agree."""
    records = read_samples(out / "samples.jsonl")
    kept = [r for r in records if r["status"] == "ok"]
    assert len(kept) == n and len({r["id"] for r in kept}) == n
    assert len({r["sample_id"] for r in records}) == len(records)
    meta = pd.read_parquet(out / "metadata.parquet")
    assert sorted(meta["id"]) == sorted(r["id"] for r in kept)
    assert sorted(_shard_ids(out)) == sorted(meta["id"])
    files, _labels, classes = list_images(image_root(out))
    assert len(files) == n  # what `vad train --data OUT` reads, one class per label
    assert classes == sorted({label_dir(r["label"]) for r in kept})
    assert not list(out.glob("shards/.*.tmp"))
    return records


@pytest.mark.slow
def test_generate_keeps_n_distinct_images_in_the_export_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        assert main(_args(server, out, 6, "--shard-size", "4")) == 0
    text = capsys.readouterr().out
    records = _check_set(out, 6)
    # The loopback model draws one circle per colour word: repeats are near-duplicates.
    dups = [r for r in records if r["status"] == "duplicate"]
    assert all(r["reason"].startswith("near-duplicate of ") for r in dups)
    assert f"kept 6 of {len(records)} drawings requested" in text
    assert "diversity: " in text and "distinct images (pHash)" in text
    assert [t.name for t in sorted((out / "shards").glob("*.tar"))] == [
        "shard-000000.tar", "shard-000001.tar"]  # fmt: skip
    summary = json.loads((out / "generate.json").read_text())
    assert summary["kept"] == 6 and summary["distinct_images"] == 6
    assert summary["per_strategy_language"] == [
        {"strategy": "vad", "language": "svg", "kept": 6, "requested": len(records)}]  # fmt: skip


@pytest.mark.slow
def test_a_larger_n_goes_on_and_asks_only_for_the_new_images(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        assert main(_args(server, out, 3)) == 0
        before = len(server.requests)
        assert main(_args(server, out, 3)) == 0
        assert len(server.requests) == before  # done: nothing asked
        assert main(_args(server, out, 5)) == 0
        capsys.readouterr()
        assert main(_args(server, out, 2)) == 0  # a smaller --n removes nothing, and says so
    assert "note: the set holds 5 images, more than --n 2" in capsys.readouterr().err
    _check_set(out, 5)


@pytest.mark.slow
def test_kill_9_then_resume_keeps_every_image_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "set"
    with FakeOpenAI(delay=0.15) as server:
        args = [*VAD, *_args(server, out, 8, "--shard-size", "3")]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            kept = [r for r in read_samples(out / "samples.jsonl") if r["status"] == "ok"]
            if len(kept) >= 4:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert 4 <= len(kept) < 8 and (out / "shards" / "shard-000000.tar").is_file()
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    _check_set(out, 8)
    assert len(list((out / "shards").glob("*.tar"))) == 3


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_the_set_resumes(tmp_path: Path) -> None:
    """What scancel, a Slurm time limit or a Kubernetes eviction sends."""
    out = tmp_path / "set"
    with FakeOpenAI(delay=0.3) as server:
        args = [*VAD, *_args(server, out, 8)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(server.requests) < 3:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 143, err
        assert "interrupted: run the same command again to resume" in err
        asked = len(server.requests)
        kept = [r for r in read_samples(out / "samples.jsonl") if r["status"] == "ok"]
        assert 0 < len(kept) < 8 and len(server.requests) == asked, err  # nothing after the stop
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    _check_set(out, 8)


@pytest.mark.slow
def test_compose_captions_are_seeded_and_recorded(tmp_path: Path) -> None:
    concepts = load_concepts(["shapes"])
    first = [next(stream("compose", concepts, 7)) for _ in range(1)]
    again = stream("compose", concepts, 7)
    assert next(again) == first[0] and len(first[0].sources) == 2
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        assert main(_args(server, out, 3, "--strategy", "compose")) == 0
    records = _check_set(out, 3)
    assert all("+" in r["label"] and len(r["sources"]) == 2 for r in records)
    assert all(r["strategy"] == "compose" and "template" in r["item"] for r in records)


@pytest.mark.slow
def test_other_settings_in_the_same_folder_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        assert main(_args(server, out, 2)) == 0
        assert main([*_args(server, out, 2), "--temperature", "0.5"]) == 2
    assert (
        "holds a generation made with other settings: --temperature was" in capsys.readouterr().err
    )
    assert main(["generate", "--out", str(out), "--n", "0"]) == 2
    assert "--n = 0: must be an integer" in capsys.readouterr().err


def test_a_provider_that_always_fails_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with FakeOpenAI(fail_first=10**6, fail_status=400) as server:
        assert main(_args(server, tmp_path / "set", 5)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # A 400 is each request's own error: the client goes on, the generation stops at 20.
    assert err[-1] == (
        "error: 20 model calls in a row failed; first: openai/fake: BadRequestError: the "
        "server answered HTTP 400 (slow down)"
    )
    with FakeOpenAI(fail_first=10**6, fail_status=404) as server:  # the server's: 5 calls
        assert main(_args(server, tmp_path / "set404", 5)) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: model openai/fake at {server.api_base}: the server answered HTTP 404 (slow "
        "down), 5 calls in a row; check the URL (for OpenAI-compatible servers the API's base "
        "often ends in /v1) and the model's name"
    )


def test_programs_are_compared_without_comments_and_spacing() -> None:
    a = '<svg>\n  <!-- a sun -->\n  <circle r="3"/>\n</svg>'
    b = '<svg> <circle r="3"/></svg>'
    assert normalise_program(a) == normalise_program(b)
    assert normalise_program("x = 1  # one\ny = 2") == normalise_program("x = 1\ny   = 2")


@pytest.mark.slow
def test_the_slurm_array_script_makes_disjoint_parts_that_merge(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    script = Path(__file__).resolve().parent.parent / "runs" / "generate.sbatch"
    out = tmp_path / "gen"
    with FakeOpenAI() as server:
        for task in ("0", "1"):
            env = {**os.environ, "SLURM_ARRAY_TASK_ID": task, "SLURM_ARRAY_TASK_COUNT": "2",
                   "VAD": f"{sys.executable} -m vad.cli", "VAD_MODEL": "openai/fake",
                   "VAD_API_BASE": server.api_base, "VAD_N": "3", "VAD_OUT": str(out)}  # fmt: skip
            done = subprocess.run(["bash", str(script)], env=env, capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
            assert done.returncode == 0, done.stderr
    parts = [_check_set(out / f"part-{i}", 3) for i in (0, 1)]
    ids = [{r["sample_id"] for r in part} for part in parts]
    assert not ids[0] & ids[1]  # disjoint work
    for part, records in enumerate(parts):  # each item belongs to one part, by its key
        assert {_part(r["sample_id"].split(":openai/")[0], 2) for r in records} == {part}
    assert main(["dataset", "merge", str(out / "part-0"), str(out / "part-1"),
                 "--out", str(out / "all"), "--no-progress"]) == 0  # fmt: skip
    meta = pd.read_parquet(out / "all" / "metadata.parquet")
    phashes = {r["phash"] for part in parts for r in part if r["status"] == "ok"}
    assert len(meta) == len(phashes) and set(meta["source"]) <= {"part-0", "part-1"}
    assert len(_shard_ids(out / "all")) == len(meta)


@pytest.mark.slow
def test_the_kubernetes_indexed_job_runs_the_same_parts(tmp_path: Path) -> None:
    """runs/k8s/generate-job.yaml: an Indexed Job whose pods run the Slurm script; each pod's
    command and environment, as Kubernetes would give them, make one disjoint part."""
    root = Path(__file__).resolve().parent.parent
    job = yaml.safe_load((root / "runs" / "k8s" / "generate-job.yaml").read_text())
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
    container = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["VAD_PARTS"]) == spec["completions"] == spec["parallelism"]
    assert container["command"] == ["bash", "runs/generate.sbatch"]
    out = tmp_path / "gen"
    with FakeOpenAI() as server:
        for index in range(2):  # two of the parts, each as its pod would run it
            pod_env = {**os.environ, **env, "JOB_COMPLETION_INDEX": str(index),
                       "VAD": f"{sys.executable} -m vad.cli", "VAD_MODEL": "openai/fake",
                       "VAD_API_BASE": server.api_base, "VAD_N": "2", "VAD_OUT": str(out),
                       "VAD_LANG": "svg,tikz"}  # fmt: skip
            done = subprocess.run(container["command"], cwd=root, env=pod_env,
                                  capture_output=True, text=True, timeout=180)  # fmt: skip
            assert done.returncode == 0, done.stderr
    parts = [_check_set(out / f"part-{i}", 2) for i in (0, 1)]
    keys = [{r["sample_id"].split(":openai/")[0] for r in part} for part in parts]
    assert not keys[0] & keys[1]
    for index, part_keys in enumerate(keys):
        assert {_part(key, int(env["VAD_PARTS"])) for key in part_keys} == {index}


@pytest.mark.slow
def test_max_cost_is_never_exceeded_and_a_larger_budget_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "set"
    # A model litellm prices; the loopback server answers for it.
    args = ["generate", "--model", "openai/gpt-4o-mini", "--out", str(out), "--n", "50",
            "--level", "shapes", "--max-tokens", "4096", "--no-progress"]  # fmt: skip
    with FakeOpenAI() as server:
        assert main([*args, "--api-base", server.api_base, "--max-cost", "0.003"]) == 4
        err = capsys.readouterr().err
        assert "stopped at the budget: $0.000" in err and "of $0.003 spent" in err
        first = len(server.requests)
        spent = sum(r.get("cost_usd") or 0 for r in read_samples(out / "samples.jsonl"))
        assert 0 < spent <= 0.003 and first > 5
        assert main([*args, "--api-base", server.api_base, "--max-cost", "0.004"]) == 4
        assert len(server.requests) > first  # goes on
    spent = sum(r.get("cost_usd") or 0 for r in read_samples(out / "samples.jsonl"))
    assert spent <= 0.004
    assert json.loads((out / "manifest.json").read_text())["status"] == "budget"


def test_max_cost_needs_a_known_price(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with FakeOpenAI() as server:
        assert main([*_args(server, tmp_path / "set", 2), "--max-cost", "1"]) == 2
    assert "--max-cost needs the price of openai/fake" in capsys.readouterr().err


@pytest.mark.slow
def test_estimate_extrapolates_from_the_first_drawings(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with FakeOpenAI() as server:
        assert main([*_args(server, tmp_path / "set", 1000), "--estimate"]) == 0
        assert len(server.requests) <= 8
    out = capsys.readouterr().out
    assert "estimate for --n 1000: about " in out and out.rstrip().endswith(
        "completion tokens, cost unknown (no price for this model in litellm's price map)"
    )


def _batch_args(server: FakeOpenAI, out: Path, n: int) -> list[str]:
    return [*_args(server, out, n), "--batch", "--batch-size", "6", "--batch-poll", "0.05"]


@pytest.mark.slow
def test_batches_fill_the_store_and_survive_failed_lines_and_expiry(tmp_path: Path) -> None:
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        server.batch_fail_every = 4  # lines 0 and 4 of every batch fail
        server.expire_first_batch = True  # and the first batch ends half way
        assert main(_batch_args(server, out, 5)) == 0
        live = [r for r in server.requests if r["path"].endswith("/chat/completions")]
        assert not live and server.batched  # every reply came through a batch
        assert len(server.batches) >= 2
        log = [json.loads(x) for x in (out / "batches.jsonl").read_text().splitlines()]
        collected = [e for e in log if e["event"] == "collected"]
        assert collected[0]["status"] == "expired" and collected[0]["failed"] >= 1
        assert {e["id"] for e in log if e["event"] == "submitted"} == {e["id"] for e in collected}
        records = _check_set(out, 5)
        assert all(r["status"] != "model_error" for r in records)
        # A later run of the same settings, batch or not, reads the replies from the store.
        before = len(server.requests)
        assert main([*_args(server, out, 5)]) == 0 and len(server.requests) == before


@pytest.mark.slow
def test_a_killed_run_collects_its_submitted_batch_instead_of_paying_twice(
    tmp_path: Path,
) -> None:
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        args = [*VAD, *_batch_args(server, out, 4)]
        args[args.index("0.05")] = "60"  # polls rarely: killed while it waits
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not server.batches and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the batch id is logged before the first poll
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert len(server.batches) == 1
        assert main(_batch_args(server, out, 4)) == 0
        first = server.batches["batch-1"]
        assert first["status"] == "completed"  # collected by the second run
        log = [json.loads(x) for x in (out / "batches.jsonl").read_text().splitlines()]
        assert next(e["id"] for e in log if e["event"] == "collected") == "batch-1"
    _check_set(out, 4)


@pytest.mark.slow
def test_proposed_concepts_are_parsed_deduplicated_saved_and_drawn(tmp_path: Path) -> None:
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        assert main(_args(server, out, 4, "--strategy", "propose")) == 0
        asked = len(server.requests)
        lists = [r for r in server.requests if "that someone could" in json.dumps(r)]
        assert len(lists) == 12  # one list per category
        assert main(_args(server, out, 4, "--strategy", "propose")) == 0
        assert len(server.requests) == asked  # the proposals come from the store too
    proposed = [json.loads(x) for x in (out / "proposed-concepts.jsonl").read_text().splitlines()]
    # "a red ball" three ways is one concept; the chatty line is not a noun phrase.
    assert sorted(p["caption"] for p in proposed) == ["a blue car", "a green tree",
                                                      "a red ball", "a yellow sun"]  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["proposed_concepts"]["count"] == 4
    assert manifest["proposed_concepts"]["per_category"] == {"animals": 4}  # then repeats
    records = _check_set(out, 4)
    assert {r["label"] for r in records} <= {p["id"] for p in proposed}
    assert all(r["strategy"] == "propose" for r in records)


@pytest.mark.slow
def test_variations_redraw_kept_programs_of_another_set(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    base, out = tmp_path / "base", tmp_path / "vary"
    with FakeOpenAI() as server:
        assert main(_args(server, base, 3)) == 0
        before = len(server.requests)
        assert main([*_args(server, out, 3, "--strategy", "vary"), "--from", str(base)]) == 0
        asks = [json.dumps(r) for r in server.requests[before:]]
        assert main([*_args(server, tmp_path / "x", 1, "--strategy", "vary")]) == 2
    assert "strategy vary needs --from DIR" in capsys.readouterr().err
    assert asks and all("Here is SVG code that draws" in a for a in asks)
    programs = {r["sample_id"]: r for r in read_samples(base / "samples.jsonl")}
    records = _check_set(out, 3)
    for r in records:
        assert r["strategy"] == "vary" and r["item"]["from"] in programs
        assert r["item"]["variation"] and "program" not in r["item"]
        assert r["label"] == programs[r["item"]["from"]]["label"]


@pytest.mark.slow
def test_a_spec_file_with_flags_over_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "gen.yaml"
    with FakeOpenAI() as server:
        spec.write_text(f"out: {tmp_path / 'set'}\nn: 2\nmodels: [openai/fake]\n"
                        f"api_base: {server.api_base}\nlevels: [shapes]\nsize: 32\n")  # fmt: skip
        assert main(["generate", str(spec), "--n", "3", "--no-progress"]) == 0
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert manifest["settings"]["size"] == 32  # from the file
    _check_set(tmp_path / "set", 3)  # --n from the command line
    spec.write_text("out: x\nn: 2\nsize: huge\n")
    assert main(["generate", str(spec)]) == 2
    assert f"error: {spec}: field 'size' = 'huge': must be an integer" in capsys.readouterr().err
    spec.write_text("out: x\nnn: 2\n")
    assert main(["generate", str(spec)]) == 2
    assert "field 'nn' = 2: unknown field; valid: out, n, models" in capsys.readouterr().err
    assert main(["generate", "--n", "3"]) == 2
    assert "command line: --out is missing" in capsys.readouterr().err
    assert main(["generate", "--out", "x", "--n", "2", "--shard", "2/2"]) == 2
    assert "command line: --shard = '2/2': must be I/N" in capsys.readouterr().err


@pytest.mark.slow
def test_anthropic_message_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        server.batch_fail_every = 3
        base = server.api_base[: -len("/v1")]
        args = ["generate", "--model", "anthropic/claude-haiku-4-5", "--api-base",
                base, "--out", str(out), "--n", "3", "--level", "shapes", "--no-progress",
                "--batch", "--batch-size", "5", "--batch-poll", "0.05"]  # fmt: skip
        assert main(args) == 0
        assert server.batched and not server.requests  # no request outside a batch
        assert all(b["id"].startswith("msgbatch_") for b in server.batches.values())
    records = _check_set(out, 3)
    priced = [r for r in records if r["status"] == "ok"]
    assert all(0 < r["cost_usd"] < 1e-4 for r in priced)  # half of the listed price


@pytest.mark.slow
def test_changed_shard_size_stray_images_and_odd_replies(tmp_path: Path) -> None:
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        assert main(_args(server, out, 6, "--shard-size", "2")) == 0
        assert len(list((out / "shards").glob("*.tar"))) == 3
        stray = out / "images" / "stray" / "0000.png"  # written just before a kill
        stray.parent.mkdir()
        stray.write_bytes(b"x")
        assert main(_args(server, out, 6, "--shard-size", "4")) == 0
    assert not stray.exists()
    assert [p.name for p in sorted((out / "shards").glob("*.tar"))] == [
        "shard-000000.tar", "shard-000001.tar"]  # fmt: skip
    _check_set(out, 6)
    with FakeOpenAI(broken="surrogate") as server:  # a lone surrogate in every reply
        assert main(_args(server, tmp_path / "odd", 2)) == 0
    _check_set(tmp_path / "odd", 2)


def test_labels_become_safe_folder_names() -> None:
    long = "x" * 300
    assert len(label_dir(long)) <= 80 and label_dir(long) != label_dir(long + "y")
    assert label_dir("..") == "_" and label_dir("a/b") == "a_b"


@pytest.mark.slow
def test_merge_keeps_parts_with_the_same_folder_name_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    a, b = tmp_path / "x" / "part-0", tmp_path / "y" / "part-0"
    with FakeOpenAI() as server:
        assert main(_args(server, a, 3)) == 0
        assert main(_args(server, b, 3, "--seed", "5")) == 0
    merged = tmp_path / "all"
    assert main(["dataset", "merge", str(a), str(b), "--out", str(merged), "--dedupe", "-1",
                 "--no-progress"]) == 0  # fmt: skip
    meta = pd.read_parquet(merged / "metadata.parquet")
    assert len(meta) == len(set(meta["id"])) == 6 == len(_shard_ids(merged))
    assert main(["dataset", "merge", str(a), str(a), "--out", str(tmp_path / "m2")]) == 2
    assert "is given twice" in capsys.readouterr().err


@pytest.mark.slow
def test_replies_from_the_store_cost_no_budget(tmp_path: Path) -> None:
    args = ["generate", "--model", "openai/gpt-4o-mini", "--n", "3", "--level", "shapes",
            "--no-progress"]  # fmt: skip
    with FakeOpenAI() as server:
        assert main([*args, "--api-base", server.api_base, "--out", str(tmp_path / "a")]) == 0
        asked = len(server.requests)
        # Another set of the same drawings: every reply is in the store, nothing is spent.
        assert main([*args, "--api-base", server.api_base, "--out", str(tmp_path / "b"),
                     "--max-cost", "0.000001"]) == 0  # fmt: skip
        assert len(server.requests) == asked
    summary = json.loads((tmp_path / "b" / "generate.json").read_text())
    assert summary["spent_usd"] == 0 and summary["cost_usd"] > 0


@pytest.mark.slow
def test_the_embedded_model_makes_a_set(tmp_path: Path) -> None:
    out = tmp_path / "set"
    code = main(["generate", "--n", "3", "--out", str(out), "--level", "shapes",
                 "--max-tokens", "300", "--slots", "2", "--no-progress"])  # fmt: skip
    assert code == 0
    _check_set(out, 3)
    manifest = json.loads((out / "manifest.json").read_text())
    (engine,) = manifest["sessions"][-1]["engines"].values()
    assert engine["slots"] == 2 and manifest["models"][0]["name"] == "local/qwen2.5-coder-0.5b"


def _ledger(out: Path) -> list[dict]:
    """The payments of a set's ledger; every request entered in flight was settled."""
    entries = [json.loads(x) for x in (out / "spend.jsonl").read_text().splitlines()]
    begun = {e["ref"] for e in entries if e["how"] == "in_flight"}
    assert begun == {e["settles"] for e in entries if e.get("settles")}
    return [e for e in entries if e["how"] != "in_flight"]


@pytest.mark.slow
def test_batched_replies_count_against_max_cost(tmp_path: Path) -> None:
    out, budget = tmp_path / "set", 0.0004
    with FakeOpenAI() as server:
        args = ["generate", "--model", "openai/gpt-4o-mini", "--api-base", server.api_base,
                "--out", str(out), "--n", "40", "--level", "shapes", "--max-tokens", "200",
                "--no-progress", "--batch", "--batch-size", "6", "--batch-poll", "0.01",
                "--max-cost", str(budget)]  # fmt: skip
        assert main(args) == 4  # stopped at the budget
        batched = len(server.batched)
    ledger = _ledger(out)
    assert len(ledger) == batched and {e["how"] for e in ledger} == {"batch"}
    summary = json.loads((out / "generate.json").read_text())
    assert 0 < summary["spent_usd"] <= budget
    assert summary["spent_usd"] == pytest.approx(sum(e["usd"] for e in ledger), abs=1e-6)
    paid = sum(r.get("cost_usd") or 0 for r in read_samples(out / "samples.jsonl"))
    assert paid <= sum(e["usd"] for e in ledger) + 1e-12


@pytest.mark.slow
def test_every_paid_reply_is_in_the_ledger_recorded_or_not(tmp_path: Path) -> None:
    # --n 2 with 8 connections: replies that finish after the second image are not
    # recorded (a later run reads them from the store), but they were paid for.
    out = tmp_path / "set"
    args = [
        "generate",
        "--model",
        "openai/gpt-4o-mini",
        "--out",
        str(out),
        "--n",
        "2",
        "--level",
        "shapes",
        "--no-progress",
        "--max-connections",
        "8",
        "--max-cost",
        "1",
    ]
    with FakeOpenAI(delay=0.3) as server:
        assert main([*args, "--api-base", server.api_base]) == 0
        asked = len(server.requests)
        # Near the end no more are in flight than twice the images still wanted.
        assert asked <= 6
        ledger = _ledger(out)
        assert len(ledger) == asked and len({e["key"] for e in ledger}) == asked
        spent = json.loads((out / "generate.json").read_text())["spent_usd"]
        # A larger --n reads the unrecorded replies from the store: free, and not
        # charged twice; the ledger gains only what is asked now.
        assert main([*args[:6], "4", *args[7:], "--api-base", server.api_base]) == 0
        new = len(server.requests) - asked
        assert len(_ledger(out)) == asked + new
    total = json.loads((out / "generate.json").read_text())["spent_usd"]
    assert total == pytest.approx(sum(e["usd"] for e in _ledger(out)), abs=1e-6) and total > spent


def test_batch_tries_are_read_from_the_log_not_added_up(tmp_path: Path) -> None:
    from vad.models.batch import BatchClient
    from vad.models.registry import resolve_model

    model = resolve_model("openai/fake", "http://127.0.0.1:9/v1")
    log = [{"event": "submitted", "model": model.name, "id": "b1", "keys": ["k"]},
           {"event": "collected", "model": model.name, "id": "b1"}]  # fmt: skip
    (tmp_path / "batches.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    client = BatchClient(model, tmp_path / "batches.jsonl", None, None)  # type: ignore[arg-type]
    for _ in range(3):  # once per chunk of a run
        assert client.outstanding() == []
    assert client.tries == {"k": 1}


@pytest.mark.slow
def test_merged_images_keep_their_ids_whatever_the_order(tmp_path: Path) -> None:
    a, b = tmp_path / "p0", tmp_path / "p1"
    with FakeOpenAI() as server:
        for i, folder in enumerate((a, b)):
            assert main(_args(server, folder, 3, "--shard", f"{i}/2")) == 0
    for name, order in (("ab", (a, b)), ("ba", (b, a))):
        assert main(["dataset", "merge", *map(str, order), "--out", str(tmp_path / name),
                     "--no-progress", "--dedupe", "-1"]) == 0  # fmt: skip
    parts = pd.concat([pd.read_parquet(p / "metadata.parquet") for p in (a, b)])
    for name in ("ab", "ba"):
        merged = pd.read_parquet(tmp_path / name / "metadata.parquet")
        assert sorted(merged["id"]) == sorted(parts["id"]) == sorted(_shard_ids(tmp_path / name))
        assert sorted(merged["sample_id"]) == sorted(parts["sample_id"])


def test_labels_in_any_script_stay_apart() -> None:
    assert label_dir("猫") == "猫" and label_dir("犬") == "犬"
    assert label_dir("ein Bär") == "ein_Bär" == label_dir("ein Ba\u0308r")  # NFC
    assert label_dir("किताब") != label_dir("कताब")  # a vowel sign is a mark, kept
    long = "\U0001d538" * 70  # 280 bytes of four-byte letters
    assert len(label_dir(long).encode()) <= 80 and label_dir(long) != label_dir(long + "x")
    from vad.dataset.export import label_dir as export_label_dir

    assert export_label_dir is label_dir  # a merge names classes as the generation did


@pytest.mark.slow
def test_sharded_proposals_come_from_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    first, parts = tmp_path / "proposing", [tmp_path / "p0", tmp_path / "part-1"]
    with FakeOpenAI() as server:
        sharded = _args(server, parts[0], 2, "--strategy", "propose", "--shard", "0/2")
        assert main(sharded) == 2
        assert "--proposals DIR/proposed-concepts.jsonl" in capsys.readouterr().err
        assert main(_args(server, first, 1, "--strategy", "propose")) == 0
        proposals = first / "proposed-concepts.jsonl"
        ids = {json.loads(x)["id"] for x in proposals.read_text().splitlines()}
        asked = len(server.requests)
        assert main(_args(server, parts[0], 2, "--strategy", "propose", "--shard", "0/2",
                          "--proposals", str(proposals))) == 0  # fmt: skip
        script = Path(__file__).resolve().parent.parent / "runs" / "generate.sbatch"
        env = {**os.environ, "SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2",
               "VAD": f"{sys.executable} -m vad.cli", "VAD_MODEL": "openai/fake",
               "VAD_API_BASE": server.api_base, "VAD_N": "2", "VAD_OUT": str(tmp_path),
               "VAD_STRATEGY": "propose", "VAD_PROPOSALS": str(proposals)}  # fmt: skip
        done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        new = server.requests[asked:]
        assert new and not [r for r in new if "that someone could" in json.dumps(r)]
        assert main(_args(server, tmp_path / "v", 1, "--proposals", str(proposals))) == 2
        assert "--proposals is for --strategy propose" in capsys.readouterr().err
    keys = [{r["sample_id"] for r in read_samples(p / "samples.jsonl")} for p in parts]
    assert not keys[0] & keys[1]
    for part in parts:
        assert {r["label"] for r in _check_set(part, 2)} <= ids
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"caption": "no id"}\n')
    with FakeOpenAI() as server:
        assert main(_args(server, tmp_path / "w", 1, "--strategy", "propose",
                          "--proposals", str(bad))) == 2  # fmt: skip
    assert "line 1, field 'id': missing or empty" in capsys.readouterr().err


@pytest.mark.slow
def test_training_on_an_unfinished_generation_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        assert main(_args(server, out, 2)) == 0
    assert image_root(out) == out / "images" and "warning" not in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    assert image_root(out) == out / "images"
    assert f"warning: {out} did not finish (status interrupted)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_batch_submitted_just_before_a_kill_is_found_by_its_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vad.models import batch

    real = batch.OpenAIBatches.submit_lines

    def killed_after_submitting(self: batch.OpenAIBatches, requests: list, token: str) -> str:
        real(self, requests, token)
        raise KeyboardInterrupt  # the provider has the batch; the log never got its id

    out = tmp_path / "set"
    with FakeOpenAI() as server:
        monkeypatch.setattr(batch.OpenAIBatches, "submit_lines", killed_after_submitting)
        assert main(_batch_args(server, out, 4)) != 0
        assert len(server.batches) == 1
        monkeypatch.setattr(batch.OpenAIBatches, "submit_lines", real)
        assert main(_batch_args(server, out, 4)) == 0
        assert server.batches["batch-1"]["status"] == "completed"  # collected, not redone
        bodies = [json.dumps(b, sort_keys=True) for b in server.batched]
        assert len(bodies) == len(set(bodies))  # no request paid twice
    log = [json.loads(x) for x in (out / "batches.jsonl").read_text().splitlines()]
    found = [e for e in log if e.get("recovered")]
    assert [e["id"] for e in found] == ["batch-1"]
    assert found[0]["token"] == next(e["token"] for e in log if e["event"] == "submitting")
    _check_set(out, 4)


@pytest.mark.slow
def test_stored_replies_go_on_when_the_budget_is_spent(tmp_path: Path) -> None:
    args = ["generate", "--model", "openai/gpt-4o-mini", "--level", "shapes", "--no-progress"]
    with FakeOpenAI() as server:
        base = [*args, "--api-base", server.api_base]
        assert main([*base, "--n", "3", "--out", str(tmp_path / "a")]) == 0
        asked = len(server.requests)
        out = tmp_path / "b"
        assert main([*base, "--n", "1", "--out", str(out), "--max-cost", "1"]) == 0
        with (out / "spend.jsonl").open("a") as fh:  # spent beyond the budget already
            fh.write(json.dumps({"key": "x", "usd": 5.0, "how": "reply"}) + "\n")
        # The next two replies are in the store (set a asked them): free, so they go on.
        assert main([*base, "--n", "3", "--out", str(out), "--max-cost", "1"]) == 0
        assert len(server.requests) == asked
        # Beyond what the store holds: refused, the budget being spent.
        assert (
            main([*base, "--n", "50", "--out", str(out), "--max-cost", "1"]) == 4
        )  # stopped at the budget
        assert len(server.requests) == asked


@pytest.mark.slow
def test_a_set_holding_one_sample_twice_merges_it_once(tmp_path: Path) -> None:
    a = tmp_path / "a"
    with FakeOpenAI() as server:
        assert main(_args(server, a, 3)) == 0
    table = pd.read_parquet(a / "metadata.parquet")
    pd.concat([table, table.iloc[:1]]).to_parquet(a / "metadata.parquet", index=False)
    merged = tmp_path / "m"
    assert main(["dataset", "merge", str(a), "--out", str(merged), "--dedupe", "-1",
                 "--no-progress"]) == 0  # fmt: skip
    meta = pd.read_parquet(merged / "metadata.parquet")
    assert len(meta) == 3 == len(set(meta["id"])) == len(_shard_ids(merged))
    rejected = pd.read_parquet(merged / "rejected.parquet")
    assert list(rejected["drop"]) == ["duplicate"]
    assert "the same sample id" in rejected["drop_reason"][0]


@pytest.mark.slow
def test_keep_if_keeps_only_drawings_whose_scores_pass_and_records_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The loopback model draws one centred circle in the caption's first colour: one part,
    so only single-shape concepts pass ``count``; groups and pairs are rejected, each
    with the verifier's reason, and every drawing's verdict is recorded."""
    out = tmp_path / "set"
    with FakeOpenAI() as server:
        assert main(_args(server, out, 4, "--keep-if", "count", "--max-requests", "200")) == 0
    records = _check_set(out, 4)
    concepts = {c.id: c for c in load_concepts(["shapes"])}
    for r in records:
        if r["status"] in ("ok", "rejected", "duplicate"):
            assert r["scores"]["verifier"]["version"].startswith("shapes-verifier/")
    kept = [r for r in records if r["status"] == "ok"]
    assert all(concepts[r["sources"][0]].attrs["kind"] == "single" for r in kept)
    rejected = [r for r in records if r["status"] == "rejected"]
    assert rejected and all(concepts[r["sources"][0]].attrs["kind"] != "single"
                            for r in rejected)  # fmt: skip
    assert all(r["reason"].startswith("count>=1 failed (") for r in rejected)
    meta = pd.read_parquet(out / "metadata.parquet")
    assert set(meta.columns) >= {"verified", "scores"}
    assert all(json.loads(s)["verifier"]["checks"]["count"] is True for s in meta["scores"])
    # the condition is part of what the set is: the same folder refuses another one
    with FakeOpenAI() as server:
        assert main(_args(server, out, 4, "--keep-if", "verified")) != 0
    assert "settings" in capsys.readouterr().err
    with FakeOpenAI() as server:  # a condition it cannot read is one line naming the scores
        assert main(_args(server, tmp_path / "other", 4, "--keep-if", "beauty>=3")) != 0
    err = capsys.readouterr().err
    assert "unknown score 'beauty'" in err and "verified" in err and not server.requests
    with FakeOpenAI() as server:  # nothing it could keep: refused before any request
        args = _args(server, tmp_path / "objects", 4, "--keep-if", "verified")
        args[args.index("shapes")] = "objects"
        assert main(args) != 0
    err = capsys.readouterr().err
    assert "checks drawings of shape concepts only" in err and not server.requests


def _judged_args(server: FakeOpenAI, judge: VisionServer, out: Path, n: int,
                 *extra: str) -> list[str]:  # fmt: skip
    return [*_args(server, out, n, "--judge", "openai/gpt-4o", "--judge-api-base",
                   judge.api_base), *extra]  # fmt: skip


@pytest.mark.slow
def test_keep_if_a_judges_fidelity_keeps_what_the_judge_rates(tmp_path: Path) -> None:
    """The loopback model draws a circle in the caption's first colour (teal when it names
    none); the loopback judge looks at each image and rates it 9 when the caption names
    the colour it sees, else 2. So drawings of objects ("a cat": teal) are rejected with
    the judge's reason, and shapes ("a red circle") kept, on any level."""
    out = tmp_path / "set"
    with FakeOpenAI() as server, VisionServer() as judge:
        args = _judged_args(server, judge, out, 4, "--level", "objects", "--keep-if",  # + shapes
                            "fidelity>=5", "--max-requests", "200")  # fmt: skip
        assert main(args) == 0
        asked = len(judge.requests)
        assert asked and all("Score:" in json.dumps(r["messages"]) for r in judge.requests)
        assert all(len(seen) == 1 for seen in judge.seen)  # one image per question
    records = _check_set(out, 4)
    scored = [r for r in records if r["status"] in ("ok", "rejected", "duplicate")]
    assert 0 < len(scored) <= asked  # (a drawing that finished after --n was reached: not kept)
    for r in scored:
        fid = r["scores"]["fidelity"]
        assert fid["judge"] == "openai/gpt-4o" and fid["prompt_version"] and fid["request_key"]
    kept = [r for r in records if r["status"] == "ok"]
    assert kept and all(r["scores"]["fidelity"]["score"] == 9 for r in kept)
    rejected = [r for r in records if r["status"] == "rejected"]
    assert rejected and all(r["scores"]["fidelity"]["score"] == 2 for r in rejected)
    assert all(r["reason"].startswith("fidelity>=5 failed (the drawing is ") for r in rejected)
    meta = pd.read_parquet(out / "metadata.parquet")
    assert all(json.loads(x)["fidelity"]["score"] == 9 for x in meta["scores"])


@pytest.mark.slow
def test_a_failed_judge_call_is_not_a_score_and_the_next_run_asks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A judge that answers 500 leaves each drawing unscored (model_error, not rejected),
    and the run stops once the judge's server failed 5 times in a row; the next run, with
    the judge up, draws from the response store and asks the judge only."""
    out = tmp_path / "set"
    with FakeOpenAI() as server, VisionServer() as judge:
        judge.fail_status = 500
        args = _judged_args(server, judge, out, 3, "--keep-if", "fidelity>=5",
                            "--max-connections", "1", "--max-requests", "60",
                            "--max-retries", "0")  # fmt: skip
        assert main(args) != 0
        assert "answered HTTP 500 (judge down), 5 calls in a row" in capsys.readouterr().err
        records = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
        # (a drawing rendering as the run stops may end as a crash: not scored either)
        failed = [r for r in records if r["status"] == "model_error"]
        assert failed and {r["status"] for r in records} <= {"model_error", "crash"}
        assert all(r["error"].startswith("judge openai/gpt-4o: ") for r in failed)
        drawn, failed_calls = len(server.requests), len(judge.requests)
        judge.fail_status = None
        assert main(args) == 0
        assert len(judge.requests) - failed_calls >= len(failed)  # each asked again
        # the drawings made before came from the store: nothing was drawn twice
        sent = [json.dumps(r, sort_keys=True) for r in server.requests]
        assert len(set(sent)) == len(sent) >= drawn
    records = _check_set(out, 3)
    assert not [r for r in records if r["status"] == "model_error"]
    assert all("fidelity" in r["scores"] for r in records if r["status"] != "blank")


@pytest.mark.slow
def test_keep_if_fidelity_is_refused_without_a_judge_that_sees(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with FakeOpenAI() as server, VisionServer(vision=False) as judge:
        assert main(_args(server, tmp_path / "a", 2, "--keep-if", "fidelity>=7")) != 0
        assert "give --judge MODEL" in capsys.readouterr().err
        for cond, said in (("fidelity>=11", "can never pass"), ("fidelity>=1", "keeps everything"),
                           ("fidelity<0.5", "can never pass")):  # fmt: skip
            assert main(_args(server, tmp_path / "b", 2, "--keep-if", cond)) != 0
            err = capsys.readouterr().err
            assert said in err and "fidelity is 1 to 10" in err
        args = _judged_args(server, judge, tmp_path / "c", 2, "--keep-if", "fidelity>=7")
        assert main(args) != 0  # a text-only judge: refused before any request
        assert "says it does not take images" in capsys.readouterr().err
        assert not server.requests and not judge.requests


@pytest.mark.slow
def test_a_judge_reply_without_a_score_is_rejected_with_that_reason(tmp_path: Path) -> None:
    out = tmp_path / "set"
    with FakeOpenAI() as server, VisionServer(reply="What a lovely drawing.") as judge:
        args = _judged_args(server, judge, out, 2, "--keep-if", "fidelity>=5",
                            "--max-requests", "6")  # fmt: skip
        assert main(args) == 1  # none kept, said in one line
    records = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    rendered = [r for r in records if r["status"] == "rejected"]
    assert rendered and all(r["reason"] == "fidelity>=5: the judge's reply gave no score"
                            for r in rendered)  # fmt: skip
    assert all(r["scores"]["fidelity"]["parsed"] is False for r in rendered)


@pytest.mark.slow
def test_the_judges_calls_count_against_max_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A drawing (gpt-4o-mini at the loopback server: $0.15/M in, $0.6/M out, 11 + 22
    tokens a reply) costs far less than a judge's question (gpt-4o, an image bounded at
    2,000 tokens): the budget stops the run at the judge, and never passes."""
    out, budget = tmp_path / "set", 0.03
    with FakeOpenAI() as server, VisionServer(usage=(1000, 10)) as judge:
        args = ["generate", "--model", "openai/gpt-4o-mini", "--api-base", server.api_base,
                "--out", str(out), "--n", "40", "--level", "shapes", "--no-progress",
                "--max-connections", "1", "--judge", "openai/gpt-4o", "--judge-api-base",
                judge.api_base, "--max-cost", str(budget)]  # fmt: skip
        assert main(args) == 4  # stopped at the budget
        asked = len(judge.requests)
    ledger = _ledger(out)
    judged = [e for e in ledger if e["usd"] == pytest.approx(1000 * 2.5e-6 + 10 * 1e-5)]
    assert asked and len(judged) == asked  # every judge call is in the ledger
    assert f"judge: {asked} drawings rated, cost ${asked * 0.0026:.4f}" in capsys.readouterr().out
    summary = json.loads((out / "generate.json").read_text())
    assert 0 < summary["spent_usd"] <= budget
    assert summary["spent_usd"] == pytest.approx(sum(e["usd"] for e in ledger), abs=1e-6)
    records = read_samples(out / "samples.jsonl")
    assert all("fidelity" in r["scores"] for r in records if r["status"] in ("ok", "duplicate"))

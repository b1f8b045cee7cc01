"""The real `vad` command, in a subprocess, against a loopback server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from openai_server import FakeOpenAI

from vad.rundir import read_samples

VAD = [sys.executable, "-m", "vad.cli"]


def _vad(
    *args: str, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VAD, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        cwd=cwd,
    )


def test_help_documents_every_option() -> None:
    out = _vad("draw", "--help").stdout
    for option in (
        "--model",
        "--level",
        "--lang",
        "--samples",
        "--limit",
        "--max-connections",
        "--temperature",
        "--max-tokens",
        "--seed",
        "--api-base",
        "--runs-dir",
        "--rpm",
        "--style",
        "--concepts",
    ):
        assert option in out
    assert "run a spec file" in _vad("--help").stdout


@pytest.mark.slow
def test_draw_runs_show_through_the_command(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    args = [
        "draw",
        "--model",
        "openai/fake",
        "--api-base",
        fake_openai.api_base,
        "--level",
        "shapes,objects",
        "--limit",
        "2",
        "--samples",
        "2",
        "--no-progress",
    ]
    done = _vad(*args)
    assert done.returncode == 0, done.stderr
    assert "model calls: 8, cache hits: 0" in done.stderr
    assert "rendered (draw, correct)" in done.stdout and "images:" in done.stdout
    again = _vad(*args)
    assert "model calls: 0, cache hits: 0, already done: 8" in again.stderr
    listing = _vad("runs").stdout
    assert "finished" in listing and "openai/fake" in listing
    name = listing.splitlines()[2].split()[0]
    shown = _vad("show", name[:8])
    assert shown.returncode == 0 and "by status: {'ok': 8}" in shown.stdout


@pytest.mark.slow
def test_relative_runs_dir(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    done = _vad(
        "draw",
        "--model",
        "openai/fake",
        "--api-base",
        fake_openai.api_base,
        "--limit",
        "2",
        "--runs-dir",
        "rel/out",
        "--no-progress",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    records = read_samples(next((tmp_path / "rel" / "out").glob("draw-*")) / "samples.jsonl")
    assert [r["status"] for r in records] == ["ok", "ok"]


@pytest.mark.slow
def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,level,caption\nx,shapes,\n")
    cases = [
        (["draw", "--model", "acme/x"], "unknown provider 'acme'"),
        (["draw", "--concepts", str(bad)], f"{bad}, line 2, field 'caption'"),
        (["draw", "--level", "animals"], "--level = 'animals': unknown level; valid: shapes"),
        (["run", str(tmp_path / "none.yaml")], "does not exist"),
        (["show", "nope"], "no run 'nope'"),
    ]
    for args, message in cases:
        done = _vad(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_run_spec_file(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    spec = tmp_path / "mini.yaml"
    spec.write_text(
        f"models:\n  - name: openai/fake\n    api_base: {fake_openai.api_base}\n"
        "levels: [scenes]\nlimit: 3\ntemperature: 0.2\n"
    )
    done = _vad("run", str(spec), "--no-progress")
    assert done.returncode == 0, done.stderr
    folder = next((tmp_path / "runs").glob("mini-*"))
    records = read_samples(folder / "samples.jsonl")
    assert len(records) == 3 and all(r["temperature"] == 0.2 for r in records)


@pytest.mark.slow
def test_kill_9_then_rerun_completes_every_sample_exactly_once(tmp_path: Path) -> None:
    with FakeOpenAI(delay=0.15) as server:
        args = [
            *VAD,
            "draw",
            "--model",
            "openai/fake",
            "--api-base",
            server.api_base,
            "--level",
            "shapes",
            "--limit",
            "30",
            "--max-connections",
            "2",
            "--no-progress",
        ]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs = tmp_path / "runs"
        deadline = time.monotonic() + 90
        samples: Path | None = None
        while time.monotonic() < deadline:
            found = list(runs.glob("draw-*/samples.jsonl"))
            if found and len(found[0].read_text().splitlines()) >= 8:
                samples = found[0]
                break
            time.sleep(0.05)
        assert samples is not None, "the run did not get going"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = len(read_samples(samples))
        assert 8 <= before < 30
        calls_before = len(server.requests)
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        records = read_samples(samples)
        ids = [r["sample_id"] for r in records]
        assert len(ids) == len(set(ids)) == 30
        assert all(r["status"] == "ok" for r in records)
        # Only requests in flight at the kill may be made twice.
        assert len(server.requests) - calls_before <= 30 - before
        assert len(server.requests) <= 30 + 2 * 2
        manifest = json.loads((samples.parent / "manifest.json").read_text())
        assert manifest["status"] == "finished" and len(manifest["sessions"]) == 2
        assert manifest["sessions"][0].get("status") is None  # the killed session never closed


@pytest.mark.slow
def test_a_run_in_which_every_sample_failed_exits_non_zero(tmp_path: Path) -> None:
    spec = tmp_path / "down.yaml"
    with FakeOpenAI(fail_first=10**6, fail_status=500) as server:
        spec.write_text(
            f"models:\n  - name: openai/fake\n    api_base: {server.api_base}\n"
            "levels: [shapes]\nlimit: 3\nretry: {max_retries: 1, base_delay: 0.01}\n"
        )
        done = _vad("run", str(spec), "--no-progress")
        assert len(server.requests) == 3 * 2  # one retry each, no storm
        assert done.returncode == 1, done.stderr
        line = next(x for x in done.stderr.splitlines() if x.startswith("error:"))
        assert "every sample failed (3 model_error)" in line and "InternalServerError" in line
        assert "run the same command again" in line
        assert "Give Feedback" not in done.stderr and "LiteLLM" not in done.stderr
        # When the server is back, the same command redoes exactly the failed samples.
        server.fail_first = 0
        again = _vad("run", str(spec), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "model calls: 3" in again.stderr and "warning" not in again.stderr


@pytest.mark.slow
def test_some_failed_samples_are_reported_and_not_results(tmp_path: Path) -> None:
    with FakeOpenAI(fail_first=1, fail_status=400) as server:
        done = _vad("draw", "--model", "openai/fake", "--api-base", server.api_base,
                    "--limit", "3", "--max-connections", "1", "--no-progress")  # fmt: skip
    assert done.returncode == 3, done.stderr  # some samples could not be scored
    assert (
        "warning: 1 of 3 samples could not be scored (1 model_error) and are not results; "
        "first model_error: openai/fake: BadRequestError" in done.stderr
    )


def _subparsers(parser: Any) -> dict[str, Any]:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_has_its_handler() -> None:
    from vad.cli import _build_parser

    def leaves(parser: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
        subs = _subparsers(parser)
        if not subs:
            return [(path, parser)]
        return [leaf for name, p in subs.items() for leaf in leaves(p, (*path, name))]

    found = leaves(_build_parser(), ())
    paths = {path for path, _ in found}
    assert {("bench", "render"), ("bench", "train"), ("bench", "generate"), ("draw",),
            ("leaderboard",), ("dataset", "export"), ("engine", "build")} <= paths  # fmt: skip
    for path, parser in found:
        assert callable(parser.get_default("func")), path


def test_bench_subcommands_keep_their_options() -> None:
    from vad.cli import _build_parser

    parse = _build_parser().parse_args
    args = parse(["bench", "train", "--arch", "resnet50", "--sizes", "224"])
    assert (args.arch, args.sizes, args.batch_size, args.steps) == ("resnet50", "224", 128, 5)
    args = parse(["bench", "render", "--n", "4", "--lang", "svg", "--repeat", "1"])
    assert (args.n, args.lang, args.repeat) == (4, ["svg"], 1)
    args = parse(["bench", "generate", "--slots", "1,2", "--max-tokens", "32"])
    assert (args.slots, args.max_tokens, args.samples, args.n) == ("1,2", 32, 2, 20)


def test_leaderboard_gets_its_clip_scorer_as_an_argument(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from vad import cli

    seen: dict[str, Any] = {}

    def build(
        runs: list[str], out: Path, root: str | None, clip: Any, warn: Any, votes: Any = None
    ) -> Path:
        seen["clip"] = clip
        return Path(out)

    monkeypatch.setattr("vad.leaderboard.build_leaderboard", build)
    for name in ("VAD_CLIP_MODEL", "VAD_CLIP_WEIGHTS", "VAD_CLIP_PRETRAINED"):
        monkeypatch.delenv(name, raising=False)
    missing = str(tmp_path / "missing.pt")
    argv = ["leaderboard", "x", "--out", str(tmp_path), "--clip-weights", missing]
    assert cli.main(argv) == 0
    assert isinstance(seen["clip"], str) and "CLIP scores unavailable" in seen["clip"]
    assert "VAD_CLIP_WEIGHTS" not in os.environ


@pytest.mark.slow
def test_the_max_connections_flag_wins_over_the_specs_provider_cap(tmp_path: Path) -> None:
    with FakeOpenAI(delay=0.5) as server:
        spec = tmp_path / "spec.yaml"
        spec.write_text(
            f"models: [{{name: openai/fake, api_base: '{server.api_base}'}}]\n"
            "tasks: [draw]\nlevels: [shapes]\nlimit: 6\n"
            "rate_limits: {openai: {max_connections: 1, rpm: 6000}}\n",
            encoding="utf-8",
        )
        capped = _vad("run", str(spec), "--run-name", "capped", "--no-progress")
        assert capped.returncode == 0, capped.stderr
        assert server.peak == 1  # the spec's cap
        server.peak = 0
        wide = _vad("run", str(spec), "--run-name", "wide", "--max-connections", "3",
                    "--cache", str(tmp_path / "other.sqlite"), "--no-progress")  # fmt: skip
        assert wide.returncode == 0, wide.stderr
        assert server.peak == 3  # the flag

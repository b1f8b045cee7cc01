"""`vad leaderboard` through the real command: rows keyed by what changes the reply,
each request counted once, planned counts, unfinished runs flagged on every page, no
control character in the HTML, no CLIP import without weights, exact run names, and a
site that is replaced whole or not at all."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openai_server import FakeOpenAI

VAD = [sys.executable, "-m", "vad.cli"]


def _vad(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAD_CLIP")}
    return subprocess.run([*VAD, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)  # fmt: skip


def _draw(server: FakeOpenAI, name: str, *extra: str, models: tuple[str, ...] = ("openai/fake",)
          ) -> list[str]:  # fmt: skip
    args = [*VAD, "draw", "--api-base", server.api_base, "--level", "shapes", "--limit", "2",
            "--name", name, "--no-progress", *extra]  # fmt: skip
    for model in models:
        args += ["--model", model]
    return args


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _rows(site: Path, table: str = "draw") -> list[dict[str, str]]:
    with (site / f"{table}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _pages(site: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in site.glob("*.html")}


@pytest.mark.slow
def test_a_request_asked_by_two_runs_counts_once(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    _run(_draw(fake_openai, "two", "--samples", "2"))
    _run(_draw(fake_openai, "three", "--samples", "3"))
    assert len(fake_openai.requests) == 6  # the second run's first 4 came from the store
    out = tmp_path / "site"
    done = _vad("leaderboard", "two", "three", "--out", str(out))
    assert done.returncode == 0, done.stderr
    (row,) = _rows(out)
    assert (row["n scored"], row["n asked"]) == ("6", "6")  # 2 concepts x 3 samples
    assert "6 samples from 2 runs" in (out / "index.html").read_text()
    evidence = [json.loads(line) for line in (out / "evidence.jsonl").open()]
    assert sum(len(lines) for cell in evidence for lines in cell["lines"].values()) == 6


@pytest.mark.slow
def test_runs_at_other_settings_are_other_rows(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    _run(_draw(fake_openai, "hot", "--temperature", "0.8", "--max-tokens", "768"))
    _run(_draw(fake_openai, "cold", "--temperature", "0", "--max-tokens", "64"))
    out = tmp_path / "site"
    done = _vad("leaderboard", "hot", "cold", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert sorted((r["temperature"], r["max tokens"], r["n asked"]) for r in rows) == [
        ("0.0", "64", "2"), ("0.8", "768", "2")
    ]  # fmt: skip
    index = (out / "index.html").read_text()
    assert "<th>temperature</th>" in index and "<th>max tokens</th>" in index
    assert "<td>0.8</td><td>768</td>" in index and "<td>0.0</td><td>64</td>" in index
    assert "| temperature | max tokens |" in (out / "leaderboard.md").read_text()


@pytest.mark.slow
def test_runs_with_other_task_options_are_other_rows(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    for name, options in (("k3", 3), ("k5", 5), ("k5-again", None)):  # None: the default, 5
        block = {"modes": ["choice"], **({"options": options} if options else {})}
        spec = {"name": name, "models": [{"name": "openai/fake", "api_base": fake_openai.api_base}],
                "tasks": ["recognize"], "levels": ["shapes"], "limit": 2, "languages": ["svg"],
                "recognize": block}  # fmt: skip
        path = tmp_path / f"{name}.yaml"
        path.write_text(json.dumps(spec))
        _run([*VAD, "run", str(path), "--no-progress"])
    out = tmp_path / "site"
    done = _vad("leaderboard", "k3", "k5", "k5-again", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = sorted((r["task options"], r["n asked"]) for r in _rows(out, "recognize"))
    assert rows == [("options=3", "2"), ("options=5", "2")]  # the default is options=5


@pytest.mark.slow
def test_chains_of_other_lengths_are_other_rows(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    for rounds in (1, 2):  # both chains begin with the same round 0 request
        spec = {"name": f"r{rounds}", "tasks": ["correct"], "levels": ["shapes"], "limit": 1,
                "models": [{"name": "openai/fake", "api_base": fake_openai.api_base}],
                "languages": ["svg"], "correct": {"rounds": rounds}}  # fmt: skip
        path = tmp_path / f"r{rounds}.yaml"
        path.write_text(json.dumps(spec))
        _run([*VAD, "run", str(path), "--no-progress"])
    out = tmp_path / "site"
    done = _vad("leaderboard", "r1", "r2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = _rows(out, "correct")
    assert sorted(r["task options"] for r in rows) == ["rounds=1"] * 2 + ["rounds=2"] * 3
    assert {r["n asked"] for r in rows} == {"1"}


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_an_interrupted_run_is_flagged_with_its_planned_rows(tmp_path: Path) -> None:
    runs = Path(os.environ["VAD_RUNS_DIR"])
    with FakeOpenAI(delay=1.0) as server:
        proc = subprocess.Popen(
            _draw(server, "cut", "--samples", "2", "--max-connections", "1",
                  models=("openai/fake", "openai/other")),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_sigint_default,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 143, err
    (folder,) = runs.glob("cut-*")
    written = len((folder / "samples.jsonl").read_text().splitlines())
    assert 1 <= written < 4
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["planned"] == 8 and manifest["finished"] is False
    out = tmp_path / "site"
    done = _vad("leaderboard", "cut", "--out", str(out))
    assert done.returncode == 0, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"warning: {folder.name} did not finish (interrupted)"), first
    assert f"{written} of its 8 planned samples" in first
    rows = {r["model"]: r for r in _rows(out)}
    assert (rows["openai/fake"]["n scored"], rows["openai/fake"]["n asked"]) == (str(written), "4")
    assert (rows["openai/other"]["n scored"], rows["openai/other"]["n asked"]) == ("0", "4")
    assert rows["openai/other"]["not scored"] == "not run 4"
    assert all(r["unfinished runs"] == folder.name for r in rows.values())
    pages = _pages(out)
    assert {"index.html", "model-openai_fake.html", "model-openai_other.html",
            "compare-svg.html"} <= set(pages)  # fmt: skip
    for name, text in pages.items():
        assert f"{folder.name} did not finish (interrupted)" in text, name
    assert "0 / 4" in pages["index.html"]


@pytest.mark.slow
def test_control_characters_never_reach_the_html(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    concepts = tmp_path / "odd.jsonl"
    caption = "a red ball\x1b[2J with\x00 a bell\x07 and\x7f\x85 more"
    concepts.write_text(json.dumps({"id": "odd-1", "level": "objects", "caption": caption})
                        + "\n", encoding="utf-8")  # fmt: skip
    _run([*_draw(fake_openai, "odd", "--concepts", str(concepts), "--ids", "odd-1"),
          "--level", "objects"])  # fmt: skip
    out = tmp_path / "site"
    done = _vad("leaderboard", "odd", "--out", str(out))
    assert done.returncode == 0, done.stderr
    pages = _pages(out)
    assert {"index.html", "model-openai_fake.html", "compare-svg.html"} <= set(pages)
    for name, text in pages.items():
        bad = [c for c in text if (ord(c) < 32 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0]
        assert not bad, (name, bad)
    assert "a red ball\\x1b[2J with\\x00 a bell\\x07" in pages["model-openai_fake.html"]


@pytest.mark.slow
def test_no_clip_weights_imports_no_torch(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    _run(_draw(fake_openai, "plain"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAD_CLIP")}
    done = subprocess.run([sys.executable, "-X", "importtime", *VAD[1:], "leaderboard", "plain",
                           "--out", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}  # fmt: skip
    assert imported, done.stderr[:500]
    assert not {"torch", "open_clip", "torchvision"} & imported
    assert (
        "CLIP scores unavailable: no CLIP weights given"
        in (tmp_path / "site" / "leaderboard.md").read_text()
    )


@pytest.mark.slow
def test_an_exact_run_name_wins_and_a_failed_build_keeps_the_old_site(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    _run(_draw(fake_openai, "bench"))
    _run(_draw(fake_openai, "bench3", "--samples", "2"))
    out = tmp_path / "board" / "site"
    done = _vad("leaderboard", "bench", "bench3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "4 samples from 2 runs" in (out / "index.html").read_text()  # 2 asked by both
    old = (out / "index.html").read_bytes()
    failed = _vad("leaderboard", "bench", "nosuch", "--out", str(out))
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: no run 'nosuch' under ")
    assert (out / "index.html").read_bytes() == old
    assert sorted(p.name for p in out.parent.iterdir()) == ["site"]  # nothing left beside
    again = _vad("leaderboard", "bench", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "2 samples from 1 runs" in (out / "index.html").read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["site"]
    fresh = tmp_path / "fresh"
    failed = _vad("leaderboard", "nosuch", "--out", str(fresh))
    assert failed.returncode == 2 and not fresh.exists()
    # A folder that is not a site is never replaced.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    refused = _vad("leaderboard", "bench", "--out", str(mine))
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        f"error: {mine} holds files no leaderboard build wrote (notes.txt), which replacing"
    )
    assert (mine / "notes.txt").read_text() == "keep me"
    # Nor is a site someone added files to (a CNAME, a git folder): they would be lost.
    (out / "CNAME").write_text("board.example.org")
    refused = _vad("leaderboard", "bench", "--out", str(out))
    assert refused.returncode == 2 and "(CNAME)" in refused.stderr
    assert (out / "CNAME").is_file()


@pytest.mark.slow
def test_a_site_is_never_written_into_a_run_nor_over_files_it_did_not_write(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    _run(_draw(fake_openai, "bench"))
    (run,) = (tmp_path / "runs").glob("bench-*")
    inside = run / "site"
    done = _vad("leaderboard", "bench", "--out", str(inside))
    assert done.returncode == 2 and not inside.exists()
    assert done.stderr.startswith(f"error: --out {inside} is inside {run}, a run the site reads")
    out = tmp_path / "site"
    assert _vad("leaderboard", "bench", "--out", str(out)).returncode == 0
    mine = next((out / "images").rglob("*.png")).parent / "mine.png"
    mine.write_bytes(b"not the site's")  # a file of one's own, deep in the site
    refused = _vad("leaderboard", "bench", "--out", str(out))
    assert refused.returncode == 2 and "mine.png" in refused.stderr and mine.is_file()

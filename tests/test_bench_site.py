"""`vad bench site`: the leaderboard site's build time and size on synthetic runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vad.bench_site import PHASES, format_site, make_runs
from vad.cli import main
from vad.rundir import read_samples


def test_the_bench_builds_a_site_that_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep = tmp_path / "kept"
    assert main(["bench", "site", "--sizes", "40", "--keep", str(keep)]) == 0
    out = capsys.readouterr().out
    row = re.search(r"^\| 40 \| ([\d.]+) \| ([\d.]+) \| [\d.]+ \| (\d+) \|", out, re.M)
    assert row is not None, out
    assert float(row.group(1)) > 0 and int(row.group(3)) > 40  # an image per drawing, pages...
    assert "| samples | " + " | ".join(PHASES) + " |" in out
    site = keep / "n40" / "site"
    assert (site / "sample.html").is_file() and (site / "index.html").is_file()
    runs_js = (site / "data" / "runs.js").read_text()
    index = json.loads(runs_js.removeprefix("window.VAD_RUNS = ").removesuffix(";\n"))
    assert len(index) == 2  # two runs
    chunks = sorted((site / "data").glob("r*/c*.js"))
    held = 0
    for chunk in chunks:
        text = chunk.read_text()
        assert text.startswith("vadChunk(")
        records = json.loads(text[text.index("{") : text.rindex("}") + 1])
        held += len(records)
        for rec in records.values():
            assert rec["task"] == "draw" and rec["prompt"]["messages"]
            assert rec["status"] in ("ok", "no_code", "syntax_error")
            if rec["status"] == "ok":
                assert (site / rec["src"]).is_file()  # the copied image
            if rec["code"]:
                assert rec["code_html"]  # highlighted at build time
    assert held == 40
    pq = pytest.importorskip("pyarrow.parquet")
    shards = sorted((site / "dataset" / "data").glob("*.parquet"))
    assert sum(pq.read_metadata(s).num_rows for s in shards) == 40
    assert (site / "dataset" / "README.md").is_file()


def test_synthetic_runs_look_like_a_draw_runs(tmp_path: Path) -> None:
    folders = make_runs(tmp_path, 101)
    records = [rec for f in folders for rec in read_samples(f / "samples.jsonl")]
    assert len(records) == 101 and len({r["request_key"] for r in records}) == 101
    assert {r["status"] for r in records} == {"ok", "no_code", "syntax_error"}
    assert len({r["model"] for r in records}) == 4
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["finished"] is True and manifest["status"] == "finished"
        assert manifest["planned"] == len(read_samples(folder / "samples.jsonl"))
    for folder in folders:
        for rec in read_samples(folder / "samples.jsonl"):
            assert (rec["image"] is not None) == (rec["status"] == "ok")
            if rec["image"]:
                assert (folder / rec["image"]).read_bytes().startswith(b"\x89PNG")
            if rec["status"] == "ok" and rec["level"] == "shapes":
                assert rec["scores"]["verifier"]["attrs"]["kind"] == "single"


def test_bad_sizes_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "site", "--sizes", "10,zero"]) == 2
    assert "--sizes" in capsys.readouterr().err


def test_the_table_has_a_row_per_size() -> None:
    row = {"samples": 1000, "generate_s": 1.0, "build_s": 2.5, "peak_rss_bytes": 200 * 2**20,
           "phases": dict.fromkeys(PHASES, 0.25), "bytes": 3_000_000, "disk_bytes": 5_000_000,
           "files": 900, "data_bytes": 1_000_000, "images_bytes": 500_000,
           "dataset_bytes": 1_200_000, "pages_bytes": 300_000}  # fmt: skip
    text = format_site([row, {**row, "samples": 10_000}])
    assert "| 1,000 | 2.50 | 3.0 | 5.0 | 900 | 1.0 | 0.5 | 1.2 | 0.3 | 200 | 1.0 |" in text
    assert "| 10,000 | 0.25 | 0.25 |" in text

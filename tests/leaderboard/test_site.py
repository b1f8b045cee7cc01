"""The leaderboard from real run outputs, checked as a person would: in a browser."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from openai_server import FakeOpenAI
from PIL import Image

from vad.leaderboard import build_leaderboard
from vad.leaderboard.tables import Sample, task_table
from vad.prompts import PromptSet, load_prompts
from vad.rundir import read_samples
from vad.runner import Runner
from vad.scoring.base import ScoringContext
from vad.scoring.stats import Estimate, wilson
from vad.spec import spec_from_dict

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("board")
    os.environ["VAD_CACHE_DIR"] = str(base / "cache")
    with FakeOpenAI() as server:
        spec = spec_from_dict({
            "name": "board", "models": [{"name": "openai/fake", "api_base": server.api_base}],
            "tasks": ["draw", "recognize", "correct"], "levels": ["shapes", "objects"],
            "limit": 2, "samples": 2, "correct": {"rounds": 1},
        })  # fmt: skip
        Runner(spec, root=base / "runs", progress=False).run()
    return build_leaderboard(["board"], base / "site", base / "runs")


def _bumped(task: str, directory: str | None = None) -> PromptSet:
    """The real prompts with their version bumped to 2, as if a template had changed."""
    return dataclasses.replace(load_prompts(task, directory), version="2")


@pytest.fixture(scope="module")
def two_versions(site: Path) -> Path:
    """The board run (prompts v1) beside a run of two models under prompts v2, in svg
    and matplotlib (the fake answers in SVG only, so its matplotlib renders fail)."""
    runs = site.parent / "runs"
    with FakeOpenAI() as server, pytest.MonkeyPatch.context() as patch:
        patch.setattr("vad.tasks.draw.load_prompts", _bumped)
        patch.setattr("vad.tasks.correct.load_prompts", _bumped)
        spec = spec_from_dict({
            "name": "bumped", "tasks": ["draw", "correct"], "levels": ["shapes", "objects"],
            "models": [{"name": n, "api_base": server.api_base}
                       for n in ("openai/fake", "openai/other")],
            "languages": ["svg", "matplotlib"], "limit": 2, "correct": {"rounds": 1},
        })  # fmt: skip
        Runner(spec, root=runs, progress=False).run()
    return build_leaderboard(["board", "bumped"], site.parent / "site2", runs)


@pytest.mark.slow
def test_rows_are_keyed_by_model_and_prompt_version(site: Path, two_versions: Path) -> None:
    draw = list(csv.DictReader((two_versions / "draw.csv").open()))
    assert {(r["model"], r["prompt version"]) for r in draw} == {
        ("openai/fake", "1"), ("openai/fake", "2"), ("openai/other", "2")
    }  # fmt: skip
    old = [r for r in draw if r["prompt version"] == "1"]
    assert len(old) == 2 and all(r["n asked"] == "4" for r in old)  # the v1 run alone
    correct = list(csv.DictReader((two_versions / "correct.csv").open()))
    assert {r["prompt version"] for r in correct} == {"draw 1, correct 1", "draw 2, correct 2"}
    new_svg = [r for r in correct if r["prompt version"] == "draw 2, correct 2"
               and r["model"] == "openai/fake" and r["language"] == "svg"]  # fmt: skip
    assert [(r["round"], r["n scored"]) for r in new_svg] == [("0", "4"), ("1", "4")]
    assert new_svg[1]["change from round 0 (pts)"] == "0.00"
    recognize = list(csv.DictReader((site / "recognize.csv").open()))
    assert {r["prompt version"] for r in recognize} == {"1"}
    md = (two_versions / "leaderboard.md").read_text()
    # the two runs asked two servers: the endpoint is a column of its own
    head = "| model | prompt version | temperature | max tokens | api base | level | language |"
    assert head in md
    assert re.search(r"\| openai/other \| 2 \| 0\.8 \| 1024 \| http://127\.0\.0\.1:\d+/v1 \| "
                     r"shapes \| matplotlib \|", md)  # fmt: skip
    index = (two_versions / "index.html").read_text()
    assert "<th>prompt version</th>" in index and "<td>draw 2, correct 2</td>" in index
    model_page = (two_versions / "model-openai_fake.html").read_text()
    assert "draw: svg <small>(prompt version 1)" in model_page
    assert "draw: svg <small>(prompt version 2)" in model_page


def test_tables_are_traceable_to_sample_lines(site: Path) -> None:
    rows = list(csv.DictReader((site / "draw.csv").open()))
    assert {r["level"] for r in rows} == {"shapes", "objects"}
    assert all(
        (r["render rate %"], r["render rate % low"], r["render rate % high"])
        == ("100.00", "51.01", "100.00")  # Wilson: 4 of 4 is not certainty
        and r["n scored"] == "4"
        and r["n asked"] == "4"
        and r["not scored"] == "0"
        for r in rows
    )
    assert all(r["CLIP top-1 %"] == "unavailable" for r in rows)
    run_dir = next((site.parent / "runs").glob("board-*"))
    records = read_samples(run_dir / "samples.jsonl")
    for line in (site / "evidence.jsonl").open():
        cell = json.loads(line)
        ((_, numbers),) = cell["lines"].items()
        for n in numbers:
            rec = records[n - 1]
            assert rec["task"] == cell["table"] and rec["model"] == cell["model"]
    recognize = list(csv.DictReader((site / "recognize.csv").open()))
    assert {r["mode"] for r in recognize} == {"choice", "free"}
    correct = list(csv.DictReader((site / "correct.csv").open()))
    assert [r["round"] for r in correct] == ["0", "1"]
    assert correct[1]["change from round 0 (pts)"] == "0.00"
    md = (site / "leaderboard.md").read_text()
    assert "## Draw" in md and "## Recognize" in md and "## Correct" in md
    assert "| 100.0 [51.0, 100.0] |" in md and "Wilson score intervals" in md
    assert "CLIP scores unavailable" in md and "'recognize': '1'" in md and "svg-3" in md


@pytest.mark.slow
def test_clip_columns_with_a_scorer(site: Path, tmp_path: Path) -> None:
    import torch

    from vad.scoring.clip import ClipScorer

    tiny = Path(__file__).resolve().parent.parent / "data" / "tiny-clip.json"
    torch.manual_seed(0)  # a random model: the same one whatever ran before
    scorer = ClipScorer("tiny-clip", config=tiny, random_init=True, device="cpu")
    out = build_leaderboard(["board"], tmp_path / "clip-site", site.parent / "runs", clip=scorer)
    rows = list(csv.DictReader((out / "draw.csv").open()))
    for row in rows:
        assert 0.0 <= float(row["CLIP top-1 %"]) <= float(row["CLIP top-5 %"]) <= 100.0
        assert 0.0 <= float(row["CLIPScore"]) <= 2.5 and float(row["diversity"]) >= 0.0
    assert (
        "CLIP fidelity and diversity with tiny-clip:random-init"
        in (out / "leaderboard.md").read_text()
    )
    correct = list(csv.DictReader((out / "correct.csv").open()))
    assert all(r["CLIP top-1 %"] not in ("", "unavailable") for r in correct)
    change = "CLIPScore change from round 0"
    assert [r["round"] for r in correct] == ["0", "1"]
    assert [correct[0][c] for c in (change, f"{change} low", f"{change} high")] == ["0.00"] * 3
    assert np.isfinite(float(correct[1][change])) and float(correct[1]["CLIPScore"]) > 0
    assert "| CLIPScore change from round 0 |" in (out / "leaderboard.md").read_text()
    plain = list(csv.DictReader((site / "correct.csv").open()))
    assert {r[change] for r in plain} == {"unavailable"}


def _round(run: str, line: int, chain: str, rnd: int, status: str = "ok") -> Sample:
    rec = {"task": "correct", "model": "m", "language": "svg", "sample_id": f"{chain}:r{rnd}",
           "round": rnd, "status": status, "prompt_version": "1"}  # fmt: skip
    return run, line, rec


def test_correct_table_pairs_clip_scores_per_chain_and_run() -> None:
    chains = [("r", "a", 1.0, 1.5), ("r", "b", 2.0, 2.5), ("q", "a", 0.0, 0.5)]
    samples, scores = [], {}
    for run, chain, before, after in chains:
        for rnd, value in enumerate((before, after)):
            samples.append(_round(run, len(samples) + 1, chain, rnd))
            scores[samples[-1][:2]] = {"top1": 1.0, "top5": 1.0, "clipscore": value}
    samples.append(_round("r", 90, "c", 0))  # its round 1 failed: no image, no CLIP pair
    scores[("r", 90)] = {"top1": 0.0, "top5": 1.0, "clipscore": 9.0}
    samples.append(_round("r", 91, "c", 1, "syntax_error"))
    samples.append(_round("r", 92, "d", 0))  # no later round: its version from the manifest
    scores[("r", 92)] = {"top1": 0.0, "top5": 0.0, "clipscore": 1.0}
    versions = {"r": {"draw": "1", "correct": "1"}, "q": {"draw": "1", "correct": "1"}}
    table = task_table("correct", ScoringContext(samples, scores), versions)
    first, second = table.rows
    assert first.key["prompt version"] == second.key["prompt version"] == "draw 1, correct 1"
    change = second.values["CLIPScore change from round 0"]
    assert isinstance(change, Estimate) and (change.mean, change.n) == (pytest.approx(0.5), 3)
    rendered = second.values["change from round 0 (pts)"]
    assert isinstance(rendered, Estimate) and (rendered.mean, rendered.n) == (-0.25, 4)
    clip = first.values["CLIPScore change from round 0"]
    assert isinstance(clip, Estimate) and (clip.mean, clip.n) == (0.0, 5)
    alone_table = task_table("correct", ScoringContext(samples[-1:]))
    (alone,) = {row.key["prompt version"] for row in alone_table.rows}
    assert alone == "draw 1, correct ?"


def test_draw_table_math() -> None:
    samples = [("r", i + 1, {"task": "draw", "model": "m", "level": "shapes",
                             "language": "svg", "status": "ok" if i < 3 else "syntax_error"})
               for i in range(4)]  # fmt: skip
    (row,) = task_table("draw", ScoringContext(samples)).rows
    rate = row.values["render rate %"]
    assert isinstance(rate, Estimate) and rate == wilson(3, 4)
    assert rate.format() == "75.0 [30.1, 95.4]" and row.evidence[-1] == ("r", 4)


def _browser(tmp_path: Path) -> list[str]:
    assert CHROMIUM, "chromium is required in CI (scripts/install.sh --dev installs it)"
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip


def _dom(flags: list[str], url: str) -> str:
    """The page's DOM after its scripts ran, as the browser serialises it."""
    return subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True,
                          timeout=120).stdout  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium here")
@pytest.mark.slow
def test_side_by_side_pages_in_a_real_browser(two_versions: Path, tmp_path: Path) -> None:
    flags = _browser(tmp_path)
    index = _dom(flags, (two_versions / "index.html").resolve().as_uri())
    draw = list(csv.DictReader((two_versions / "draw.csv").open()))
    for lang in ("svg", "matplotlib"):
        assert f'<a href="compare-{lang}.html">{lang}</a>' in index
        page = (two_versions / f"compare-{lang}.html").read_text()
        assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)  # works offline
        dom = _dom(flags, (two_versions / f"compare-{lang}.html").resolve().as_uri())
        grid = dom.split('id="compare-draw"')[1].split("</table>")[0]
        heads = re.findall(r'data-model="([^"]+)" data-version="([^"]+)"', grid)
        assert heads == sorted({(r["model"], r["prompt version"]) for r in draw
                                if r["language"] == lang})  # fmt: skip
        rows = re.findall(r'<tr data-level="(\w+)">(.*?)</tr>', grid)
        assert len(rows) == 4 and all(row.count("<td") == 1 + len(heads) for _, row in rows)
        shown = "<img" if lang == "svg" else '">no_code</a></td>'
        assert grid.count(shown) == 4 * len(heads)  # matplotlib fails: the fake answers SVG
    correct = _dom(flags, (two_versions / "compare-matplotlib.html").resolve().as_uri())
    correct = correct.split('id="compare-correct"')[1].split("</table>")[0]
    assert correct.count('">no_code</a></td>') == 4 * 2 * 2  # 2 models, r0 r1
    assert correct.count("<th>r0</th>") == correct.count("<th>r1</th>") == 2
    shapes = _dom(flags, (two_versions / "compare-svg.html").resolve().as_uri() + "#level=shapes")
    assert '<option value="shapes">' in shapes
    levels = re.findall(r'<tr data-level="(\w+)"( hidden="")?>', shapes)
    assert {(level, bool(hidden)) for level, hidden in levels} == {
        ("shapes", False), ("objects", True)
    }  # fmt: skip
    assert len(levels) == 8  # 4 concepts, in the draw and the correct grid
    for strip in re.findall(r'<span class="strip">(.*?)</span>', index):
        srcs = re.findall(r'<img src="([^"]+)"', strip)
        assert 1 <= len(srcs) <= 6 and all((two_versions / s).is_file() for s in srcs)
    assert index.count('<span class="strip">') == 2  # one per model


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium here")
@pytest.mark.slow
def test_the_page_loads_in_a_real_browser(site: Path, tmp_path: Path) -> None:
    flags = _browser(tmp_path)
    url = (site / "index.html").resolve().as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout  # fmt: skip
    for table in ("table-draw", "table-recognize", "table-correct"):
        assert f'id="{table}"' in dom
    assert "openai/fake" in dom and "unavailable" in dom
    model_page = next(site.glob("model-*.html")).resolve().as_uri()
    model_dom = subprocess.run([*flags, "--dump-dom", model_page], capture_output=True,
                               text=True, timeout=120).stdout  # fmt: skip
    assert model_dom.count("<img") >= 8
    shot = tmp_path / "leaderboard.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,900", url],
                   capture_output=True, timeout=120, check=False)  # fmt: skip
    with Image.open(shot) as img:
        grey = np.asarray(img.convert("L"))
        assert img.size == (1200, 900) and len(np.unique(grey)) > 5
    if os.environ.get("VAD_SCREENSHOT_DIR"):  # keep the picture for a person to look at
        saved = Path(os.environ["VAD_SCREENSHOT_DIR"])
        saved.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, saved / "leaderboard.png")


@pytest.mark.slow
def test_the_site_never_copies_through_a_symlink(tmp_path: Path) -> None:
    os.environ["VAD_CACHE_DIR"] = str(tmp_path / "cache")
    with FakeOpenAI() as server:
        spec = spec_from_dict({
            "name": "links", "models": [{"name": "openai/fake", "api_base": server.api_base}],
            "levels": ["shapes"], "limit": 2,
        })  # fmt: skip
        runner = Runner(spec, root=tmp_path / "runs", progress=False)
        runner.run()
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    records = read_samples(runner.folder.samples_path)
    image = runner.folder.path / records[0]["image"]
    image.unlink()
    image.symlink_to(secret)
    site = build_leaderboard(["links"], tmp_path / "site", tmp_path / "runs")
    copied = [p for p in (site / "images").rglob("*") if p.is_file()]
    assert len(copied) == 1  # the other, real image
    assert all(b"host secret" not in p.read_bytes() for p in site.rglob("*") if p.is_file())
    assert not [p for p in site.rglob("*") if p.is_symlink()]


def test_odd_records_neither_break_the_build_nor_reach_the_site(tmp_path: Path) -> None:
    """Model pages that would meet in one file are told apart, a long model name gets a
    short page name, a record whose image is not a raster image copies nothing into the
    site, a run named like a path stays out of the site's paths, and a record whose
    fields have the wrong types is quarantined, not a crash."""
    from PIL import Image

    root = tmp_path / "runs"
    folder = root / "odd"
    (folder / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(folder / "images" / "a.png")
    (folder / "images" / "evil.svg").write_text("<svg onload='alert(1)'/>")
    (folder / "manifest.json").write_text(json.dumps({"status": "finished", "spec": {},
                                                     "api_base": "http://u:SECRET@x"}))  # fmt: skip

    def rec(i: int, model: str, **extra: object) -> dict:
        return {"sample_id": f"draw:{model}:svg:c{i}:0", "task": "draw", "model": model,
                "concept_id": f"c{i}", "level": "objects", "caption": f"thing {i}",
                "language": "svg", "sample_index": 0, "status": "ok", "prompt_version": "1",
                "request_key": f"k{i}", "image": "images/a.png", **extra}  # fmt: skip

    records = [rec(0, "gpt-4"), rec(1, "gpt_4", image="images/evil.svg"),
               rec(2, "m" * 300), rec(3, "gpt-4", sample_index=None, request_key="k3"),
               rec(4, "gpt-4", image="manifest.json"),
               rec(5, "gpt-4", request_key=["not", "a", "key"])]  # fmt: skip
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    site = build_leaderboard(["odd"], tmp_path / "site", root)
    pages = {p.name for p in site.glob("model-*.html")}
    assert len(pages) == 3 and max(map(len, pages)) < 100
    assert "gpt-4" in (site / "index.html").read_text()
    copied = [p for p in (site / "images").rglob("*") if p.is_file()]
    assert copied and all(p.read_bytes().startswith(b"\x89PNG") for p in copied)
    assert all(p.relative_to(site / "images").parts[0] == "r0" for p in copied)
    assert not list(site.rglob("*.svg")) and "SECRET" not in "".join(
        p.read_text(errors="replace") for p in site.rglob("*") if p.suffix in (".js", ".html")
    )
    shown = "".join(p.read_text() for p in (site / "data").rglob("c*.js"))
    assert "draw:gpt-4:svg:c3:0" in shown  # a null sample index is only shown
    assert "draw:gpt-4:svg:c5:0" not in shown  # a key that is a list: not a record

"""The leaderboard's judge, pairwise and agreement tables, from real `vad judge` runs
against a loopback vision server that looks at each PNG's colours."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from vision_server import VisionServer

from vad.cli import main
from vad.concepts.shapes import generate_shapes
from vad.errors import VadError
from vad.leaderboard.build import build_leaderboard
from vad.leaderboard.judged import kendall_tau

RGB = {"red": (230, 20, 20), "blue": (20, 40, 230), "green": (20, 160, 40)}
CONCEPTS = ["shape-red-circle-center", "shape-blue-circle-center", "shape-green-circle-center"]
CAPTION = {cid: caption for cid, caption, _ in generate_shapes()}


def _png(colour: str) -> bytes:
    image = Image.new("RGB", (224, 224), "white")
    ImageDraw.Draw(image).ellipse((72, 72, 152, 152), fill=RGB[colour])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _run(root: Path, name: str, model: str, colours: list[str]) -> Path:
    """A finished run of ``model``: it drew each concept's circle in ``colours``."""
    folder = root / name
    records = []
    for index, (concept, colour) in enumerate(zip(CONCEPTS, colours, strict=True)):
        rel = Path("images") / name / f"{concept}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(_png(colour))
        records.append({"sample_id": f"draw:{model}:svg:{concept}:0", "task": "draw",
                        "concept_id": concept, "level": "shapes", "caption": CAPTION[concept],
                        "language": "svg", "image": str(rel), "model": model, "style": "chat",
                        "sample_index": 0, "status": "ok", "prompt_version": "1",
                        "temperature": 0.8, "max_tokens": 768,
                        "request_key": f"{name}-{index}"})  # fmt: skip
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "manifest.json").write_text(json.dumps({"status": "finished", "spec": {}}))
    return folder


def _table(md: str, title: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under the heading ``title``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and title in line)
    header = next(line for line in lines[start:] if line.startswith("|"))
    at = lines.index(header, start)
    names = [c.strip() for c in header.strip("|").split("|")]
    rows = []
    for line in lines[at + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(names, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return rows


def test_judge_pairwise_and_agreement_tables(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    runs = [
        _run(root, "run-a", "openai/a", ["red", "blue", "green"]),  # all right
        _run(root, "run-b", "openai/b", ["red", "blue", "red"]),  # one wrong
        _run(root, "run-c", "openai/c", ["green", "red", "blue"]),
    ]  # all wrong
    server = VisionServer().__enter__()
    assert main(["judge", *map(str, runs), "--judge", "openai/gpt-4o", "--api-base",
                 server.api_base]) == 0  # fmt: skip
    site = build_leaderboard(["run-a", "run-b", "run-c"], tmp_path / "site", root)
    md = (site / "leaderboard.md").read_text()
    judges = {r["model"]: r for r in _table(md, "Judges")}
    assert judges["openai/a"]["judge fidelity (1-10)"].startswith("9.000")
    assert judges["openai/c"]["judge fidelity (1-10)"].startswith("2.000")
    assert judges["openai/a"]["captions shown"].startswith("5 (seed ")
    assert judges["openai/a"]["level"] == "shapes"
    ratings = [r["model"] for r in _table(md, "Pairwise")]
    assert ratings[0] == "openai/a" and ratings[-1] == "openai/c"  # best first
    agreement = {(r["score"], r["against"].split(",")[0]): r
                 for r in _table(md, "How far the scores agree")}  # fmt: skip
    fidelity = agreement[("verifier", "fidelity by openai/gpt-4o")]
    # the verifier and the judge's fidelity see the same colours: the same order, the same
    # verdict on every drawing
    assert fidelity["Kendall tau of model ranks"].startswith("+1.00 (3 models)")
    assert fidelity["same verdict per drawing %"].startswith("100.0")
    draw = {r["model"]: r for r in _table(md, "Draw")}
    assert draw["openai/a"]["verified %"].startswith("100.0")
    assert draw["openai/b"]["verified %"].startswith("66.7")
    page = (site / "compare-svg.html").read_text()  # each drawing shows its verdict
    assert page.count("&#10003; verified") == 3 + 2 and "&#10007; no green part" in page
    evidence = [json.loads(line) for line in (site / "evidence.jsonl").read_text().splitlines()]
    assert any(e["table"] == "judges" and e["lines"] for e in evidence)

    # Finishing a run rewrites samples.jsonl and its lines move: judgements follow their
    # samples by id, not by line number. Judging again in another order adds nothing.
    lines = (root / "run-b" / "samples.jsonl").read_text().splitlines()
    (root / "run-b" / "samples.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    asked = len(server.requests)
    try:
        assert main(["judge", *map(str, reversed(runs)), "--judge", "openai/gpt-4o",
                     "--api-base", server.api_base]) == 0  # fmt: skip
        assert len(server.requests) == asked
    finally:
        server.__exit__(None, None, None)
    site = build_leaderboard(["run-a", "run-b", "run-c"], tmp_path / "site", root)
    again = (site / "leaderboard.md").read_text()
    assert {r["model"]: r for r in _table(again, "Judges")} == judges
    assert _table(again, "Pairwise") == _table(md, "Pairwise")


def test_kendall_tau() -> None:
    assert kendall_tau({"a": 1, "b": 2, "c": 3}, {"a": 10, "b": 20, "c": 30}) == 1.0
    assert kendall_tau({"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 2, "c": 1}) == -1.0
    assert kendall_tau({"a": 1, "b": 2}, {"a": 1, "b": 2}) is None  # too few models
    assert kendall_tau({"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 2, "c": 3}) is None  # no spread


def test_peoples_votes_are_rated_beside_the_judges(tmp_path: Path) -> None:
    """Votes exported by `vad arena` become the pairwise ratings of "people", set
    against every automatic score; a vote of a drawing not on the board, a line that is
    no vote and a "both bad" are left out of the ratings and said."""
    root = tmp_path / "runs"
    _run(root, "run-a", "openai/a", ["red", "blue", "green"])  # all right
    _run(root, "run-b", "openai/b", ["red", "blue", "red"])  # one wrong
    _run(root, "run-c", "openai/c", ["green", "red", "blue"])  # all wrong
    order = ["a", "b", "c"]  # people prefer a to b to c, on every concept
    votes = []
    for concept in CONCEPTS:
        for i, first in enumerate(order):
            for second in order[i + 1 :]:
                left, right = (first, second) if len(votes) % 2 else (second, first)
                votes.append({
                    "left_run": f"run-{left}", "right_run": f"run-{right}",
                    "left_sample_id": f"draw:openai/{left}:svg:{concept}:0",
                    "right_sample_id": f"draw:openai/{right}:svg:{concept}:0",
                    "left_model": f"openai/{left}", "right_model": f"openai/{right}",
                    "choice": "left" if left == first else "right", "voter": "v1",
                    "created_at": "2026-12-08T00:00:00Z", "concept_id": concept,
                    "language": "svg"})  # fmt: skip
    votes.append({**votes[0], "choice": "bad"})
    votes.append({**votes[0], "left_sample_id": "draw:openai/z:svg:gone:0"})
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in votes) + "not a vote\n")
    said: list[str] = []
    site = build_leaderboard(["run-a", "run-b", "run-c"], tmp_path / "site", root,
                             warn=said.append, votes=[path])  # fmt: skip
    assert any("1 vote(s) name drawings not on this board" in w for w in said)
    assert any("1 line(s) are not votes" in w for w in said)
    assert any("1 vote(s) found both drawings bad" in w for w in said)
    md = (site / "leaderboard.md").read_text()
    people = [r for r in _table(md, "Pairwise") if r["judge"] == "people (vad arena)"]
    assert [r["model"] for r in people] == ["openai/a", "openai/b", "openai/c"]
    assert people[0]["wins / ties / losses"] == "6 / 0 / 0"
    agreement = {(r["score"], r["against"]): r for r in _table(md, "How far the scores agree")}
    row = next(v for (a, b), v in agreement.items()
               if a == "verifier" and b.startswith("pairwise by people (vad arena)"))  # fmt: skip
    assert row["Kendall tau of model ranks"].startswith("+1.00 (3 models)")
    assert row["same verdict per drawing %"] == "–"  # a share of wins is no verdict
    # the board as a dataset: one row per sample, beside the site
    import pyarrow.parquet as pq

    table = pq.read_table(site / "dataset" / "data")
    assert table.num_rows == 9 and "image" in table.column_names
    assert (site / "dataset" / "README.md").read_text().startswith("---\n")
    with pytest.raises(VadError, match="cannot read it"):
        build_leaderboard(["run-a"], tmp_path / "other", root, votes=[tmp_path / "none"])

"""The leaderboard's samples as a dataset: written by vad, read back by Hugging Face
`datasets` as a user would (offline), with images decoded, scores kept, hostile text
stored whole and no image read through a symlink."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vad.leaderboard.publish import write_dataset
from vad.scoring.base import Sample

pytest.importorskip("pyarrow")
HOSTILE = "<script>alert(1)</script>\x00\x1b[31m\ud800 end"


def _png(path: Path, size: tuple[int, int], colour: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path.as_posix()


def _record(task: str, concept: str, **fields: Any) -> dict[str, Any]:
    """A samples.jsonl line as the tasks write it (the fields the dataset reads, and more)."""
    sid = f"{task}:m/one:svg:{concept}:0" + (f":r{fields['round']}" if "round" in fields else "")
    return {"sample_id": sid, "task": task, "concept_id": concept, "level": "shapes",
            "caption": f"a {concept}", "language": "svg", "image": None, "model": "m/one",
            "sample_index": 0, "prompt_version": "1", "temperature": 0.8, "seed": 0,
            "raw_reply": "```svg\n<svg/>\n```", "finish_reason": "stop", "prompt_tokens": 11,
            "completion_tokens": 22, "cost_usd": None, "latency_s": 0.25, "code": "<svg/>",
            "status": "ok", **fields}  # fmt: skip


def _runs(tmp_path: Path) -> tuple[list[Sample], dict[str, Path]]:
    """Two run folders: drawings, a failed render, a recognize line, a symlinked image
    and one that points out of its run."""
    a, b = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    _png(a / "images/star.png", (40, 30), "red")
    _png(b / "images/circle.png", (24, 24), "blue")
    _png(tmp_path / "secret.png", (7, 7), "black")
    (b / "images/linked.png").symlink_to(tmp_path / "secret.png")
    verdict = {"verifier": {"version": "shapes-verifier/3", "verified": True,
                            "checks": {"color": True}, "reason": "ok \ud800"}}  # fmt: skip
    samples: list[Sample] = [
        ("a", 1, _record("draw", "star", image="images/star.png", scores=verdict,
                         code=HOSTILE, caption=HOSTILE)),
        ("a", 2, _record("draw", "moon", status="syntax_error", code=HOSTILE,
                         render={"status": "syntax_error", "reason": HOSTILE})),
        ("a", 3, _record("recognize", "star", predicted="a star", correct=True)),
        ("b", 1, _record("correct", "circle", round=0, image="images/circle.png",
                         scores={"verifier": {"verified": False, "reason": "too small"}})),
        ("b", 2, _record("draw", "linked", image="images/linked.png")),
        ("b", 3, _record("draw", "escape", image="../../secret.png")),
    ]  # fmt: skip
    return samples, {"a": a, "b": b}


def _load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str, **kwargs: str) -> Any:
    """``datasets.load_dataset(*args, **kwargs)`` offline, its cache under tmp_path."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # if imported before
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    cache = str(tmp_path / "hf" / "ds")
    return datasets.load_dataset(*args, **kwargs, split="train", cache_dir=cache)


def test_the_dataset_loads_with_hugging_face_datasets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples, folders = _runs(tmp_path)
    clip = {("b", 1): {"rank": 2.0, "top1": 0.0, "top5": 1.0, "clipscore": 0.31,
                       "embedding": [0.1, 0.2]}}  # fmt: skip
    manifests = [{"run": "a", "models": [{"name": "m/one`<b>"}], "prompt_versions": {"draw": "1"},
                  "git": {"commit": "abc123"}}, {"run": "b", "models": []}]  # fmt: skip
    out = write_dataset(tmp_path / "pub", samples, folders, clip, manifests, shard_rows=4)
    shards = sorted(p.name for p in (out / "data").iterdir())
    assert shards == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]

    for ds in (
        _load(monkeypatch, tmp_path, "parquet", data_dir=str(out / "data")),
        _load(monkeypatch, tmp_path, str(out)),  # the card's configs
    ):
        assert ds.num_rows == len(samples)
        rows = {row["id"]: row for row in ds}
        star, failed = rows["a/draw:m/one:svg:star:0"], rows["a/draw:m/one:svg:moon:0"]
        assert isinstance(star["image"], Image.Image) and star["image"].size == (40, 30)
        assert star["image"].getpixel((0, 0)) == (255, 0, 0)
        assert (star["run"], star["line"], star["task"], star["verified"]) == ("a", 1, "draw", True)
        assert json.loads(star["scores"])["verifier"]["checks"] == {"color": True}
        assert json.loads(star["scores"])["verifier"]["reason"] == "ok \ufffd"
        expected = HOSTILE.replace("\ud800", "\ufffd")  # the only change: not UTF-8
        assert star["code"] == star["caption"] == failed["code"] == failed["reason"] == expected
        assert failed["image"] is None and failed["status"] == "syntax_error"
        assert failed["verified"] is None and failed["scores"] is None
        assert json.loads(failed["extra"])["render"]["reason"] == expected
        recognize = rows["a/recognize:m/one:svg:star:0"]
        assert (recognize["image"], recognize["correct"], recognize["round"]) == (None, True, None)
        assert json.loads(recognize["extra"])["predicted"] == "a star"
        circle = rows["b/correct:m/one:svg:circle:0:r0"]
        assert circle["image"].size == (24, 24) and circle["round"] == 0
        assert (circle["verified"], circle["clip_top5"], circle["clipscore"]) == (False, 1.0, 0.31)
        assert star["clipscore"] is None and "embedding" not in ds.column_names
        billed = (circle["prompt_tokens"], circle["latency_s"], circle["cost_usd"])
        assert billed == (11, 0.25, None)
        assert rows["b/draw:m/one:svg:linked:0"]["image"] is None  # a symlink: never read
        assert rows["b/draw:m/one:svg:escape:0"]["image"] is None  # out of its run
    blobs = b"".join(p.read_bytes() for p in (out / "data").iterdir())
    assert (tmp_path / "secret.png").read_bytes() not in blobs

    card = (out / "README.md").read_text(encoding="utf-8")
    header = re.match(r"---\n(.*?)\n---\n", card, re.S)
    assert header and "path: data/train-*" in header.group(1) and "dtype: image" in card
    assert "untrusted" in card and "`a`" in card and "abc123" in card
    assert "<b>" not in card.replace("`m/one'<b>`", "")  # a name stays inside its code span

    elsewhere = tmp_path / "elsewhere.parquet"
    (out / "data" / "train-00000-of-00001.parquet").symlink_to(elsewhere)
    fewer = write_dataset(out, samples[:1], folders, shard_rows=4)  # a smaller board
    assert [p.name for p in (fewer / "data").iterdir()] == ["train-00000-of-00001.parquet"]
    assert not elsewhere.exists()  # written in place of the link, not through it

"""`vad dataset export` on a run folder, and `vad dataset shapes`: filters, dedupe, formats."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageDraw

from vad.dataset.export import ExportOptions, export, run_candidates
from vad.errors import DatasetError


def _image(path: Path, colour: str | None, shape: str = "circle", shift: int = 0) -> str:
    img = Image.new("RGBA", (160, 120), (0, 0, 0, 0))  # transparent: composited on white
    if colour:
        d = ImageDraw.Draw(img)
        if shape == "circle":
            d.ellipse((30 + shift, 20, 110 + shift, 100), fill=colour)
        else:
            d.rectangle((10, 40, 150, 80), fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return str(path.relative_to(path.parents[1]))


def _run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"run_id": folder.name}))
    records = []

    def rec(i: int, task: str, status: str, image: str | None, **extra: object) -> None:
        records.append(
            {
                "sample_id": f"{task}:m:svg:c{i}:0",
                "task": task,
                "concept_id": f"c{i}",
                "level": "objects" if i % 2 else "shapes",
                "caption": f"concept {i}",
                "model": "openai/gpt-x",
                "language": "svg",
                "status": status,
                "image": image,
                "render": {"status": status, "reason": "boom" if status != "ok" else ""},
                **extra,
            }
        )

    rec(0, "draw", "ok", _image(folder / "images" / "a.png", "red"))
    rec(1, "draw", "ok", _image(folder / "images" / "b.png", "blue", "bar"))
    rec(2, "draw", "ok", _image(folder / "images" / "c.png", "red", shift=1))  # near-copy of a
    rec(3, "draw", "ok", _image(folder / "images" / "d.png", None))  # blank
    rec(4, "draw", "syntax_error", None)
    rec(5, "correct", "ok", _image(folder / "images" / "e.png", "green", "bar"), round=2)
    rec(6, "recognize", "ok", None)  # not a drawing: ignored
    with (folder / "samples.jsonl").open("w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    return folder


def test_export_filters_dedupes_and_writes_every_format(tmp_path: Path) -> None:
    run = _run(tmp_path / "runs" / "demo-1")
    out = tmp_path / "export"
    record = export(run_candidates(run, "level"), out, ExportOptions(size=32), [str(run)], False)

    assert record["counts"]["kept"] == 3
    assert record["counts"]["dropped"] == {"duplicate": 1, "blank": 1, "render_failed": 1}
    meta = pd.read_parquet(out / "metadata.parquet")
    assert sorted(meta["concept"]) == ["c0", "c1", "c5"]
    assert set(meta.columns) >= {
        "concept",
        "level",
        "model",
        "language",
        "round",
        "status",
        "phash",
        "sha256",
        "file",
        "shard",
        "sample_id",
    }
    assert meta.set_index("concept").loc["c5", "round"] == 2
    rejected = pd.read_parquet(out / "rejected.parquet").set_index("concept")
    assert rejected.loc["c2", "drop_reason"].startswith("near-duplicate of ")
    assert "syntax_error" in rejected.loc["c4", "drop_reason"]

    # ImageFolder: <label>/<id>.png at the fixed size, labelled by level
    files = sorted((out / "images").rglob("*.png"))
    assert {f.parent.name for f in files} == {"shapes", "objects"}
    for f in files:
        assert Image.open(f).size == (32, 32)
    corner = Image.open(out / meta.set_index("concept").loc["c0", "file"]).getpixel((0, 0))
    assert corner == (255, 255, 255)  # transparency became white

    # tar shards: the same bytes, with their metadata
    with tarfile.open(out / "shards" / "shard-000000.tar") as tar:
        names = tar.getnames()
        assert len(names) == 6
        first = meta.iloc[0]
        png = tar.extractfile(f"{first['id']}.png").read()
        assert png == (out / first["file"]).read_bytes()
        assert (
            json.loads(tar.extractfile(f"{first['id']}.json").read())["concept"] == first["concept"]
        )

    with pytest.raises(DatasetError, match="not empty"):
        export(run_candidates(run), out, ExportOptions(size=32), progress=False)


def test_export_without_dedupe_keeps_near_copies(tmp_path: Path) -> None:
    run = _run(tmp_path / "runs" / "demo-2")
    record = export(
        run_candidates(run), tmp_path / "e", ExportOptions(dedupe_distance=-1), progress=False
    )
    assert record["counts"]["kept"] == 4


def test_bad_inputs_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a run folder"):
        list(run_candidates(tmp_path))
    run = _run(tmp_path / "runs" / "demo-3")
    with pytest.raises(DatasetError, match="cannot label by 'colour'"):
        list(run_candidates(run, "colour"))


@pytest.mark.slow
def test_procedural_shapes_command_is_deterministic(tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "vad",
                "dataset",
                "shapes",
                "--n",
                "60",
                "--size",
                "32",
                "--out",
                str(out),
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert "60 images" in proc.stdout
        outs.append(pd.read_parquet(out / "metadata.parquet"))
    assert list(outs[0]["sha256"]) == list(outs[1]["sha256"])
    assert outs[0]["label"].nunique() >= 5
    assert outs[0]["sha256"].is_unique


@pytest.mark.slow
def test_export_command_finds_runs_by_name(tmp_path: Path) -> None:
    runs = tmp_path / "runs"  # $VAD_RUNS_DIR in every test
    _run(runs / "demo-4")
    out = tmp_path / "cli-export"
    cmd = [
        sys.executable,
        "-m",
        "vad",
        "dataset",
        "export",
        "demo",
        "--out",
        str(out),
        "--size",
        "48",
        "--label",
        "model",
        "--no-progress",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "3 images in 1 classes" in proc.stdout
    assert [p.name for p in (out / "images").iterdir()] == ["openai_gpt-x"]
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_a_symlinked_image_is_never_read(tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    secret = tmp_path / "host-secret.png"
    _image(secret, "purple")
    target = run / "images" / "b.png"
    target.unlink()
    target.symlink_to(secret)  # an image path turned into a symlink to a host file
    escape = run / "samples.jsonl"
    lines = escape.read_text().splitlines()
    record = json.loads(lines[0])
    record["image"] = "../host-secret.png"  # and one that points outside the run folder
    lines[0] = json.dumps(record)
    escape.write_text("\n".join(lines) + "\n")
    cands = {c.meta["concept"]: c for c in run_candidates(run, "concept")}
    assert cands["c1"].status == "missing_image" and cands["c1"].image is None
    assert cands["c0"].status == "missing_image" and cands["c0"].image is None
    assert "not a regular file" in cands["c1"].reason


def _export_cli(tmp_path: Path, *extra: str) -> int:
    from vad.cli import main

    out = tmp_path / "cli-out"
    return main(["dataset", "export", "demo", "--out", str(out), "--no-progress", *extra])


def test_missing_images_fail_the_export_and_name_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path / "runs" / "demo-5")
    for name in ("a.png", "b.png"):  # 2 of 6 drawings: above 1% and above one
        (run / "images" / name).unlink()

    assert _export_cli(tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: 2 of 6 drawings") and "\n" not in err
    assert "2 missing_image" in err and str(run / "images" / "a.png") in err
    assert "--allow-missing" in err
    assert not (tmp_path / "cli-out").exists()  # nothing half-written is left behind


def test_allow_missing_exports_the_rest_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path / "runs" / "demo-6")
    for name in ("a.png", "b.png"):
        (run / "images" / name).unlink()
    (run / "images" / "e.png").write_bytes(b"\x89PNG\r\n")  # cut short: found on reading

    assert _export_cli(tmp_path, "--allow-missing") == 0
    out, err = capsys.readouterr()
    assert "'missing_image': 3" in out and "'render_failed': 1" in out
    assert err.startswith("warning: 3 of 6 drawings were left out") and "missing_image" in err
    rejected = pd.read_parquet(tmp_path / "cli-out" / "rejected.parquet").set_index("concept")
    assert list(rejected.loc[["c0", "c1", "c5"], "drop"]) == ["missing_image"] * 3
    assert "not a regular file" in rejected.loc["c0", "drop_reason"]
    assert "cannot be read as an image" in rejected.loc["c5", "drop_reason"]
    assert rejected.loc["c4", "drop"] == "render_failed"


def test_failed_model_calls_count_as_lost_but_one_loss_is_tolerated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path / "runs" / "demo-7")
    (run / "images" / "a.png").unlink()  # one lost drawing: a warning, not an error
    assert _export_cli(tmp_path) == 0
    assert "warning: 1 of 6 drawings" in capsys.readouterr().err

    lines = (run / "samples.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    record.update(status="model_error", image=None, error="rate limited")
    lines[1] = json.dumps(record)
    (run / "samples.jsonl").write_text("\n".join(lines) + "\n")
    assert _export_cli(tmp_path, "--overwrite") == 2
    err = capsys.readouterr().err
    assert (
        "1 missing_image, 1 model_error" in err
        and "run the same run command again to redo them" in err
    )


def test_a_garbled_line_is_skipped_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path / "runs" / "demo-8")
    samples = run / "samples.jsonl"
    lines = samples.read_bytes().splitlines(keepends=True)
    lines.insert(2, b'{"sample_id": "draw:m:svg:cX:0", "task": "dr\xff\n')  # garbled middle
    lines.insert(4, b"[1, 2]\n")  # JSON, but not a record
    samples.write_bytes(b"".join(lines) + b'{"sample_id": "draw:m:svg:c9:0", "ta')  # torn tail

    # A damaged line is a lost drawing: 3 of 9 is too many, unless --allow-missing.
    assert _export_cli(tmp_path) == 2
    err = capsys.readouterr().err
    assert "3 of 9 drawings would be left out" in err and "3 damaged_line" in err
    assert _export_cli(tmp_path, "--allow-missing") == 0
    out = capsys.readouterr().out
    assert "3 images in 3 classes" in out
    assert (
        "damaged lines skipped: 3 (first: demo-8/samples.jsonl line 3: not UTF-8 (byte 44))" in out
    )
    record = json.loads((tmp_path / "cli-out" / "export.json").read_text())
    assert record["counts"]["damaged_lines"] == 3 and record["counts"]["candidates"] == 6


def test_a_merge_keeps_what_its_set_found_not_blank(tmp_path: Path) -> None:
    """A fine grid has content at its rendered size and is one flat grey at 32 px: the
    export judges it at full size and keeps it, and a merge of that export keeps it too
    (it used to judge the set's small copy again and drop it as near-uniform)."""
    from vad.dataset.export import set_candidates
    from vad.dataset.images import blank_reason

    run = tmp_path / "runs" / "grid-1"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"run_id": run.name}))
    img = Image.new("RGB", (224, 224), "white")
    d = ImageDraw.Draw(img)
    for x in range(0, 224, 7):
        d.line((x, 0, x, 223), fill="black")
    (run / "images").mkdir()
    img.save(run / "images" / "g.png")
    record = {"sample_id": "draw:m:svg:g:0", "task": "draw", "concept_id": "g", "level": "shapes",
              "caption": "a grid", "model": "m", "language": "svg", "status": "ok",
              "image": "images/g.png", "render": {"status": "ok", "reason": ""}}  # fmt: skip
    (run / "samples.jsonl").write_text(json.dumps(record) + "\n")
    export(run_candidates(run, "level"), tmp_path / "set", ExportOptions(size=32), [str(run)],
           False)  # fmt: skip
    small = Image.open(next((tmp_path / "set" / "images").rglob("*.png")))
    assert blank_reason(small)  # near-uniform at the set's size
    merged = export(set_candidates(tmp_path / "set", "0"), tmp_path / "merged",
                    ExportOptions(size=32), [str(tmp_path / "set")], False)  # fmt: skip
    assert merged["counts"]["kept"] == 1 and merged["counts"]["dropped"] == {}

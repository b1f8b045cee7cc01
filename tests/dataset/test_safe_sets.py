"""Sets are written beside their target and renamed into place; readers refuse a set
that is incomplete or damaged with one line naming it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openai_server import FakeOpenAI
from PIL import Image

from vad.dataset.export import ExportOptions, export, run_candidates
from vad.rundir import read_samples

VAD = [sys.executable, "-m", "vad.cli"]
TRAIN = ["--arch", "vit_micro", "--image-size", "16", "--batch-size", "8", "--epochs", "1",
         "--proj-hidden", "32", "--proj-dim", "8", "--device", "cpu", "--no-progress"]  # fmt: skip


def _vad(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VAD, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command prints (exit 2, no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    err = proc.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _run_folder(folder: Path, n: int, seed: int) -> Path:
    """A run folder of ``n`` drawn images of random noise (distinct, never blank)."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"run_id": folder.name}))
    lines = []
    for i in range(n):
        pixels = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "images" / f"{i}.png")
        lines.append(json.dumps({
            "sample_id": f"draw:m:svg:{folder.name}-{i}:0", "task": "draw",
            "concept_id": f"c{i % 3}", "level": "shapes", "caption": "noise", "model": "m",
            "language": "svg", "status": "ok", "image": f"images/{i}.png",
            "render": {"status": "ok", "reason": ""}}))  # fmt: skip
    (folder / "samples.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _set(tmp_path: Path, name: str, n: int = 12, seed: int = 0) -> Path:
    """An export of ``n`` images at ``tmp_path / name``."""
    run = _run_folder(tmp_path / "runs" / f"run-{name}", n, seed)
    out = tmp_path / name
    export(run_candidates(run), out, ExportOptions(size=32, dedupe_distance=-1), [str(run)],
           False)  # fmt: skip
    return out


def _tree(folder: Path) -> dict[str, str]:
    """Every file of a folder, by relative path, with the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _leftovers(folder: Path) -> list[str]:
    """Hidden folders beside ``folder``'s sets: the scratch of a write that did not end."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.is_dir())


# -- case: an --out that is one of the inputs ------------------------------------------
@pytest.mark.slow
def test_a_merge_into_one_of_its_own_inputs_is_refused_and_keeps_it(tmp_path: Path) -> None:
    merged, s0 = _set(tmp_path, "merged", seed=1), _set(tmp_path, "s0", seed=2)
    before = _tree(merged)

    err = _one_error_line(_vad("dataset", "merge", merged, s0, "--out", merged, "--overwrite",
                               "--no-progress"))  # fmt: skip
    assert f"--out {merged}" in err and "choose another --out" in err
    assert _tree(merged) == before  # never touched: not deleted before it was read

    inner = merged / "sub"  # inside an input: replacing it would write into what is read
    err = _one_error_line(_vad("dataset", "merge", merged, s0, "--out", inner, "--no-progress"))
    assert "choose another --out" in err and not inner.exists()

    big = _set(tmp_path, "big", seed=3)  # an input inside --out: replacing --out deletes it
    shutil.move(str(s0), big / "s0")
    err = _one_error_line(_vad("dataset", "merge", big / "s0", "--out", big, "--overwrite",
                               "--no-progress"))  # fmt: skip
    assert "choose another --out" in err and (big / "s0" / "metadata.parquet").is_file()
    assert _tree(merged) == before


@pytest.mark.slow
def test_an_export_into_its_own_run_folder_is_refused(tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "runs" / "demo-1", 4, 0)
    err = _one_error_line(_vad("dataset", "export", run, "--out", run / "set", "--no-progress"))
    assert "choose another --out" in err and not (run / "set").exists()


# -- case: a merge killed half way -----------------------------------------------------
def _merge_and_kill(sets: list[Path], out: Path, sig: int) -> subprocess.CompletedProcess[str]:
    """Start a merge of ``sets`` over ``out``, and send ``sig`` once it writes images."""
    args = [*VAD, "dataset", "merge", *map(str, sets), "--out", str(out), "--overwrite",
            "--dedupe", "-1", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        scratch = [p for p in out.parent.glob(f".{out.name}*") if p.is_dir()]
        written = sum(1 for s in scratch for _ in s.glob("images/*/*.png"))
        if written >= 20 or not (out / "export.json").exists():
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the merge ended before it could be stopped"
    proc.send_signal(sig)
    out_text, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out_text, err)


@pytest.mark.slow
def test_a_merge_stopped_half_way_leaves_the_old_set_whole(tmp_path: Path) -> None:
    sets = [_set(tmp_path / "parts", f"s{i}", n=60, seed=10 + i) for i in range(12)]
    out = _set(tmp_path, "mk", n=8, seed=99)
    before = _tree(out)
    for attempt in range(3):  # a race: the same outcome every time
        stopped = _merge_and_kill(sets, out, signal.SIGTERM)
        assert stopped.returncode == 143, (attempt, stopped.stderr[-2000:])
        assert _tree(out) == before, attempt
        assert _leftovers(tmp_path) == [], attempt  # its scratch went with it
        grid = _vad("dataset", "grid", out, "--out", tmp_path / "sheet.png")
        assert grid.returncode == 0 and "8 of 8 images" in grid.stdout, grid.stderr

    killed = _merge_and_kill(sets, out, signal.SIGKILL)  # no chance to clean up
    assert killed.returncode == -signal.SIGKILL
    assert _tree(out) == before
    done = _vad("dataset", "merge", *sets, "--out", out, "--overwrite", "--dedupe", "-1",
                "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "720 images" in done.stdout
    assert len(pd.read_parquet(out / "metadata.parquet")) == 720
    assert _leftovers(tmp_path) == []  # the killed merge's scratch is gone too


def _cut_short(folder: Path) -> None:
    """What an overwrite killed while deleting the old set left: export.json, some of
    the images, no metadata.parquet."""
    (folder / "metadata.parquet").unlink()
    for png in sorted(folder.glob("images/*/*.png"))[::2]:
        png.unlink()


@pytest.mark.slow
def test_train_grid_and_merge_refuse_a_set_cut_short(tmp_path: Path) -> None:
    mk = _set(tmp_path, "mk", n=24)
    _cut_short(mk)
    train = _one_error_line(_vad("train", "--data", mk, "--out", tmp_path / "ckpt", *TRAIN))
    assert str(mk) in train and "metadata.parquet" in train
    assert not (tmp_path / "ckpt" / "last.pt").exists()
    grid = _one_error_line(_vad("dataset", "grid", mk, "--out", tmp_path / "sheet.png"))
    assert str(mk) in grid and "metadata.parquet" in grid
    merge = _one_error_line(_vad("dataset", "merge", mk, "--out", tmp_path / "m", "--no-progress"))
    assert str(mk) in merge and "metadata.parquet" in merge


@pytest.mark.slow
def test_train_and_grid_refuse_a_set_missing_images(tmp_path: Path) -> None:
    mk = _set(tmp_path, "mk", n=24)
    gone = sorted(mk.glob("images/*/*.png"))[3]
    gone.unlink()
    train = _one_error_line(_vad("train", "--data", mk, "--out", tmp_path / "ckpt", *TRAIN))
    assert str(gone) in train
    grid = _one_error_line(_vad("dataset", "grid", mk, "--out", tmp_path / "sheet.png"))
    assert str(gone) in grid


# -- case: a damaged image in a generation -----------------------------------------------
def _generate(server: FakeOpenAI, out: Path, n: int) -> subprocess.CompletedProcess[str]:
    return _vad("generate", "--model", "openai/fake", "--api-base", server.api_base,
                "--out", out, "--n", n, "--level", "shapes", "--no-progress",
                "--max-connections", "2", "--shard-size", "2")  # fmt: skip


def _kept(out: Path) -> list[dict]:
    return [r for r in read_samples(out / "samples.jsonl") if r["status"] == "ok"]


@pytest.mark.slow
def test_a_damaged_image_is_restored_on_resume_and_refused_by_train(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    with FakeOpenAI() as server:
        assert _generate(server, out, 4).returncode == 0
        kept = _kept(out)
        damaged = out / kept[1]["image"]
        good = damaged.read_bytes()
        damaged.write_bytes(good[: len(good) // 2])  # a PNG cut short

        # The resume finds it and puts back the shard's copy.
        resumed = _generate(server, out, 4)
        assert resumed.returncode == 0, resumed.stderr
        assert (
            f"{damaged} is damaged" in resumed.stderr and "put back from shard-" in resumed.stderr
        )
        assert damaged.read_bytes() == good
        assert hashlib.sha256(good).hexdigest() == kept[1]["sha256"]

        # With no shard to restore from, the drawing is made again.
        damaged.write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
        for shard in (out / "shards").glob("*.tar"):
            shard.unlink()
        resumed = _generate(server, out, 4)
        assert resumed.returncode == 0, resumed.stderr
    kept = _kept(out)  # the drawing made again, or another one in its place
    assert len(kept) == 4
    for record in kept:
        assert hashlib.sha256((out / record["image"]).read_bytes()).hexdigest() == record["sha256"]
    on_disk = [str(p.relative_to(out)) for p in out.glob("images/*/*.png")]
    assert sorted(on_disk) == sorted(r["image"] for r in kept)  # the damaged one is not

    damaged = out / kept[0]["image"]  # damaged after the run: readers refuse it
    damaged.write_bytes(damaged.read_bytes()[:40])
    train = _one_error_line(_vad("train", "--data", out, "--out", tmp_path / "ckpt", *TRAIN))
    assert str(damaged) in train
    grid = _one_error_line(_vad("dataset", "grid", out, "--out", tmp_path / "sheet.png"))
    assert str(damaged) in grid


# -- case: a damaged metadata table ---------------------------------------------------
@pytest.mark.slow
def test_a_truncated_metadata_table_is_named(tmp_path: Path) -> None:
    mk = _set(tmp_path, "mk", n=12)
    table = mk / "metadata.parquet"
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
    merge = _one_error_line(_vad("dataset", "merge", mk, "--out", tmp_path / "m", "--no-progress"))
    assert str(table) in merge
    train = _one_error_line(_vad("train", "--data", mk, "--out", tmp_path / "ckpt", *TRAIN))
    assert str(table) in train
    grid = _one_error_line(_vad("dataset", "grid", mk, "--out", tmp_path / "sheet.png"))
    assert str(table) in grid


@pytest.mark.slow
def test_an_export_over_an_old_one_replaces_it_whole(tmp_path: Path) -> None:
    """Overwriting works, leaves nothing of the old set and no scratch behind."""
    out = _set(tmp_path, "set", n=6, seed=1)
    run = _run_folder(tmp_path / "runs" / "demo-2", 9, 5)
    done = _vad("dataset", "export", run, "--out", out, "--overwrite", "--dedupe", "-1",
                "--size", "32", "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    meta = pd.read_parquet(out / "metadata.parquet")
    assert len(meta) == 9 == len(list(out.glob("images/*/*.png")))
    assert json.loads((out / "export.json").read_text())["counts"]["kept"] == 9
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_the_scratch_of_a_killed_writer_is_cleaned_and_an_old_set_put_back(
    tmp_path: Path,
) -> None:
    """Killed between moving the old set aside and renaming the new one in: the next
    write puts the old one back first (and a failed write then keeps it)."""
    import fcntl

    s0 = _set(tmp_path / "parts", "s0", n=6, seed=4)
    old = _set(tmp_path, "mk", n=5, seed=5)
    before = _tree(old)
    old.rename(tmp_path / ".mk.old-4242")
    (tmp_path / ".mk.new-4242" / "images").mkdir(parents=True)  # a half-written new one
    s0_meta = s0 / "metadata.parquet"
    s0_meta.write_bytes(b"not a table")
    failed = _one_error_line(_vad("dataset", "merge", s0, "--out", old, "--overwrite",
                                  "--no-progress"))  # fmt: skip
    assert str(s0_meta) in failed
    assert _tree(old) == before and _leftovers(tmp_path) == []

    lock = os.open(tmp_path / ".mk.lock", os.O_RDWR | os.O_CREAT)  # another writer
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        busy = _one_error_line(_vad("dataset", "shapes", "--n", "4", "--out", old,
                                    "--overwrite", "--no-progress"))  # fmt: skip
        assert "being written by another process" in busy
    finally:
        os.close(lock)
    assert _tree(old) == before
    run = tmp_path / "parts" / "runs" / "run-s0"
    done = _vad("dataset", "export", run, "--out", old, "--overwrite", "--size", "32",
                "--dedupe", "-1", "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(old / "metadata.parquet")) == 6
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_image_folder_with_a_table_of_its_own_is_no_vad_set(tmp_path: Path) -> None:
    import pandas as pd

    from vad.train.data import image_root

    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
    pd.DataFrame({"file_name": ["cat/1.png"], "label": ["cat"]}).to_parquet(
        tmp_path / "metadata.parquet"
    )
    assert image_root(tmp_path) == tmp_path  # read as an ImageFolder, not refused


@pytest.mark.slow
def test_a_merge_refuses_a_damaged_image_unless_allow_missing(tmp_path: Path) -> None:
    a, b = _set(tmp_path, "a", seed=1), _set(tmp_path, "b", seed=2)
    images = sorted((a / "images").rglob("*.png"))
    images[0].write_bytes(images[0].read_bytes()[:50])  # cut short
    images[1].unlink()
    line = _one_error_line(_vad("dataset", "merge", a, b, "--out", tmp_path / "m"))
    assert "are missing" in line and line.endswith("(or merge without them: --allow-missing)")
    assert not (tmp_path / "m").exists()
    done = _vad("dataset", "merge", a, b, "--out", tmp_path / "m", "--allow-missing")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "m" / "export.json").read_text())
    assert record["counts"]["kept"] == 22  # 24 less the missing one and the damaged one
    images[1].write_bytes(images[2].read_bytes())  # only the damaged one now
    line = _one_error_line(_vad("dataset", "merge", a, b, "--out", tmp_path / "m2"))
    assert line.startswith(f"error: {images[0]} cannot be read as an image")


@pytest.mark.slow
def test_grid_names_an_out_that_is_no_png(tmp_path: Path) -> None:
    a = _set(tmp_path, "a", n=4)
    for out in (tmp_path, tmp_path / "grid.txt"):
        line = _one_error_line(_vad("dataset", "grid", a, "--out", out))
        assert line == f"error: --out {out} is not a .png file's path: give one, such as grid.png"

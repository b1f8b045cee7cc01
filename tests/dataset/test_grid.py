"""The contact sheet of a training set."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from vad.dataset.grid import SHEET, grid
from vad.errors import DatasetError


def _set(root: Path, n: int) -> dict[tuple[int, int, int], str]:
    colours, rows = {}, []
    for i in range(n):
        colour = (20 * i, 255 - 20 * i, 100)
        folder = root / "images" / f"class{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), colour).save(folder / f"{i}.png")
        colours[colour] = f"{i}.png"
        rows.append({"file": f"images/class{i % 3}/{i}.png"})
    pd.DataFrame(rows).to_parquet(root / "metadata.parquet", index=False)
    (root / "export.json").write_text(json.dumps({"counts": {"kept": n}}), encoding="utf-8")
    return colours


def _cells(path: Path, cols: int, rows: int, cell: int = 64, gap: int = 2) -> list[tuple]:
    img = Image.open(path).convert("RGB")
    assert img.size == (cols * cell + (cols + 1) * gap, rows * cell + (rows + 1) * gap)
    return [
        img.getpixel((gap + c * (cell + gap) + cell // 2, gap + r * (cell + gap) + cell // 2))
        for r in range(rows)
        for c in range(cols)
    ]


def test_a_seeded_sample_in_a_square_grid(tmp_path: Path) -> None:
    colours = _set(tmp_path / "set", 10)
    counts = grid(tmp_path / "set", tmp_path / "a.png", n=4, seed=1)
    assert counts == {"shown": 4, "images": 10, "columns": 2, "rows": 2}
    cells = _cells(tmp_path / "a.png", 2, 2)
    assert len(set(cells)) == 4 and set(cells) <= set(colours)  # 4 distinct images of the set
    grid(tmp_path / "set", tmp_path / "b.png", n=4, seed=1)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    grid(tmp_path / "set", tmp_path / "c.png", n=4, seed=2)
    assert _cells(tmp_path / "c.png", 2, 2) != cells


def test_fewer_images_than_asked_shows_them_all(tmp_path: Path) -> None:
    colours = _set(tmp_path / "set", 5)
    counts = grid(tmp_path / "set", tmp_path / "g.png", n=64)
    assert counts == {"shown": 5, "images": 5, "columns": 3, "rows": 2}
    cells = _cells(tmp_path / "g.png", 3, 2)
    assert set(cells[:5]) == set(colours) and cells[5] == SHEET


def test_bad_sets_are_named(tmp_path: Path) -> None:
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images under"):
        grid(tmp_path / "empty", tmp_path / "x.png")
    _set(tmp_path / "set", 1)
    target = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(target)
    (tmp_path / "set" / "images" / "class0" / "0.png").unlink()
    (tmp_path / "set" / "images" / "class0" / "0.png").symlink_to(target)
    with pytest.raises(DatasetError, match="not a regular image file"):
        grid(tmp_path / "set", tmp_path / "x.png")


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from vad.cli import main

    _set(tmp_path / "set", 9)
    out = tmp_path / "sheet.png"
    assert main(["dataset", "grid", str(tmp_path / "set"), "--out", str(out), "--n", "9"]) == 0
    assert f"{out}: 9 of 9 images, 3 x 3" in capsys.readouterr().out
    assert len(set(_cells(out, 3, 3))) == 9
    assert main(["dataset", "grid", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "is not a folder" in capsys.readouterr().err

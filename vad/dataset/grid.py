"""A contact sheet of a training set: ``n`` images drawn at random (seeded), in a grid.

Any set that ``vad train --data`` takes works: an export, a merge, a generation or an
ImageFolder. A set written by vad is checked whole first (every image it lists is there
with the bytes it recorded); a damaged one is refused. Images are read as regular files
only (a set made from model output is not trusted) and shown at one cell size, on a
light grey sheet so white drawings keep their edges.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image

from vad.dataset.images import load_rgb
from vad.dataset.sets import unreadable, verify_images
from vad.errors import DatasetError

SHEET = (235, 235, 235)


def grid(
    folder: str | Path, out: str | Path, n: int = 64, seed: int = 0, cell: int = 64, gap: int = 2
) -> dict[str, int]:
    """Write a PNG of ``n`` random images of the set at ``folder``; returns the counts."""
    from vad.train.data import IMAGE_SUFFIXES, set_root

    if n < 1 or cell < 8 or gap < 0:
        raise DatasetError(f"grid: n = {n}, cell = {cell}, gap = {gap}: need n >= 1, cell >= 8")
    if Path(out).suffix.lower() != ".png" or Path(out).is_dir():
        raise DatasetError(f"--out {out} is not a .png file's path: give one, such as "
                           "grid.png")  # fmt: skip
    root, listed = set_root(folder)
    if listed is not None:
        verify_images(listed)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetError(f"no images under {root}: give a training set or an ImageFolder")
    chosen = random.Random(seed).sample(files, min(n, len(files)))
    cols = math.ceil(math.sqrt(len(chosen)))
    rows = math.ceil(len(chosen) / cols)
    sheet = Image.new(
        "RGB", (cols * cell + (cols + 1) * gap, rows * cell + (rows + 1) * gap), SHEET
    )
    for i, path in enumerate(chosen):
        try:
            img = load_rgb(path).resize((cell, cell), Image.Resampling.LANCZOS)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise unreadable(path, exc) from None
        r, c = divmod(i, cols)
        sheet.paste(img, (gap + c * (cell + gap), gap + r * (cell + gap)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return {"shown": len(chosen), "images": len(files), "columns": cols, "rows": rows}

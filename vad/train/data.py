"""Image folders decoded once into a uint8 array (N, H, W, 3), cached on disk.

Training and evaluation index this array: on a GPU it is moved to device memory whole
when it fits, so loading costs one gather per batch and never starves the model. Decoding
runs in a process pool; the cache key covers the file list, sizes, mtimes and the
resolution, so a changed folder is decoded again.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vad._paths import cache_dir
from vad.dataset.images import load_rgb
from vad.dataset.sets import IMAGE_SUFFIXES, SetFiles, check_set, is_set, unreadable
from vad.errors import DatasetError
from vad.fsutil import recover_folder


@dataclass
class ImageSet:
    images: np.ndarray  # (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) int64
    classes: list[str]
    root: str

    def __len__(self) -> int:
        return len(self.labels)


def image_root(path: str | Path) -> Path:
    """The ImageFolder root of ``path``: the ``images/`` of a training set written by
    vad (export, merge, generate), once it is found whole (``check_set``), or the folder
    itself."""
    return set_root(path)[0]


def set_root(path: str | Path) -> tuple[Path, SetFiles | None]:
    """``image_root``, and what the set's table lists (None for an ImageFolder, or a
    generation that did not stop cleanly)."""
    root = Path(path)
    if not root.exists():  # a writer killed between its two renames: put the set back
        recover_folder(root)
    if root.is_dir() and is_set(root):  # an export, a merge or a generation
        files = check_set(root)
        _warn_unfinished(root)
        return root / "images", files
    if not root.is_dir():
        raise DatasetError(
            f"{root} is not a folder: give an ImageFolder (<root>/<class>/*.png) or the "
            "output of `vad dataset export` / `vad dataset shapes`"
        )
    return root, None


def _warn_unfinished(root: Path) -> None:
    """A generation that did not finish may hold an image without its record (killed
    between the two) and a ``metadata.parquet`` older than its images: say so."""
    import sys

    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(manifest, dict) or manifest.get("kind") != "generation":
        return
    status = manifest.get("status")
    if status != "finished":
        print(f"warning: {root} did not finish (status {status}): its images are what it "
              "held when it stopped; run its `vad generate` command again to finish it",
              file=sys.stderr)  # fmt: skip


def list_images(
    root: Path, per_class: int | None = None, seed: int = 0
) -> tuple[list[Path], list[int], list[str]]:
    """Files and labels of an ImageFolder; ``per_class`` keeps a seeded sample of each."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[int] = []
    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if per_class is not None and len(found) > per_class:
            keep = np.sort(rng.choice(len(found), per_class, replace=False))
            found = [found[i] for i in keep]
        files += found
        labels += [index] * len(found)
    if not files:
        raise DatasetError(
            f"no images under {root}: expected <root>/<class>/<image>.png|jpg (an ImageFolder tree)"
        )
    return files, labels, classes


def _decode(args: tuple[str, int]) -> np.ndarray:
    path, size = args
    try:
        img = load_rgb(path, trusted=True)  # the user's own image folders
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise unreadable(path, exc) from None
    w, h = img.size
    if (w, h) != (size, size):  # shorter side to size, then centre crop
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8)


def load_images(
    path: str | Path, size: int, per_class: int | None = None, seed: int = 0
) -> ImageSet:
    """Every image of an ImageFolder at ``size`` x ``size`` (decoded once, then cached)."""
    root = image_root(path)
    files, labels, classes = list_images(root, per_class, seed)
    h = hashlib.sha256(json.dumps([size, per_class, seed, str(root.resolve())]).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    cache = cache_dir() / "images" / f"{h.hexdigest()[:24]}-{size}px.npy"
    if cache.is_file():
        images = np.load(cache, mmap_mode="r")
    else:
        jobs = [(str(f), size) for f in files]
        workers = min(os.cpu_count() or 1, 8)
        if len(jobs) < 256 or workers == 1:
            arrays = [_decode(j) for j in jobs]
        else:
            with ProcessPoolExecutor(workers) as pool:
                arrays = list(pool.map(_decode, jobs, chunksize=256))
        images = np.stack(arrays)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, images)
        os.replace(tmp, cache)
    return ImageSet(np.asarray(images), np.asarray(labels, dtype=np.int64), classes, str(root))

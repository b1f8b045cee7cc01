"""Export rendered images as a training set: filters, dedupe, ImageFolder, tar shards.

Layout of an export folder::

    images/<label>/<id>.png     an ImageFolder tree (torchvision, timm, ...)
    shards/shard-000000.tar     the same images as <id>.png + <id>.json (webdataset style)
    metadata.parquet            one row per kept image (concept, level, model, language,
                                round, render status, hashes, source sample)
    rejected.parquet            one row per dropped candidate, with the reason
    export.json                 sources, filters, resize policy, counts, versions
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vad.dataset.images import (
    RESIZE_POLICY,
    PHashIndex,
    blank_reason,
    colour_thumb,
    fit_square,
    load_rgb,
    phash,
)
from vad.errors import DatasetError
from vad.fsutil import contained
from vad.rundir import MANIFEST, now_iso, read_samples, write_json_atomic

LABEL_FIELDS = ("concept", "level", "model", "language", "task")


@dataclass
class Candidate:
    """One image offered for export: ``image`` is None when the render failed."""

    image: Path | None
    status: str
    reason: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExportOptions:
    size: int = 64
    dedupe_distance: int = 4  # perceptual-hash bits; -1 turns dedupe off
    min_std: float = 4.0
    max_dominant: float = 0.995
    shard_size: int = 1000
    overwrite: bool = False


def run_candidates(run_dir: Path, label_by: str = "concept") -> Iterator[Candidate]:
    """The drawn images of a run folder (draw and correct records), in file order."""
    if label_by not in LABEL_FIELDS:
        raise DatasetError(f"cannot label by {label_by!r}: choose from {', '.join(LABEL_FIELDS)}")
    if not (run_dir / MANIFEST).is_file():
        raise DatasetError(f"{run_dir} is not a run folder (no {MANIFEST}): see `vad runs`")
    for record in read_samples(run_dir / "samples.jsonl"):
        if record.get("task") not in ("draw", "correct"):
            continue
        image = record.get("image")
        path = contained(run_dir, image) if image else None  # no escape, no symlinked folder
        meta = {
            "sample_id": record["sample_id"],
            "source": run_dir.name,
            "task": record["task"],
            "concept": record.get("concept_id", ""),
            "level": record.get("level", ""),
            "caption": record.get("caption", ""),
            "model": record.get("model", ""),
            "language": record.get("language", ""),
            "round": int(record.get("round") or 0),
        }
        meta["label"] = meta[label_by]
        render = record.get("render") or {}
        status = record.get("status", "")
        if status == "ok" and (path is None or path.is_symlink() or not path.is_file()):
            status, render = (
                "missing_image",
                {"reason": f"{image} is not a regular file in the run folder"},
            )
        yield Candidate(path if status == "ok" else None, status, render.get("reason", ""), meta)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "unlabelled"


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DatasetError(
                f"{out} exists and is not empty: choose another --out or --overwrite"
            )
        if not (out / "export.json").is_file():
            raise DatasetError(f"{out} is not an export folder; refusing to overwrite it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


class _ShardWriter:
    def __init__(self, folder: Path, shard_size: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.shard_size = folder, shard_size
        self.count, self.tar, self.name = 0, None, ""

    def add(self, key: str, png: bytes, meta: dict[str, Any]) -> str:
        if self.tar is None or self.count % self.shard_size == 0:
            self.close()
            self.name = f"shard-{self.count // self.shard_size:06d}.tar"
            self.tar = tarfile.open(self.folder / self.name, "w")  # noqa: SIM115 - spans calls
        for suffix, data in ((".png", png), (".json", json.dumps(meta).encode())):
            info = tarfile.TarInfo(key + suffix)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            self.tar.addfile(info, io.BytesIO(data))
        self.count += 1
        return self.name

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.tar = None


def export(
    candidates: Iterable[Candidate],
    out: Path,
    options: ExportOptions | None = None,
    sources: list[str] | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> dict[str, Any]:
    """Filter, dedupe and write ``candidates`` to ``out``; returns the export record.

    With ``limit``, stops once that many images are kept (procedural sources are
    open-ended: they yield until the export has enough distinct images)."""
    import pandas as pd

    opts = options or ExportOptions()
    _prepare_out(out, opts.overwrite)
    index = PHashIndex(opts.dedupe_distance) if opts.dedupe_distance >= 0 else None
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    shards = _ShardWriter(out / "shards", opts.shard_size)
    bar = tqdm(candidates, desc="export", unit="img", disable=not progress)
    for cand in bar:
        if limit is not None and len(kept) >= limit:
            break
        row = {**cand.meta, "status": cand.status}
        if cand.image is None:
            reason = f"render {cand.status}: {cand.reason}"[:300]
            rejected.append({**row, "drop": "render_failed", "drop_reason": reason})
            continue
        img = load_rgb(cand.image)
        row["orig_width"], row["orig_height"] = img.size
        reason = blank_reason(img, opts.min_std, opts.max_dominant)
        if reason:
            rejected.append({**row, "drop": "blank", "drop_reason": reason})
            continue
        img = fit_square(img, opts.size)
        h = phash(img)
        row["phash"] = f"{h:016x}"
        if index is not None:
            thumb = colour_thumb(img)
            match = index.match(h, thumb)
            if match >= 0:
                dup = f"near-duplicate of {kept[match]['id']}"
                rejected.append({**row, "drop": "duplicate", "drop_reason": dup})
                continue
            index.add(h, thumb)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=False)
        png = buf.getvalue()
        row["sha256"] = hashlib.sha256(png).hexdigest()
        row["id"] = hashlib.sha256(row["sample_id"].encode()).hexdigest()[:16]
        label = _slug(str(row.get("label", "")))
        rel = Path("images") / label / f"{row['id']}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(png)
        row["file"] = str(rel)
        row["shard"] = shards.add(row["id"], png, row)
        kept.append(row)
    shards.close()
    bar.close()
    close = getattr(candidates, "close", None)
    if close is not None:  # stop an open-ended generator (and its renderers) now
        close()
    if not kept:
        raise DatasetError(
            f"nothing to export: all {len(rejected)} candidates were dropped "
            f"({dict(Counter(r['drop'] for r in rejected))})"
        )
    pd.DataFrame(kept).to_parquet(out / "metadata.parquet", index=False)
    columns = None if rejected else ["sample_id", "drop", "drop_reason"]
    pd.DataFrame(rejected, columns=columns).to_parquet(out / "rejected.parquet", index=False)
    record = {
        "created_at": now_iso(),
        "sources": sources or [],
        "size": opts.size,
        "resize_policy": RESIZE_POLICY,
        "filters": {
            "render_status": "ok",
            "min_grey_std": opts.min_std,
            "max_dominant_colour": opts.max_dominant,
            "phash_max_distance": opts.dedupe_distance,
        },
        "counts": {
            "candidates": len(kept) + len(rejected),
            "kept": len(kept),
            "dropped": dict(Counter(r["drop"] for r in rejected)),
            "labels": len({r["file"].split("/")[1] for r in kept}),
            "shards": len(list((out / "shards").glob("*.tar"))),
        },
    }
    write_json_atomic(out / "export.json", record)
    return record

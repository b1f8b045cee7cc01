"""Export rendered images as a training set: filters, dedupe, ImageFolder, tar shards.

Layout of an export folder::

    images/<label>/<id>.png     an ImageFolder tree (torchvision, timm, ...)
    shards/shard-000000.tar     the same images as <id>.png + <id>.json (webdataset style)
    metadata.parquet            one row per kept image (concept, level, model, language,
                                round, render status, hashes, source sample)
    rejected.parquet            one row per dropped candidate, with the reason
    export.json                 sources, filters, resize policy, counts, versions

The folder is written beside ``--out`` and renamed into place when it is whole (an old
export stays until then, and a failed or interrupted export leaves it as it was); the
rename is what marks a set complete. An ``--out`` that is one of the inputs, inside one,
or holds one is refused before anything is read.

Drawings dropped for reasons other than the model's rendering (``LOST_DROPS``: an image
file missing or unreadable, a model call or renderer that failed and is redone by a
re-run) are not data about the model. An export that loses more than ``LOST_SHARE`` of
its candidates, and more than one, that way fails unless ``allow_missing`` is set.
Lines of samples.jsonl that are not records (garbled, or a partial last line) are
skipped and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from vad.dataset.images import RESIZE_POLICY, load_rgb
from vad.dataset.keep import Keeper, ShardWriter, image_id
from vad.dataset.sets import check_set, read_metadata, unreadable
from vad.errors import DatasetError
from vad.fsutil import check_out, contained, staged_folder
from vad.fsutil import label_dir as label_dir  # a merge names classes as generate does
from vad.rundir import (
    MANIFEST,
    RETRY_STATUSES,
    SAMPLES,
    latest,
    now_iso,
    scan_samples,
    write_json_atomic,
)
from vad.tasks import draws_images

LABEL_FIELDS = ("concept", "level", "model", "language", "task")
MISSING = "missing_image"
DAMAGED = "damaged_line"  # status of a samples.jsonl line that is not a record
LOST_DROPS = (MISSING, DAMAGED, *sorted(RETRY_STATUSES))  # not the model's rendering
LOST_SHARE = 0.01  # an export may lose this share of its candidates (and one) that way


@dataclass
class Candidate:
    """One image offered for export: ``image`` is None when there is none to export.

    ``drop`` says why, then: ``render_failed`` (the model's drawing did not render), or
    one of ``LOST_DROPS``. A ``DAMAGED`` candidate is an unreadable samples line.
    ``judged``: the image was already found not blank, at its full rendered size, by the
    set it comes from (a merge): judged again on the set's small copy, a thin drawing
    could look near-uniform and be dropped by one and kept by the other."""

    image: Path | None
    status: str
    reason: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    drop: str = "render_failed"
    judged: bool = False


@dataclass
class ExportOptions:
    size: int = 64
    dedupe_distance: int = 4  # perceptual-hash bits; -1 turns dedupe off
    min_std: float = 4.0
    max_dominant: float = 0.995
    shard_size: int = 1000
    overwrite: bool = False
    allow_missing: bool = False  # export even when many drawings are lost (LOST_DROPS)


def run_candidates(run_dir: Path, label_by: str = "concept") -> Iterator[Candidate]:
    """The drawn images of a run folder (records of tasks that draw), in file order.

    A line of samples.jsonl that is not a sample record comes as a ``DAMAGED``
    candidate: the export counts it and goes on."""
    if label_by not in LABEL_FIELDS:
        raise DatasetError(f"cannot label by {label_by!r}: choose from {', '.join(LABEL_FIELDS)}")
    if not (run_dir / MANIFEST).is_file():
        raise DatasetError(f"{run_dir} is not a run folder (no {MANIFEST}): see `vad runs`")
    for number, record in _sample_lines(run_dir / SAMPLES):
        if isinstance(record, dict) and not draws_images(str(record.get("task"))):
            continue
        try:
            if isinstance(record, str):
                raise ValueError(record)
            yield _candidate(run_dir, record, label_by)
        except (KeyError, TypeError, ValueError) as exc:
            where = f"{run_dir.name}/{SAMPLES} line {number}: {exc}"
            yield Candidate(None, DAMAGED, where, {"source": run_dir.name}, drop=DAMAGED)


def _sample_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) for each line of a samples file; a str says what is wrong."""
    scan = scan_samples(path)
    items: list[tuple[int, dict[str, Any] | str]] = list(latest(scan.records))
    items += [(number, reason) for number, _, reason in scan.damaged]
    if scan.torn_tail:
        items.append((len(scan.records) + len(scan.damaged) + 1, "a partial last line"))
    yield from sorted(items, key=lambda item: item[0])


def _meta(run_dir: Path, record: dict[str, Any], label_by: str) -> dict[str, Any]:
    if not isinstance(record.get("sample_id"), str):
        raise ValueError("a record with no sample_id")
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
    return meta


def _candidate(run_dir: Path, record: dict[str, Any], label_by: str) -> Candidate:
    meta = _meta(run_dir, record, label_by)
    status = str(record.get("status", ""))
    render = record.get("render")
    reason = str(render.get("reason") or "") if isinstance(render, dict) else ""
    if status in RETRY_STATUSES:  # a failed model call or renderer: a re-run redoes it
        error = str(record.get("error") or reason)
        return Candidate(None, status, error, meta, drop=status)
    if status != "ok":
        return Candidate(None, status, reason, meta)
    image = record.get("image")
    named = isinstance(image, str) and image
    path = contained(run_dir, image) if named else None  # no escape, no symlinked folder
    if path is None or path.is_symlink() or not path.is_file():
        what = f"{run_dir / image}" if named else f"the image of {meta['sample_id']}"
        why = f"{what} is not a regular file in the run folder"
        return Candidate(None, MISSING, why, meta, drop=MISSING)
    return Candidate(path, status, "", meta)


def set_sample_ids(folder: Path) -> list[str]:
    """The sample ids of a training set's ``metadata.parquet`` (none when it has none)."""
    if not (folder / "metadata.parquet").is_file():
        return []
    rows = read_metadata(folder)
    column = "sample_id" if rows and "sample_id" in rows[0] else "id"
    return [str(row[column]) for row in rows if column in row]


def set_candidates(
    folder: Path, prefix: str, clash: frozenset[str] = frozenset(), allow_missing: bool = False
) -> Iterator[Candidate]:
    """The kept images of a training set (an export or a generation), for a merge.

    Read from its ``metadata.parquet``, once the set is found whole (``check_set``); an
    image file that cannot be read is a ``missing_image`` candidate like any other. A
    sample keeps its id (so its image keeps its name, whatever the order of the sets),
    unless it is in ``clash``: an id that more than one set of the merge holds, which
    then gets ``prefix``."""
    from vad.rundir import RunFolder, RunStateError, is_being_written

    if is_being_written(folder):
        raise DatasetError(f"{folder} is being written by another process: merge it when "
                           "that run has finished")  # fmt: skip
    if (folder / MANIFEST).is_file():
        try:
            status = RunFolder(folder).read_manifest().get("status")
        except RunStateError as exc:
            raise DatasetError(str(exc)) from None
        if status not in ("finished", None):
            raise DatasetError(f"{folder} did not finish (status {status}): run its command "
                               "again until it does, then merge")  # fmt: skip
    listed = check_set(folder, allow_missing)
    rows = listed.rows if listed is not None else read_metadata(folder)
    for row in rows:
        meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()
                if k not in ("file", "shard", "phash", "sha256", "id")}  # fmt: skip
        meta["source"] = folder.name
        meta.setdefault("label", meta.get("concept", ""))
        sample_id = str(meta.get("sample_id", row.get("id")))
        meta["sample_id"] = f"{prefix}:{sample_id}" if sample_id in clash else sample_id
        rel = row.get("file")
        path = contained(folder, rel) if isinstance(rel, str) and rel else None
        if path is None or path.is_symlink() or not path.is_file():
            why = f"{folder / str(rel)} is not a regular file in the training set"
            yield Candidate(None, MISSING, why, meta, drop=MISSING)
        else:
            if not allow_missing:  # a set's image that does not decode: the set is damaged
                try:
                    with Image.open(path) as img:
                        img.verify()
                except Exception as exc:
                    raise unreadable(path, exc) from None
            yield Candidate(path, "ok", "", meta, judged=True)


def _check_target(out: Path, overwrite: bool) -> None:
    """Refuse to replace a folder that is not an export, or any without ``overwrite``."""
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DatasetError(
                f"{out} exists and is not empty: choose another --out or --overwrite"
            )
        if not (out / "export.json").is_file():
            raise DatasetError(f"{out} is not an export folder; refusing to overwrite it")


def too_many_lost(lost: int, candidates: int) -> bool:
    """Whether losing ``lost`` of ``candidates`` drawings (LOST_DROPS) must stop an export:
    more than ``LOST_SHARE`` of them, and more than one."""
    return lost > max(1.0, LOST_SHARE * candidates)


def _lost_error(lost: list[tuple[str, str]], candidates: int) -> str:
    """One line: how many drawings are lost and why, one example, and the fix."""
    kinds = Counter(drop for drop, _ in lost)
    what = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    example = next((why for drop, why in lost if drop == MISSING), lost[0][1])
    fix = "run the same run command again to redo them (or put the image files back)"
    return (
        f"{len(lost)} of {candidates} drawings would be left out for reasons other than the "
        f"model's rendering ({what}; e.g. {example[:200]}): {fix}, "
        "or pass --allow-missing to export without them"
    )


def _check_lost(lost: list[tuple[str, str]], candidates: int, opts: ExportOptions) -> None:
    if not opts.allow_missing and too_many_lost(len(lost), candidates):
        raise DatasetError(_lost_error(lost, candidates))


def _precheck(candidates: Iterable[Candidate], opts: ExportOptions) -> None:
    """Fail before any work when a list of candidates already loses too many drawings."""
    if not isinstance(candidates, Sequence):
        return
    lost = [(c.drop, c.reason) for c in candidates if c.image is None and c.drop in LOST_DROPS]
    _check_lost(lost, len(candidates), opts)


def _load(path: Path) -> Image.Image | str:
    """The image at ``path``, or why it cannot be read."""
    try:
        return load_rgb(path)
    except (DatasetError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return f"{path} cannot be read as an image: {e}"


def lost_warning(record: dict[str, Any]) -> str | None:
    """A line for stderr when an export left drawings out for non-render reasons."""
    dropped = record["counts"]["dropped"]
    kinds = {k: dropped[k] for k in LOST_DROPS if dropped.get(k)}
    if not kinds:
        return None
    what = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    return (
        f"warning: {sum(kinds.values())} of {record['counts']['candidates']} drawings were "
        f"left out for reasons other than the model's rendering ({what}): "
        "see rejected.parquet in the export folder"
    )


def export(
    candidates: Iterable[Candidate],
    out: Path,
    options: ExportOptions | None = None,
    sources: list[str] | None = None,
    progress: bool = True,
    limit: int | None = None,
    inputs: Iterable[str | Path] = (),
) -> dict[str, Any]:
    """Filter, dedupe and write ``candidates`` to ``out``; returns the export record.

    With ``limit``, stops once that many images are kept (procedural sources are
    open-ended: they yield until the export has enough distinct images). Raises
    DatasetError, leaving ``out`` as it was, when too many drawings are lost
    (``too_many_lost``) unless ``options.allow_missing``. ``inputs``: the folders the
    candidates come from, which ``out`` must stay clear of (``check_out``)."""
    opts = options or ExportOptions()
    check_out(out, inputs)
    _precheck(candidates, opts)
    _check_target(out, opts.overwrite)
    with staged_folder(out) as stage:  # renamed to ``out`` when whole, else removed
        kept, rejected, damaged = _export_images(candidates, stage, opts, progress, limit)
        lost = [(r["drop"], r["drop_reason"]) for r in rejected if r["drop"] in LOST_DROPS]
        lost += [(DAMAGED, where) for where in damaged]  # a damaged line is a lost drawing
        _check_lost(lost, len(kept) + len(rejected) + len(damaged), opts)
        if not kept:
            raise DatasetError(
                f"nothing to export: all {len(rejected)} candidates were dropped "
                f"({dict(Counter(r['drop'] for r in rejected))})"
            )
        return _write_record(stage, opts, sources, kept, rejected, damaged)


def _export_images(
    candidates: Iterable[Candidate],
    out: Path,
    opts: ExportOptions,
    progress: bool,
    limit: int | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Write the images that pass; return the kept rows, rejected rows, damaged lines."""
    keeper = Keeper(out, opts.size, opts.min_std, opts.max_dominant, opts.dedupe_distance)
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    damaged: list[str] = []
    shards = ShardWriter(out / "shards", opts.shard_size)
    bar = tqdm(candidates, desc="export", unit="img", disable=not progress)
    try:
        for cand in bar:
            if limit is not None and len(kept) >= limit:
                break
            if cand.status == DAMAGED:
                damaged.append(cand.reason)
                continue
            row = _keep(cand, keeper, kept, shards)
            (rejected if "drop" in row else kept).append(row)
    finally:
        shards.close()
        bar.close()
        close = getattr(candidates, "close", None)
        if close is not None:  # stop an open-ended generator (and its renderers) now
            close()
    return kept, rejected, damaged


def _keep(
    cand: Candidate, keeper: Keeper, kept: list[dict[str, Any]], shards: ShardWriter
) -> dict[str, Any]:
    """Judge one candidate: a kept row (its image written), or a row with ``drop``."""
    row = {**cand.meta, "status": cand.status}
    if cand.image is None:
        why = (
            f"render {cand.status}: {cand.reason}" if cand.drop == "render_failed" else cand.reason
        )
        return {**row, "drop": cand.drop, "drop_reason": why[:300]}
    img = _load(cand.image)
    if isinstance(img, str):
        return {**row, "status": MISSING, "drop": MISSING, "drop_reason": img[:300]}
    row["orig_width"], row["orig_height"] = img.size
    judged = keeper.judge(img, blank_checked=cand.judged)
    if isinstance(judged, str):
        return {**row, "drop": "blank", "drop_reason": judged}
    row["id"] = image_id(str(row["sample_id"]))
    if row["id"] in keeper.ids:  # two rows of one sample: the image's name is taken
        why = f"the same sample id as an image already kept ({row['sample_id']})"
        return {**row, "drop": "duplicate", "drop_reason": why[:300]}
    row["phash"] = judged.phash_hex
    match = keeper.duplicate(judged)
    if match >= 0:
        return {**row, "drop": "duplicate", "drop_reason": f"near-duplicate of {kept[match]['id']}"}
    image = keeper.keep(judged, str(row["sample_id"]), str(row.get("label", "")))
    row["sha256"] = image.sha256
    row["file"] = image.file
    row["shard"] = shards.add(row["id"], image.png, row)
    return row


def _write_record(
    out: Path,
    opts: ExportOptions,
    sources: list[str] | None,
    kept: list[dict[str, Any]],
    rejected: list[dict[str, Any]],
    damaged: list[str],
) -> dict[str, Any]:
    """Write the parquet tables and export.json; return the export record."""
    import pandas as pd

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
            "allow_missing": opts.allow_missing,
        },
        "counts": {
            "candidates": len(kept) + len(rejected),
            "kept": len(kept),
            "dropped": dict(Counter(r["drop"] for r in rejected)),
            "labels": len({r["file"].split("/")[1] for r in kept}),
            "shards": len(list((out / "shards").glob("*.tar"))),
            "damaged_lines": len(damaged),
        },
        "damaged_lines": damaged[:100],
    }
    write_json_atomic(out / "export.json", record)
    return record

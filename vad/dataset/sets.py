"""Checking a training set written by vad before it is read (train, grid, merge).

A set is written whole: an export, a merge or a shapes set goes into a folder beside
its target and is renamed into place at the end (``vad.fsutil.staged_folder``), so the
rename is what marks it complete; a generation writes ``metadata.parquet`` (to a
temporary name, then renamed) and then its manifest each time a session ends. A folder
can still be found incomplete or damaged: cut short by an older version or by a copy,
edited by hand, or a disk error. The checks here are cheap (a table read and a ``stat``
per image; ``verify_images`` reads each image once) and each failure is one line that
names the set, the file and the fix.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vad.errors import DatasetError
from vad.fsutil import MAX_IMAGE_BYTES, contained, read_regular

EXPORT_RECORD = "export.json"
METADATA = "metadata.parquet"
MANIFEST = "manifest.json"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
REMAKE = ("make the set again with the command that made it (a `vad generate` run resumes "
          "and redoes what is lost; an export or a merge with --overwrite)")  # fmt: skip


@dataclass
class SetFiles:
    """What a set's metadata lists: a row per image (``file`` relative to the set)."""

    folder: Path
    rows: list[dict[str, Any]]
    generation: dict[str, Any] | None  # the manifest of a generation, else None


def is_set(folder: Path) -> bool:
    """Whether ``folder`` was written by vad as a training set (not a plain ImageFolder;
    an image folder may have a ``metadata.parquet`` of its own beside its class folders)."""
    if (folder / EXPORT_RECORD).is_file():
        return True
    if (folder / METADATA).is_file() and (folder / "images").is_dir():
        return True
    return _generation(folder) is not None


def _generation(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("kind") == "generation" else None


def read_metadata(folder: Path) -> list[dict[str, Any]]:
    """The rows of a set's ``metadata.parquet``; DatasetError naming it when it cannot
    be read (cut short, or not a table)."""
    import pandas as pd

    table = folder / METADATA
    if not table.is_file():
        raise DatasetError(
            f"{folder} is not a training set (no {METADATA}): give folders written by "
            "`vad generate` or `vad dataset export`"
        )
    try:
        frame = pd.read_parquet(table)
    except Exception as exc:  # pyarrow's errors: ArrowInvalid, OSError, ...
        raise DatasetError(f"{table} cannot be read ({_first_line(exc)}): the set is "
                           f"damaged: {REMAKE}") from None  # fmt: skip
    return frame.to_dict("records")


def check_set(folder: Path, allow_missing: bool = False) -> SetFiles | None:
    """The listed images of the vad set at ``folder`` once it is found whole: None for a
    plain ImageFolder, and for a generation still being written (or killed while
    running), whose images are ahead of its table; DatasetError otherwise.

    Whole means: ``export.json`` (when there) readable and counting the rows of
    ``metadata.parquet``; every listed image a regular file in the set; no image under
    ``images/`` that the table does not list. ``allow_missing``: listed images that are
    missing are let through (a merge drops them and says how many)."""
    if not is_set(folder):
        return None
    generation = _generation(folder)
    if generation is not None and generation.get("status") in ("running", None):
        return None  # its table is rewritten when the run stops
    kept = None
    if generation is None:
        record_path = folder / EXPORT_RECORD
        if not record_path.is_file():
            what = f"{METADATA} but no {EXPORT_RECORD} or {MANIFEST}"
            raise DatasetError(f"{folder} is incomplete (it has {what}): {REMAKE}")
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            kept = int(record["counts"]["kept"])
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DatasetError(f"{record_path} cannot be read ({_first_line(exc)}): the set "
                               f"is damaged: {REMAKE}") from None  # fmt: skip
        if not (folder / METADATA).is_file():
            raise DatasetError(f"{folder} is incomplete: it has {EXPORT_RECORD} but no "
                               f"{METADATA} (a write cut short): {REMAKE}")  # fmt: skip
    rows = read_metadata(folder)
    if kept is not None and kept != len(rows):
        raise DatasetError(f"{folder} is incomplete: {EXPORT_RECORD} counts {kept} images, "
                           f"{folder / METADATA} lists {len(rows)}: {REMAKE}")  # fmt: skip
    on_disk = _regular_files(folder / "images", folder)
    listed: set[str] = set()
    missing: list[str] = []
    for row in rows:
        rel = row.get("file")
        name = os.path.normpath(rel) if isinstance(rel, str) and rel else ""
        if name in on_disk:
            listed.add(name)
            continue
        path = contained(folder, name) if name else None  # a file outside images/
        if path is None or path.is_symlink() or not path.is_file():
            missing.append(str(folder / str(rel)))
    if missing and not allow_missing:
        raise DatasetError(f"{folder} is damaged: {len(missing)} of {len(rows)} images "
                           f"listed in {METADATA} are missing, or not a regular image file "
                           f"(first: {missing[0]}): {REMAKE} (or merge without them: "
                           "--allow-missing)")  # fmt: skip
    extra = sorted(name for name in on_disk - listed
                   if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES)  # fmt: skip
    if extra:
        raise DatasetError(f"{folder} is damaged: {len(extra)} images under images/ are not "
                           f"in {METADATA} (first: {folder / extra[0]}): {REMAKE}")  # fmt: skip
    return SetFiles(folder, rows, generation)


def _regular_files(top: Path, folder: Path) -> set[str]:
    """The regular files under ``top`` (relative to ``folder``), reached through real
    folders only: a symlink, to a file or a folder, is not one of them."""
    found: set[str] = set()
    stack = [] if top.is_symlink() else [str(top)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (NotADirectoryError, FileNotFoundError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                found.add(os.path.relpath(entry.path, folder))
    return found


def image_damage(path: Path, sha256: str | None = None) -> str:
    """Why the image at ``path`` is damaged, or "": not the bytes its record's
    ``sha256`` names, or (with no hash to compare) not a picture PIL can read whole."""
    data = read_regular(path.parent, path.name, MAX_IMAGE_BYTES)
    if data is None:
        return f"{path} is not a regular image file"
    if sha256:
        if hashlib.sha256(data).hexdigest() != sha256:
            return f"{path} is damaged (its bytes are not those its set recorded)"
        return ""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except Exception as exc:  # PIL raises many kinds for a damaged file
        return f"{path} cannot be read as an image ({_first_line(exc)})"
    return ""


def verify_images(files: SetFiles) -> None:
    """Read every image of a set once: DatasetError naming the first damaged one."""
    for row in files.rows:
        sha = row.get("sha256")
        why = image_damage(files.folder / str(row["file"]), sha if isinstance(sha, str) else None)
        if why:
            raise DatasetError(f"{why}: the set {files.folder} is damaged: {REMAKE}")


def unreadable(path: str | Path, exc: BaseException) -> DatasetError:
    """The error for an image file that does not decode."""
    return DatasetError(f"{path} cannot be read as an image ({_first_line(exc)}): replace "
                        f"or remove the file, or {REMAKE}")  # fmt: skip


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__

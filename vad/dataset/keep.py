"""Keeping an image in a training set, the same for ``vad generate`` and the exports.

An image is judged (``Keeper.judge``: not blank or near-uniform, then fitted to the
square of the set's size, with its perceptual hash and colour thumbnail), compared with
everything the set kept so far (``Keeper.duplicate``), and kept (``Keeper.keep``): its
id is ``sha256(sample_id)[:16]``, its file ``images/<label>/<id>.png``.

Tar shards (``ShardWriter``) hold ``shard_size`` images each as ``<id>.png`` and
``<id>.json`` members (mode 0644, mtime 0, the JSON the caller's metadata): the same
images give the same bytes. A shard is written under a temporary name and renamed
when whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vad.dataset.images import PHashIndex, blank_reason, colour_thumb, fit_square, phash
from vad.fsutil import label_dir


def image_id(sample_id: str) -> str:
    """The id (and file name) of a sample's image: the same in every set that keeps it."""
    return hashlib.sha256(sample_id.encode()).hexdigest()[:16]


def shard_name(number: int) -> str:
    return f"shard-{number:06d}.tar"


@dataclass
class Judged:
    """An image fitted to the set's square, with what near-duplicates are found by."""

    image: Image.Image
    phash: int
    thumb: np.ndarray  # 8x8 RGB, float32

    @property
    def phash_hex(self) -> str:
        return f"{self.phash:016x}"

    @property
    def thumb_hex(self) -> str:
        return self.thumb.astype(np.uint8).tobytes().hex()


@dataclass
class Kept:
    """A kept image: its id, its file (relative to the set's folder), PNG and sha256."""

    id: str
    file: str
    png: bytes
    sha256: str


class Keeper:
    """Judges and keeps the images of one set written to ``folder``: ``size`` px squares,
    none near-uniform (``min_std``, ``max_dominant``: see ``blank_reason``), none within
    ``dedupe_distance`` bits of pHash (and of colour) of an image kept before (-1: no
    dedupe). ``ids``: the ids of every image kept. Not thread-safe: a caller that keeps
    from several threads holds its own lock around ``duplicate`` and ``keep``."""

    def __init__(
        self,
        folder: Path,
        size: int,
        min_std: float,
        max_dominant: float,
        dedupe_distance: int,
    ) -> None:
        self.folder, self.size = folder, size
        self.min_std, self.max_dominant = min_std, max_dominant
        self.index = PHashIndex(dedupe_distance) if dedupe_distance >= 0 else None
        self.ids: set[str] = set()

    def judge(self, img: Image.Image, blank_checked: bool = False) -> Judged | str:
        """``img`` fitted to the square, or why it is blank or near-uniform (judged at
        its own size; ``blank_checked``: it was found not blank already)."""
        why = "" if blank_checked else blank_reason(img, self.min_std, self.max_dominant)
        if why:
            return why
        fitted = fit_square(img, self.size)
        return Judged(fitted, phash(fitted), colour_thumb(fitted))

    def duplicate(self, judged: Judged) -> int:
        """The position (in kept order) of a kept near-duplicate of ``judged``, or -1."""
        return self.index.match(judged.phash, judged.thumb) if self.index is not None else -1

    def keep(self, judged: Judged, sample_id: str, label: str) -> Kept:
        """Write the image to ``images/<label>/<id>.png`` (by a temporary name) and count
        it for the near-duplicates that follow."""
        buf = io.BytesIO()
        judged.image.save(buf, format="PNG", optimize=False)
        png = buf.getvalue()
        key = image_id(sample_id)
        rel = Path("images") / label_dir(label) / f"{key}.png"
        dest = self.folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.write_bytes(png)
        os.replace(tmp, dest)
        self.ids.add(key)
        if self.index is not None:
            self.index.add(judged.phash, judged.thumb)
        return Kept(key, str(rel), png, hashlib.sha256(png).hexdigest())

    def restore(self, record: dict[str, Any]) -> None:
        """Count the kept image of a record (``phash``, ``thumb`` and ``id`` as ``keep``
        gave them) as kept."""
        self.ids.add(str(record.get("id")))
        if self.index is not None:
            thumb = np.frombuffer(bytes.fromhex(record["thumb"]), dtype=np.uint8)
            self.index.add(int(record["phash"], 16), thumb.reshape(8, 8, 3).astype(np.float32))


class ShardWriter:
    """Tar shards of ``shard_size`` images in ``folder``: streamed one image at a time
    (``add``, then ``close``), or one shard whole (``write``)."""

    def __init__(self, folder: Path, shard_size: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.shard_size = folder, shard_size
        self.count = 0  # images added
        self.name = ""  # the shard being written
        self._tar: tarfile.TarFile | None = None

    def add(self, key: str, png: bytes, meta: dict[str, Any]) -> str:
        """Add an image to the current shard (the next one once it is full); its name."""
        if self._tar is None:
            self._open(shard_name(self.count // self.shard_size))
        name = self.name
        self._member(key, png, meta)
        self.count += 1
        if self.count % self.shard_size == 0:
            self.close()
        return name

    def write(self, name: str, images: Iterable[tuple[str, bytes, dict[str, Any]]]) -> None:
        """The shard ``name`` whole, replacing one of that name when it is written."""
        self.close()
        self._open(name)
        try:
            for key, png, meta in images:
                self._member(key, png, meta)
        except BaseException:
            self._abandon()
            raise
        self.close()

    def close(self) -> None:
        """The shard being written, renamed into place."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None
            os.replace(self._tmp(self.name), self.folder / self.name)

    def _open(self, name: str) -> None:
        self.name = name
        self._tar = tarfile.open(self._tmp(name), "w")  # noqa: SIM115 - spans calls

    def _abandon(self) -> None:
        """Close the shard being written and leave it at its temporary name."""
        if self._tar is not None:
            with contextlib.suppress(OSError):
                self._tar.close()
            self._tar = None

    def _tmp(self, name: str) -> Path:
        return self.folder / f".{name}.tmp"

    def _member(self, key: str, png: bytes, meta: dict[str, Any]) -> None:
        assert self._tar is not None
        for suffix, data in ((".png", png), (".json", json.dumps(meta).encode())):
            info = tarfile.TarInfo(key + suffix)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            self._tar.addfile(info, io.BytesIO(data))


def shard_ids(path: Path) -> list[str]:
    """The image ids a shard holds, in order ([] for a damaged one: it is rewritten)."""
    try:
        with tarfile.open(path) as tar:
            return [m.name[:-4] for m in tar.getmembers() if m.name.endswith(".png")]
    except (OSError, tarfile.TarError):
        return []


def shard_png(path: Path | None, key: str) -> bytes | None:
    """The PNG of image ``key`` in the shard at ``path`` (None when it cannot be read)."""
    if path is None:
        return None
    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile(f"{key}.png")
            return member.read() if member is not None else None
    except (OSError, KeyError, tarfile.TarError):
        return None

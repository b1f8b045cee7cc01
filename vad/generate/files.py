"""The image files and tar shards of a generation folder, kept in step with its records.

Images are written by ``vad.dataset.keep.Keeper`` as they are kept. Tar shards of
``shard_size`` images are written whole (to a temporary name, then renamed) as they
fill, and the last one when the run stops; one on disk that already holds what it
should is left as it is. On resume, a kept image whose bytes are not those its record
names is put back from its shard or removed (and so drawn again), and an image no kept
record names is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vad.dataset.keep import ShardWriter, shard_ids, shard_name, shard_png
from vad.rundir import read_samples


class SetFiles:
    """The ``images/`` and ``shards/`` of the generation folder ``folder``."""

    def __init__(self, folder: Path, shard_size: int, say: Callable[[str], None]) -> None:
        self.folder, self.shard_size, self.say = folder, shard_size, say
        self.shard_ids: dict[str, list[str]] | None = None  # shard name -> image ids

    def check_images(self, samples: Path) -> None:
        """Kept images of earlier sessions whose bytes are not those their record names
        (damaged on disk) are put back from the shard that holds them, or else removed:
        ``RunFolder.open`` then drops their record and the drawing is redone. One read
        and one hash per kept image."""
        from vad.dataset.sets import image_damage
        from vad.fsutil import contained

        if not samples.is_file():
            return
        copies: dict[str, Path] | None = None  # image id -> the shard holding it
        for record in read_samples(samples):
            image, sha = record.get("image"), record.get("sha256")
            if record.get("status") != "ok" or not isinstance(image, str):
                continue
            path = contained(self.folder, image)
            if path is None or path.is_symlink() or not path.is_file():
                continue  # lost: RunFolder.open redoes it
            why = image_damage(path, sha if isinstance(sha, str) else None)
            if not why:
                continue
            if copies is None:
                folder = self.folder / "shards"
                copies = {i: p for p in sorted(folder.glob("shard-*.tar")) for i in shard_ids(p)}
            png = shard_png(copies.get(str(record.get("id"))), str(record.get("id")))
            if png is not None and hashlib.sha256(png).hexdigest() == sha:
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_bytes(png)
                os.replace(tmp, path)
                self.say(f"{why}: put back from {copies[str(record['id'])].name}")
            else:
                path.unlink()
                self.say(f"{why}: no shard holds a good copy, so it is drawn again")

    def remove_orphans(self, kept: list[dict[str, Any]]) -> None:
        """Images no kept record names (written just before a kill): not in the set."""
        named = {str(r["image"]) for r in kept}
        images = self.folder / "images"
        for path in images.glob("*/*") if images.is_dir() else ():
            rel = str(path.relative_to(self.folder))
            if rel not in named and (path.is_file() or path.is_symlink()):
                path.unlink()
        for folder in images.iterdir() if images.is_dir() else ():
            if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
                folder.rmdir()  # a class with no image left is no class

    def write_shards(self, kept: list[dict[str, Any]], final: bool) -> list[str]:
        """Every full shard of ``kept`` not yet written, and with ``final`` the last
        partial one; the names of the shards, in order."""
        folder = self.folder / "shards"
        size = self.shard_size
        shards = ShardWriter(folder, size)
        if self.shard_ids is None:  # once per session: what the shards on disk hold
            self.shard_ids = {p.name: shard_ids(p) for p in folder.glob("shard-*.tar")}
        names = []
        for start in range(0, len(kept), size):
            group = kept[start : start + size]
            name = shard_name(start // size)
            names.append(name)
            if len(group) < size and not final:
                break
            ids = [r["id"] for r in group]
            if self.shard_ids.get(name) == ids and (folder / name).is_file():
                continue
            shards.write(name, ((r["id"], (self.folder / r["image"]).read_bytes(),
                                 {k: v for k, v in r.items() if k not in ("thumb", "code")})
                                for r in group))  # fmt: skip
            self.shard_ids[name] = ids
        if final:  # shards of an earlier, longer layout (another --shard-size) go
            for name in sorted(set(self.shard_ids) - set(names)):
                with contextlib.suppress(FileNotFoundError):
                    (folder / name).unlink()
                del self.shard_ids[name]
        return names

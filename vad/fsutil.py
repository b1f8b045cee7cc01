"""Reading files that came out of the jail (or sit in run folders): never via a symlink.

A path is opened with ``O_NOFOLLOW`` and checked on the open descriptor (a regular
file, under a size cap) before anything is read; every folder on the way must be a
real folder inside the given root.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

MAX_IMAGE_BYTES = 64 << 20


def open_regular(path: str | Path, limit: int) -> int | None:
    """An fd to ``path`` if it is a regular file (not a symlink) of at most ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        return None
    return fd


def read_fd(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(1 << 20, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def contained(root: str | Path, relative: str | Path) -> Path | None:
    """``root / relative`` if it stays inside ``root`` with no symlink on the way."""
    root = Path(root)
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        return None
    current = root
    for part in rel.parts[:-1]:
        current = current / part
        if current.is_symlink() or not current.is_dir():
            return None
    return root / rel


def read_regular(
    root: str | Path, relative: str | Path, limit: int = MAX_IMAGE_BYTES
) -> bytes | None:
    """The bytes of a regular file inside ``root`` (None for symlinks, escapes, too large)."""
    path = contained(root, relative)
    if path is None:
        return None
    fd = open_regular(path, limit)
    if fd is None:
        return None
    try:
        return read_fd(fd, limit)
    finally:
        os.close(fd)


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def label_dir(label: str) -> str:
    """A safe folder name for a class: letters, marks and digits of any script (NFC) and
    ``-._`` kept, the rest ``_``; cut short with a hash past 80 bytes, so two labels
    never share one folder and the name stays within a file system's 255 bytes."""
    import unicodedata

    label = unicodedata.normalize("NFC", label)
    keep = "".join(c if unicodedata.category(c)[0] in "LMN" or c in "-._" else "_" for c in label)
    name = keep.strip(".") or "_"
    if len(name.encode()) > 80:
        head = name.encode()[:60].decode("utf-8", "ignore")
        name = f"{head}-{hashlib.sha256(label.encode()).hexdigest()[:12]}"
    return name

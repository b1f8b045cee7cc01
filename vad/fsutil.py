"""Reading files that came out of the jail (or sit in run folders): never via a symlink.

A path is opened with ``O_NOFOLLOW`` and checked on the open descriptor (a regular
file, under a size cap) before anything is read; every folder on the way must be a
real folder inside the given root.

Writing a folder whole (``staged_folder``): the new content goes into a folder beside
the target, renamed into place at the end, so the target is always the old content or
the new one, never a mix and never gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from vad.errors import VadError

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


_RASTER = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
           (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))  # fmt: skip


def image_type(data: bytes) -> str | None:
    """The media type of a raster image by its first bytes; None for anything else (an
    SVG, which can carry script, a page, a manifest): what the site copies and the
    arena serves."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _RASTER if data.startswith(magic)), None)


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


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """SIGINT and SIGTERM held back (in the main thread) while the block runs, delivered
    after it: for a few steps that must happen together."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


@contextlib.contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """A new, empty folder beside ``target`` to write its new content into.

    When the block ends without an error, the folder is renamed to ``target`` (an old
    ``target`` is moved aside first, in the same step as far as signals go, then
    deleted); when it fails or is interrupted, the folder is deleted and ``target`` is
    as it was. One writer at a time: ``.<name>.lock`` beside the target is locked for
    the whole block (and removed after it). The scratch of a writer that was killed
    (``.<name>.new-*``, ``.<name>.old-*``) is cleaned up by the next one: an old target
    moved aside and not replaced is put back.
    """
    target = Path(os.path.realpath(target))
    parent, name = target.parent, target.name
    parent.mkdir(parents=True, exist_ok=True)
    lock_path = parent / f".{name}.lock"
    lock = _lock_beside(lock_path, target)
    try:
        _clean_scratch(parent, name, target)
        stage = parent / f".{name}.new-{os.getpid()}"
        stage.mkdir()
        try:
            yield stage
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        old = parent / f".{name}.old-{os.getpid()}"
        with held_signals():
            if target.exists() or target.is_symlink():
                os.rename(target, old)
            os.rename(stage, target)
        if old.is_symlink():
            old.unlink()
        elif old.exists():
            shutil.rmtree(old, ignore_errors=True)
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()  # (a writer that opened it meanwhile sees it gone: retries)
        os.close(lock)


def recover_folder(target: str | Path) -> None:
    """Clean up what a killed ``staged_folder`` writer of ``target`` left beside it
    (putting back an old ``target`` it had moved aside), before anything else."""
    target = Path(os.path.realpath(target))
    parent, name = target.parent, target.name
    if not parent.is_dir() or not any(parent.glob(f".{glob_escape(name)}.*-*")):
        return
    lock_path = parent / f".{name}.lock"
    lock = _lock_beside(lock_path, target)
    try:
        _clean_scratch(parent, name, target)
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        os.close(lock)


def _lock_beside(path: Path, target: Path) -> int:
    """An exclusive lock on the file at ``path``, created if need be."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise VadError(f"{target} is being written by another process: wait for it to "
                           "end, or choose another --out") from None  # fmt: skip
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # its last holder removed it after this process opened it


def _clean_scratch(parent: Path, name: str, target: Path) -> None:
    """What a killed writer of ``target`` left beside it (call under its lock)."""
    for kind in ("old", "new"):  # an old target first: put back if nothing replaced it
        for path in sorted(parent.glob(f".{glob_escape(name)}.{kind}-*")):
            if kind == "old" and not (target.exists() or target.is_symlink()):
                os.rename(path, target)
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    """``name`` with the characters glob gives a meaning to taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def check_out(out: Path, inputs: Iterable[str | Path], what: str = "an input") -> None:
    """Refuse an ``--out`` that is one of ``inputs``, inside one, or holds one: writing
    it would replace (or delete) what the command reads."""
    target = Path(os.path.realpath(out))
    for source in inputs:
        path = Path(os.path.realpath(source))
        if target == path or path in target.parents or target in path.parents:
            where = ("is" if target == path else "is inside" if path in target.parents
                     else "holds")  # fmt: skip
            raise VadError(f"--out {out} {where} {source}, {what}: writing there would "
                               "replace or delete what is read; choose another --out, "
                               "outside every input")  # fmt: skip

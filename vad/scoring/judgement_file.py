"""``<run>/judgements.jsonl``: one line per judgement, appended as each is made.

A judgement is identified by its judge, its kind, the request key(s) it was asked
with (two for a pairwise judgement: both orders) and its sample(s); one already in the
file is not made again. A ``kill -9`` can cut the last line short: the file is cut back
to its last whole line when opened (that judgement is made again, its reply from the
response store), and every line before it is kept. A line that is not a judgement is
skipped, never fatal. The run folder's writer lock (``vad.runlife.writing``) is held by
whoever appends.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

NAME = "judgements.jsonl"

Identity = tuple[str, str, tuple[str, ...], tuple[str, ...]]


def identity(record: dict[str, Any]) -> Identity | None:
    """(judge, kind, request keys, sample ids) of a judgement line, or None if it is
    not one. The samples are part of it: two drawings that are the same image of the
    same caption make the same request (one reply), and each still gets its line."""
    keys = record.get("request_keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or not keys:
        return None
    samples = record.get("samples") or [record]
    ids = tuple(str(s.get("sample_id")) for s in samples if isinstance(s, dict))
    return str(record.get("judge")), str(record.get("kind")), tuple(keys), ids


def read_judgements(folder: Path) -> list[dict[str, Any]]:
    """The judgements in ``folder``'s file (a torn or damaged line skipped)."""
    try:
        data = (folder / NAME).read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for raw in data.split(b"\n")[:-1]:  # the part after the last newline is torn
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(record, dict) and identity(record) is not None:
            out.append(record)
    return out


class JudgementFile:
    """The judgements file of one run folder, opened for appending (under its lock)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / NAME
        self.done: set[Identity] = set()
        self.repaired = 0  # bytes of a torn last line cut off by open()
        self._lock = threading.Lock()

    def open(self) -> None:
        """Cut a torn last line off, and learn which judgements are made."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size:
            with self.path.open("rb+") as fh:
                data = fh.read()
                end = data.rfind(b"\n") + 1
                if end < len(data):  # a write a kill cut short: not a judgement yet
                    fh.truncate(end)
                    fh.flush()
                    os.fsync(fh.fileno())
                    self.repaired = len(data) - end
        self.done = {i for r in read_judgements(self.folder) if (i := identity(r)) is not None}

    def append(self, record: dict[str, Any]) -> None:
        """Write one judgement as one line, synced before it counts as made."""
        line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with self._lock:
            with self.path.open("ab") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            key = identity(record)
            if key is not None:
                self.done.add(key)

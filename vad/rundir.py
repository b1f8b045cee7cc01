"""A run folder: manifest.json, samples.jsonl (one line per sample), planned.jsonl (the
samples it means to write) and images/.

One process writes a run folder at a time: it holds an exclusive lock on ``.lock`` for
the run's life (the OS releases it when the process dies, however it dies).

samples.jsonl is append-only while a run is going. A run killed mid-write leaves at
most one partial last line; opening the folder again drops it, moves any other damaged
line aside into ``quarantine.jsonl`` (with its line number, its text and its exact bytes
in base64), keeps the last record of each sample and drops samples that were not
scored so that they are redone.
Readers never fail on a damaged line: they skip it and say so.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import json
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vad.errors import VadError
from vad.fsutil import contained
from vad.outcomes import NOT_SCORED, is_scored

MANIFEST, SAMPLES, QUARANTINE, LOCK = "manifest.json", "samples.jsonl", "quarantine.jsonl", ".lock"
PLANNED = "planned.jsonl"  # the samples a run means to write (see write_planned)
RETRY_STATUSES = NOT_SCORED  # redone on resume (replies come from the store)


class RunStateError(VadError):
    """A run folder's state is damaged, or another process is writing it."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class SamplesScan:
    """What a samples file holds: its records by line number, and what is damaged."""

    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    damaged: list[tuple[int, str, str]] = field(default_factory=list)  # line, text, reason
    torn_tail: bool = False  # a partial last line (a write cut short by a kill)
    lines: int = 0  # complete lines
    raw: dict[int, bytes] = field(default_factory=dict)  # damaged lines' bytes, by number

    def note(self, path: Path) -> str:
        """One line for readers, or '' when nothing is damaged.

        A torn last line counts once no process writes the run (while one does, it is
        a line being written)."""
        damaged = list(self.damaged)
        if self.torn_tail and not is_being_written(path.parent):
            damaged.append((self.lines + 1, "", "a partial last line"))
        if not damaged:
            return ""
        lines = ", ".join(str(n) for n, _, _ in damaged[:5])
        more = f" and {len(damaged) - 5} more" if len(damaged) > 5 else ""
        return (f"{path}: {len(damaged)} damaged line(s) skipped (line {lines}{more}: "
                f"{damaged[0][2]}); run the same command again to move them to "
                f"{QUARANTINE} and redo those samples")  # fmt: skip


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte {exc.start})"
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not a record"
    if not isinstance(record.get("sample_id"), str) or not isinstance(record.get("status"), str):
        return None, "a record without sample_id or status"
    for name, kinds in _FIELD_TYPES.items():
        value = record.get(name)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            return None, f"field {name!r} is a {type(value).__name__}"
    return record, ""


# The type of every field a reader uses (None is allowed for each).
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(("task", "model", "language", "level", "concept_id", "caption", "image",
                     "code", "error", "source_model", "mode", "request_key", "prompt_version",
                     "template", "raw_reply", "reason", "style"), str),
    **dict.fromkeys(("round", "sample_index", "prompt_tokens", "completion_tokens"), int),
    "cost_usd": (int, float), "latency_s": (int, float), "render": dict, "options": list,
    "scores": dict, "prompt": dict, "extraction": dict,
}  # fmt: skip


def scan_samples(path: Path) -> SamplesScan:
    """Every line of a samples file, parsed; nothing in it can make this raise."""
    scan = SamplesScan()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return scan
    lines = data.split(b"\n")
    if lines and lines[-1]:
        scan.torn_tail = True
    scan.lines = len(lines) - 1
    for number, raw in enumerate(lines[:-1], start=1):
        if not raw.strip():
            continue
        record, reason = _parse_line(raw)
        if record is None:
            scan.damaged.append((number, raw.decode("utf-8", "replace"), reason))
            scan.raw[number] = raw
        else:
            scan.records.append((number, record))
    return scan


def latest(records: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The last record of each sample, in file order (a redone sample replaces its
    earlier line, which the next run removes)."""
    last = {record["sample_id"]: number for number, record in records}
    return [(n, r) for n, r in records if last[r["sample_id"]] == n]


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The records of a samples file, the last one of each sample (damaged lines are
    skipped)."""
    return [record for _, record in latest(scan_samples(path).records)]


def quarantined(path: Path) -> int:
    """How many lines a run has moved aside into quarantine.jsonl."""
    try:
        return sum(1 for line in (path / QUARANTINE).read_bytes().splitlines() if line.strip())
    except FileNotFoundError:
        return 0


class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock``, held by the one process writing the run."""

    def __init__(self, folder: Path, other: str = "choose another --run-name") -> None:
        self.path = folder / LOCK
        self.other = other  # the way out the message offers
        self._fd: int | None = None

    def acquire(self, wait: bool = False, say: Callable[[str], None] | None = None) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        deadline = time.monotonic() + 2.0  # readers hold a shared lock for an instant
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() < deadline:
                        time.sleep(0.05)
                        continue
                    holder = self.holder()
                    if not wait:
                        raise RunStateError(
                            f"{self.path.parent} is being written by another vad process "
                            f"({holder}): wait for it to finish, pass --wait to start when it "
                            f"does, or {self.other}"
                        ) from None
                    if say is not None:
                        say(f"waiting for {holder} to finish writing {self.path.parent.name}")
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    break
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {now_iso()}\n".encode(), 0)
        self._fd = fd

    def holder(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").strip()[:100]
        except OSError:
            text = ""
        return text or "a process that has just started"

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def is_being_written(folder: Path) -> bool:
    """True while some process holds the run's lock."""
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def shown_status(folder: Path, manifest: dict[str, Any]) -> str:
    """The manifest's status, except that "running" with no writer alive is "interrupted"."""
    status = str(manifest.get("status", "?"))
    if status == "running" and not is_being_written(folder):
        return "interrupted"
    return status


def is_finished(manifest: dict[str, Any]) -> bool:
    """Whether the run got to its end. Anything else (stopped, failed, killed, still
    going, a manifest from before runs said so) reads as unfinished: a run killed
    outright never gets to write that it finished."""
    if "finished" in manifest:
        return manifest["finished"] is True
    return manifest.get("status") == "finished"


class RunFolder:
    """Owns one run's outputs. Appends are serialised by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.images = path / "images"
        self.scratch = path / ".jobs"  # a render's PNG until it is checked; emptied at open/close
        self._lock = threading.Lock()
        self._fd: int | None = None
        self.quarantined_now = 0  # lines moved aside by the last open()

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES

    def read_manifest(self) -> dict[str, Any]:
        path = self.manifest_path
        if not path.is_file():
            raise RunStateError(f"{self.path} is not a run folder (no {MANIFEST})")
        try:
            manifest = json.loads(path.read_bytes().decode("utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError(f"a JSON {type(manifest).__name__}, not a mapping")
        except (ValueError, UnicodeDecodeError) as exc:
            raise RunStateError(
                f"{path} is damaged ({str(exc)[:120]}). The samples in {SAMPLES} are intact: "
                f"move it aside (mv {path} {path}.damaged) and run the same command again to "
                "rebuild it"
            ) from None
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def open(self) -> dict[str, dict[str, Any]]:
        """Prepare for appending; return the records of samples already finished, by id.

        Damaged lines go to quarantine.jsonl; samples that were not scored are dropped
        so that they are redone. Call only while holding the run's lock.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        self.images.mkdir(exist_ok=True)
        shutil.rmtree(self.scratch, ignore_errors=True)
        scan = scan_samples(self.samples_path)
        if scan.damaged:
            with (self.path / QUARANTINE).open("a", encoding="utf-8") as fh:
                for number, text, reason in scan.damaged:
                    raw = base64.b64encode(scan.raw.get(number, text.encode())).decode("ascii")
                    fh.write(json.dumps({"line": number, "reason": reason, "text": text,
                                         "bytes_b64": raw,
                                         "quarantined_at": now_iso()}) + "\n")  # fmt: skip
        self.quarantined_now = len(scan.damaged)
        latest: dict[str, dict[str, Any]] = {}
        for _, record in scan.records:
            latest[record["sample_id"]] = record
        keep = [r for r in latest.values() if is_scored(r) and not self._image_lost(r)]
        if len(keep) != len(scan.records) or scan.damaged or scan.torn_tail:
            tmp = self.samples_path.with_suffix(".jsonl.tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                for record in keep:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            os.replace(tmp, self.samples_path)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        self._fd = os.open(self.samples_path, flags, 0o644)
        return {r["sample_id"]: r for r in keep}

    def _image_lost(self, record: dict[str, Any]) -> bool:
        """A rendered sample whose image is gone (deleted, replaced by a link): redo it."""
        image = record.get("image")
        if record.get("status") != "ok" or not image:
            return False
        path = contained(self.path, str(image))
        return path is None or path.is_symlink() or not path.is_file()

    def append(self, record: dict[str, Any]) -> None:
        """Append one line whole, or nothing: a failed write (a full disk) is undone."""
        data = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise RunStateError(f"{self.samples_path} is closed: the run is stopping")
            size = os.fstat(self._fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                raise RunStateError(
                    f"cannot write {self.samples_path}: {exc.strerror}. "
                    + _disk_fix(exc)
                    + " Everything written before is kept: run the same "
                    "command again to go on"
                ) from None

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        shutil.rmtree(self.scratch, ignore_errors=True)

    def totals(self) -> dict[str, Any]:
        """Counts and sums over samples.jsonl: the source of truth for a run."""
        records = read_samples(self.samples_path)
        status = Counter(r.get("status", "?") for r in records)
        costs = [r.get("cost_usd") for r in records]
        scored = [r for r in records if is_scored(r)]
        ok = sum(1 for r in scored if r.get("status") == "ok")
        return {
            "samples": len(records),
            "scored": len(scored),
            "not_scored": len(records) - len(scored),
            "by_status": dict(sorted(status.items())),
            "render_ok_rate": round(ok / len(scored), 4) if scored else None,
            "prompt_tokens": sum(r.get("prompt_tokens") or 0 for r in records),
            "completion_tokens": sum(r.get("completion_tokens") or 0 for r in records),
            "cost_usd": round(sum(c for c in costs if isinstance(c, int | float)), 6),
            "cost_unknown_samples": sum(1 for c in costs if c is None),
        }


def _disk_fix(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "Free some space (or choose another --runs-dir)."
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "Make it writable (or choose another --runs-dir)."
    return "Check the disk."


def list_runs(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every run folder under ``root`` with its manifest, newest first.

    A run whose manifest is damaged is listed with status "damaged" and the reason.
    """
    runs = []
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        if not (child / MANIFEST).is_file():
            continue
        try:
            manifest = RunFolder(child).read_manifest()
        except RunStateError as exc:
            manifest = {"status": "damaged", "error": str(exc)}
        runs.append((child, manifest))
    return sorted(runs, key=lambda item: str(item[1].get("started_at", "")), reverse=True)


def find_run(root: Path, name: str) -> RunFolder:
    """A run by folder path, folder name, or unique prefix of a folder name."""
    direct = Path(name)
    if (direct / MANIFEST).is_file():
        return RunFolder(direct)
    runs = list_runs(root)
    matches = (
        [p for p, _ in runs if p.name == name]
        or [p for p, m in runs if _spec_name(m) == name]
        or [p for p, _ in runs if p.name.startswith(name)]
    )
    if len(matches) == 1:
        return RunFolder(matches[0])
    if not matches:
        raise VadError(f"no run {name!r} under {root}: see `vad runs`")
    raise VadError(f"{name!r} matches several runs: {', '.join(p.name for p in matches)}; "
                   "give one by its whole folder name")  # fmt: skip


def _spec_name(manifest: dict[str, Any]) -> str | None:
    """The name the run's spec gives it (its folder is that name and the spec's hash)."""
    spec = manifest.get("spec")
    return spec.get("name") if isinstance(spec, dict) else None


def write_planned(folder: Path, records: list[dict[str, Any]]) -> None:
    """``planned.jsonl``: one line per sample the run means to write, with the fields
    that place it in a table (task, model, language, level, ...), so that readers count
    the samples a run never reached."""
    tmp = folder / (PLANNED + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, folder / PLANNED)


def read_planned(folder: Path) -> list[dict[str, Any]] | None:
    """The run's planned samples, or None where it recorded none (or the file is
    damaged: then only what was written can be counted)."""
    try:
        data = (folder / PLANNED).read_bytes()
    except OSError:
        return None
    records = []
    for raw in data.splitlines():
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(record, dict) or not isinstance(record.get("sample_id"), str):
            return None
        records.append(record)
    return records

"""A run folder: manifest.json, samples.jsonl (one line per sample) and images/.

samples.jsonl is append-only while a run is going. A run killed mid-write leaves at
most one partial last line; opening the folder again drops it, keeps the last record of
each sample and drops failed model calls so that they are retried.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vad.errors import VadError

MANIFEST, SAMPLES = "manifest.json", "samples.jsonl"
RETRY_STATUSES = {"model_error", "crash"}  # redone on resume (replies come from the store)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_samples(path: Path) -> list[dict[str, Any]]:
    """All complete records of a samples file (a partial last line is skipped)."""
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


class RunFolder:
    """Owns one run's outputs. Appends are serialised by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.images = path / "images"
        self.jobs = path / ".jobs"
        self._lock = threading.Lock()
        self._fh: Any = None

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES

    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.is_file():
            raise VadError(f"{self.path} is not a run folder (no {MANIFEST})")
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def open(self) -> dict[str, dict[str, Any]]:
        """Prepare for appending; return the records of samples already finished, by id."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.images.mkdir(exist_ok=True)
        shutil.rmtree(self.jobs, ignore_errors=True)
        records = read_samples(self.samples_path)
        latest: dict[str, dict[str, Any]] = {}
        for record in records:
            latest[record["sample_id"]] = record
        keep = [r for r in latest.values() if r.get("status") not in RETRY_STATUSES]
        raw = self.samples_path.read_bytes() if self.samples_path.is_file() else b""
        if len(keep) != len(records) or (raw and not raw.endswith(b"\n")):
            tmp = self.samples_path.with_suffix(".jsonl.tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                for record in keep:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            os.replace(tmp, self.samples_path)
        self._fh = self.samples_path.open("a", encoding="utf-8")
        return {r["sample_id"]: r for r in keep}

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        shutil.rmtree(self.jobs, ignore_errors=True)

    def totals(self) -> dict[str, Any]:
        """Counts and sums over samples.jsonl: the source of truth for a run."""
        records = read_samples(self.samples_path)
        status = Counter(r.get("status", "?") for r in records)
        costs = [r.get("cost_usd") for r in records]
        return {
            "samples": len(records),
            "by_status": dict(sorted(status.items())),
            "render_ok_rate": round(status.get("ok", 0) / len(records), 4) if records else None,
            "prompt_tokens": sum(r.get("prompt_tokens") or 0 for r in records),
            "completion_tokens": sum(r.get("completion_tokens") or 0 for r in records),
            "cost_usd": round(sum(c for c in costs if c), 6),
            "cost_unknown_samples": sum(1 for c in costs if c is None),
        }


def list_runs(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every run folder under ``root`` with its manifest, newest first."""
    runs = []
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        manifest = child / MANIFEST
        if manifest.is_file():
            try:
                runs.append((child, json.loads(manifest.read_text(encoding="utf-8"))))
            except json.JSONDecodeError:
                continue
    return sorted(runs, key=lambda item: item[1].get("started_at", ""), reverse=True)


def find_run(root: Path, name: str) -> RunFolder:
    """A run by folder path, folder name, or unique prefix of a folder name."""
    direct = Path(name)
    if (direct / MANIFEST).is_file():
        return RunFolder(direct)
    matches = [p for p, _ in list_runs(root) if p.name == name] or [
        p for p, _ in list_runs(root) if p.name.startswith(name)
    ]
    if len(matches) == 1:
        return RunFolder(matches[0])
    if not matches:
        raise VadError(f"no run {name!r} under {root}: see `vad runs`")
    raise VadError(f"{name!r} matches several runs: {', '.join(p.name for p in matches)}")

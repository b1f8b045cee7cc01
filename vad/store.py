"""Content-addressed response store in SQLite (WAL).

The key is the sha256 of the canonical JSON of every output-affecting field of a
request: model, messages or prompt, sampling parameters, prompt version and sample
index. Retries, timeouts and concurrency are not part of it. Values are JSON, never
pickle.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from vad.errors import VadError

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    created REAL NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL
);
"""


class StoreError(VadError):
    """The response store cannot be opened or read."""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(fields: dict[str, Any]) -> str:
    """sha256 hex digest of the canonical JSON of ``fields``."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


class ResponseStore:
    """A thread-safe SQLite cache of model responses keyed by :func:`cache_key`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._db.execute("SELECT key, model, created, request, response FROM responses "
                             "LIMIT 1").fetchall()  # fmt: skip
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the response store {self.path} cannot be used ({exc}). Move it aside "
                f"(mv {self.path} {self.path}.damaged) or pass --cache another path; replies "
                "it held will be requested again"
            ) from None

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored response, or None (a row that is not JSON counts as absent)."""
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT response FROM responses WHERE key = ?", (key,)
                ).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            return json.loads(row[0]) if row else None
        except (TypeError, ValueError):
            return None

    def put(self, key: str, model: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        try:
            with self._lock, self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses (key, model, created, request, response) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (key, model, time.time(), canonical_json(request), canonical_json(response)),
                )
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(
            f"the response store {self.path} failed ({exc}): free some space or make it "
            "writable, or pass --cache another path; then run the same command again"
        )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

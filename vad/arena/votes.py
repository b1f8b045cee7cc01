"""The arena's SQLite store: every pair shown to a voter, every vote, and the ratings.

A pair shown gets an opaque token (a row of ``shown``); a vote names that token, so a
client votes only on pairs it was shown, once each (``votes.token`` is unique). A voter
is shown a pair once (``shown`` is unique on voter and pair), reloads included.

One connection and one lock serve the whole app: votes come by the handful a second, and
a single writer never meets SQLITE_BUSY from itself. WAL mode lets another process (an
export while the arena runs) read meanwhile.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vad.scoring.judgements import Outcome, bradley_terry

CHOICES = ("left", "right", "tie", "bad")
SHARE = {"left": 1.0, "right": 0.0, "tie": 0.5}  # left's share of the win; "bad" is left out
BAD_NOTE = (
    "“Both bad” votes are left out of the ratings (they say neither drawing is better, "
    "nor that the two are alike); they are counted apart. A tie counts half a win each way."
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS shown (
    token TEXT PRIMARY KEY,
    voter TEXT NOT NULL,
    pair TEXT NOT NULL,
    left_run TEXT NOT NULL,
    left_sample_id TEXT NOT NULL,
    left_model TEXT NOT NULL,
    right_run TEXT NOT NULL,
    right_sample_id TEXT NOT NULL,
    right_model TEXT NOT NULL,
    concept_id TEXT NOT NULL,
    language TEXT NOT NULL,
    level TEXT NOT NULL,
    shown_at TEXT NOT NULL,
    UNIQUE (voter, pair)
);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE REFERENCES shown (token),
    voter TEXT NOT NULL,
    left_run TEXT NOT NULL,
    left_sample_id TEXT NOT NULL,
    left_model TEXT NOT NULL,
    right_run TEXT NOT NULL,
    right_sample_id TEXT NOT NULL,
    right_model TEXT NOT NULL,
    concept_id TEXT NOT NULL,
    language TEXT NOT NULL,
    level TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie', 'bad')),
    created_at TEXT NOT NULL
);
"""
SIDES = ("left_run", "left_sample_id", "left_model", "right_run", "right_sample_id",
         "right_model", "concept_id", "language", "level")  # fmt: skip
VOTE_COLUMNS = ("id", "voter", *SIDES, "choice", "created_at")


class VoteRefused(Exception):
    """A vote that is not taken, with the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Shown:
    """A pair as it was shown: its token, voter, and the two drawings (run, sample id)."""

    token: str
    voter: str
    left: tuple[str, str]
    right: tuple[str, str]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class VoteStore:
    """The shown pairs and votes of one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                  timeout=30)  # fmt: skip
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def seen(self, voter: str) -> set[str]:
        """The keys of the pairs shown to ``voter``."""
        with self.lock:
            rows = self.db.execute("SELECT pair FROM shown WHERE voter = ?", (voter,))
            return {row[0] for row in rows}

    def show(self, voter: str, pair: str, fields: dict[str, str]) -> str | None:
        """Record that ``voter`` is shown ``pair`` (``fields``: the SIDES columns); its
        token, or None when it was shown to them before."""
        token = secrets.token_urlsafe(18)
        try:
            with self.lock:
                self.db.execute(
                    f"INSERT INTO shown (token, voter, pair, {', '.join(SIDES)}, shown_at) "
                    f"VALUES (?, ?, ?, {', '.join('?' * len(SIDES))}, ?)",
                    (token, voter, pair, *(fields[k] for k in SIDES), now()),
                )
        except sqlite3.IntegrityError:
            return None
        return token

    def shown(self, token: str, voter: str) -> Shown | None:
        """The pair ``token`` names if it was shown to ``voter``."""
        with self.lock:
            row = self.db.execute("SELECT * FROM shown WHERE token = ? AND voter = ?",
                                  (token, voter)).fetchone()  # fmt: skip
        if row is None:
            return None
        return Shown(row["token"], row["voter"], (row["left_run"], row["left_sample_id"]),
                     (row["right_run"], row["right_sample_id"]))  # fmt: skip

    def vote(self, token: str, voter: str, choice: str) -> dict[str, Any]:
        """Take ``voter``'s vote on the pair ``token`` names; the vote as stored.
        Raises VoteRefused for a choice not known, a token not issued to this voter and
        a pair already voted on."""
        if choice not in CHOICES:
            raise VoteRefused(400, f"choice must be one of {', '.join(CHOICES)}")
        with self.lock:
            row = self.db.execute(
                f"SELECT {', '.join(SIDES)} FROM shown WHERE token = ? AND voter = ?",
                (token, voter),
            ).fetchone()
            if row is None:
                raise VoteRefused(404, "no such pair was shown to you")
            try:
                cursor = self.db.execute(
                    f"INSERT INTO votes (token, voter, {', '.join(SIDES)}, choice, created_at) "
                    f"VALUES (?, ?, {', '.join('?' * len(SIDES))}, ?, ?)",
                    (token, voter, *row, choice, now()),
                )
            except sqlite3.IntegrityError:
                raise VoteRefused(409, "this pair was voted on already") from None
            got = self.db.execute(f"SELECT {', '.join(VOTE_COLUMNS)} FROM votes WHERE id = ?",
                                  (cursor.lastrowid,)).fetchone()  # fmt: skip
        return dict(got)

    def votes(self) -> list[dict[str, Any]]:
        """Every vote, oldest first."""
        with self.lock:
            rows = self.db.execute(f"SELECT {', '.join(VOTE_COLUMNS)} FROM votes ORDER BY id")
            return [dict(row) for row in rows]

    def count(self) -> int:
        with self.lock:
            return int(self.db.execute("SELECT count(*) FROM votes").fetchone()[0])

    def export_jsonl(self, path: str | Path) -> int:
        """Every vote as one JSON line (the columns of ``votes``), written whole or not at
        all; how many."""
        rows = self.votes()
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return len(rows)


def outcomes(votes: list[dict[str, Any]]) -> list[Outcome]:
    """The votes as Bradley-Terry outcomes (left model, right model, left's share)."""
    return [(v["left_model"], v["right_model"], SHARE[v["choice"]])
            for v in votes if v["choice"] in SHARE]  # fmt: skip


def ratings(votes: list[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Per model: its Bradley-Terry rating with a 95% bootstrap interval (None when no
    vote but "both bad" involved it) and its counts of votes, wins, losses, ties and
    both-bad; best first."""
    counts: dict[str, dict[str, int]] = {}
    for v in votes:
        for side, other in (("left", "right"), ("right", "left")):
            row = counts.setdefault(
                v[f"{side}_model"], {"votes": 0, "wins": 0, "losses": 0, "ties": 0, "bad": 0}
            )
            row["votes"] += 1
            key = {side: "wins", other: "losses", "tie": "ties", "bad": "bad"}[v["choice"]]
            row[key] += 1
    fitted = bradley_terry(outcomes(votes), seed=seed)
    out = []
    for model, row in counts.items():
        est = fitted.get(model)
        rating = None if est is None else {"mean": est.mean, "low": est.low, "high": est.high}
        out.append({"model": model, "rating": rating, **row})
    rated = sorted(
        (r for r in out if r["rating"]), key=lambda r: (-r["rating"]["mean"], r["model"])
    )
    return rated + sorted((r for r in out if not r["rating"]), key=lambda r: r["model"])

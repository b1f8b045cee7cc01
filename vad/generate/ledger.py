"""What a generation folder has paid for, one line per paid request (``spend.jsonl``).

A reply is paid for when the provider answers, whether or not a record of the drawing
follows: a run killed before it wrote the record, a drawing that finished after ``--n``
was reached, and a reply a batch put in the response store were all paid, and are a
free cache hit on the next run. So ``--max-cost`` is checked against this ledger,
written (and synced) the moment a reply or a batch's results arrive, not against the
records. Under a budget a request is also entered before it is sent, at the most it
can cost (``in_flight``), and settled when it ends: one that a ``kill -9`` cut off is
counted at that bound by the next run.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

NAME = "spend.jsonl"


class SpendLedger:
    def __init__(self, folder: Path) -> None:
        self.path = folder / NAME
        self._lock = threading.Lock()
        self.total = 0.0
        self._seen: set[tuple[str, str]] = set()  # (key, batch id) already paid

    def open(self, before: float = 0.0) -> float:
        """Read the ledger; return the total paid (an unsettled request at its bound).

        A folder written before the ledger existed starts it with ``before`` (what its
        records say was paid), written as one line so that the total holds from now on."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self.total = 0.0
            if before > 0:
                self.add("(records written before the ledger)", before, "records")
            return self.total
        if data and not data.endswith(b"\n"):  # a torn last line: end it, so the next
            with self.path.open("ab") as fh:  # entry is not glued to it and lost
                fh.write(b"\n")
        total, pending = 0.0, {}
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                entry = json.loads(line)
                cost = float(entry["usd"])
                key, ref = str(entry["key"]), str(entry.get("ref") or "")
                how = str(entry.get("how"))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # torn: that payment was never recorded
            if not cost >= 0 or cost == float("inf"):
                continue
            if how == "in_flight":
                pending[ref] = cost
                continue
            pending.pop(str(entry.get("settles") or ""), None)
            if ref and (key, ref) in self._seen:
                continue  # a batch collected again after a kill: paid once
            self._seen.add((key, ref))
            total += cost
        self.total = total + sum(pending.values())
        return self.total

    def begin(self, key: str, bound: float) -> str:
        """Enter a request about to be sent, at ``bound``; the id to settle it with.
        (Not in ``total``: the run's reservation covers it while it is in flight.)"""
        if not bound or bound <= 0:
            return ""
        attempt = uuid.uuid4().hex[:16]
        with self._lock:
            self._write({"key": key, "usd": round(float(bound), 9), "how": "in_flight",
                         "ref": attempt})  # fmt: skip
        return attempt

    def add(self, key: str, usd: float | None, how: str, ref: str = "", settles: str = "") -> None:
        """Record one paid request; ``how``: reply, bound (price unknown, or a failed
        attempt that may have been billed), batch (``ref`` its id), propose or records.
        ``settles``: the ``begin`` entry this payment replaces."""
        usd = round(float(usd), 9) if usd and usd > 0 else 0.0
        if not usd and not settles:
            return
        entry: dict[str, Any] = {"key": key, "usd": usd, "how": how}
        if ref:
            entry["ref"] = ref
        if settles:
            entry["settles"] = settles
        with self._lock:
            if ref and (key, ref) in self._seen:
                return  # this batch's reply was counted before a kill
            self._seen.add((key, ref))
            self._write(entry)
            self.total += usd

    def _write(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

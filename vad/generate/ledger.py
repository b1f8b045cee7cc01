"""What a generation folder has paid for, one line per paid request (``spend.jsonl``).

A reply is paid for when the provider answers, whether or not a record of the drawing
follows: a run killed before it wrote the record, a drawing that finished after ``--n``
was reached, and a reply a batch put in the response store were all paid, and are a
free cache hit on the next run. So ``--max-cost`` is checked against this ledger,
written (and synced) the moment a reply or a batch's results arrive, not against the
records.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

NAME = "spend.jsonl"


class SpendLedger:
    def __init__(self, folder: Path) -> None:
        self.path = folder / NAME
        self._lock = threading.Lock()
        self.total = 0.0

    def open(self, before: float = 0.0) -> float:
        """Read the ledger (a torn last line is dropped); return the total paid.

        A folder written before the ledger existed starts it with ``before`` (what its
        records say was paid), written as one line so that the total holds from now on."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = None
        if lines is None:
            self.total = 0.0
            if before > 0:
                self.add("(records written before the ledger)", before, "records")
            return self.total
        total, seen = 0.0, set()
        for line in lines:
            try:
                entry = json.loads(line)
                cost = float(entry["usd"])
                ref = (str(entry["key"]), str(entry.get("ref") or ""))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a torn last line: that payment was never recorded
            if ref[1] and ref in seen:
                continue  # a batch collected again after a kill: paid once
            seen.add(ref)
            if cost > 0 and cost != float("inf"):
                total += cost
        self.total = total
        return total

    def add(self, key: str, usd: float | None, how: str, ref: str = "") -> None:
        """Record one paid request; ``how``: reply, bound (price unknown, or a failed
        attempt that may have been billed), batch (``ref`` its id) or propose."""
        if not usd or usd <= 0:
            return
        usd = round(float(usd), 9)
        entry: dict[str, Any] = {"key": key, "usd": usd, "how": how}
        if ref:
            entry["ref"] = ref
        with self._lock:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.total += usd

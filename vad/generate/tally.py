"""What a generation holds: the tally of its records, its summary, ``metadata.parquet``."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# the columns of metadata.parquet taken from a kept record ("image" becomes "file")
COLUMNS = ["id", "sample_id", "label", "caption", "level", "strategy", "model", "language",
           "sample_index", "phash", "sha256", "program_hash", "image"]  # fmt: skip
# and every per-sample score (vad.scoring.samples): "verified" (None: not verifiable) and
# "scores" (the scorers' records as JSON text)


@dataclass
class Tally:
    """What this generation holds, rebuilt from samples.jsonl on resume."""

    kept: list[dict[str, Any]] = field(default_factory=list)
    status: Counter[str] = field(default_factory=Counter)
    requested: Counter[tuple[str, str]] = field(default_factory=Counter)  # strategy, lang
    kept_by: Counter[tuple[str, str]] = field(default_factory=Counter)
    programs: set[str] = field(default_factory=set)  # hashes of normalised kept programs
    tokens: int = 0
    cost: float = 0.0  # of every reply, cached or not
    recorded: float = 0.0  # what the records say this set paid (the ledger says more)
    unpriced: int = 0  # replies whose price the price map does not know
    judged: int = 0  # drawings a --judge rated
    judge_cost: float = 0.0  # of the judge's replies asked for them (not from the store)

    def add(self, record: dict[str, Any]) -> None:
        group = (str(record.get("strategy")), str(record.get("language")))
        self.status[record["status"]] += 1
        self.requested[group] += 1
        self.tokens += int(record.get("completion_tokens") or 0)
        cost = float(record.get("cost_usd") or record.get("cost_bound_usd") or 0.0)
        self.cost += cost
        if record.get("cost_usd", 0) is None and not record.get("cost_bound_usd"):
            self.unpriced += 1
        if not record.get("cached"):
            self.recorded += cost
        rating = (record.get("scores") or {}).get("fidelity")
        if isinstance(rating, dict) and "score" in rating:
            self.judged += 1
            self.judge_cost += float(rating.get("cost_usd") or 0.0)
        if record["status"] == "ok":
            self.kept.append(record)
            self.kept_by[group] += 1
            self.programs.add(str(record.get("program_hash")))

    def rejections(self) -> str:
        """``blank 2, duplicate 1``: the records not kept, by status."""
        counts = {k: v for k, v in sorted(self.status.items()) if k != "ok"}
        return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"

    def summary(
        self,
        n: int,
        spent: float,
        max_cost: float | None,
        budget_hit: bool,
        request_limit_hit: bool,
    ) -> dict[str, Any]:
        """generate.json: counts, spend, and why the run stopped short of ``n``."""
        groups = sorted(set(self.requested))
        return {
            "kept": len(self.kept),
            "requested": sum(self.requested.values()),
            "by_status": dict(sorted(self.status.items())),
            "distinct_programs": len(self.programs),
            "distinct_images": len({r["phash"] for r in self.kept}),
            "per_strategy_language": [
                {
                    "strategy": s,
                    "language": lang,
                    "kept": self.kept_by[(s, lang)],
                    "requested": self.requested[(s, lang)],
                }
                for s, lang in groups
            ],
            "completion_tokens": self.tokens,
            "cost_usd": round(self.cost, 6),
            "unpriced_replies": self.unpriced,
            "judged": self.judged,
            "judge_cost_usd": round(self.judge_cost, 6),
            "spent_usd": round(spent, 6),
            "max_cost_usd": max_cost,
            "stopped_at_budget": budget_hit,
            "stopped_at_requests": request_limit_hit and len(self.kept) < n,
            "rejections": self.rejections(),
        }

    def write_metadata(self, folder: Path, shards: list[str], shard_size: int) -> None:
        """``metadata.parquet``: a row per kept image, with its shard and its file."""
        import pandas as pd

        rows = [{c: r.get(c) for c in COLUMNS} for r in self.kept]
        for row, rec, start in zip(rows, self.kept, range(len(rows)), strict=True):
            row["shard"] = shards[start // shard_size] if shards else None
            row["file"] = row.pop("image")
            verdict = (rec.get("scores") or {}).get("verifier") or {}
            verified = verdict.get("verified")
            row["verified"] = verified if isinstance(verified, bool) else None
            row["scores"] = json.dumps(rec["scores"], sort_keys=True) if rec.get("scores") else None
        tmp = folder / ".metadata.parquet.tmp"
        pd.DataFrame(
            rows,
            columns=[*[c for c in COLUMNS if c != "image"], "shard", "file", "verified", "scores"],
        ).to_parquet(tmp, index=False)
        os.replace(tmp, folder / "metadata.parquet")

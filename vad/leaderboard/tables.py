"""Score tables from samples.jsonl records, each cell traceable to its lines."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vad.outcomes import is_scored
from vad.scoring.stats import Estimate, bootstrap_mean

Key = tuple[str, ...]


@dataclass
class Row:
    """One table row: its key, its estimates, and the lines of samples.jsonl behind it.

    ``asked`` counts every sample of the row; rates use only the ``scored`` ones. What
    was not scored (failed model calls, host failures) is counted by status apart.
    """

    key: dict[str, str]
    values: dict[str, Estimate | str]
    evidence: list[tuple[str, int]] = field(default_factory=list)  # (run, line number)
    asked: int = 0
    scored: int = 0
    not_scored: dict[str, int] = field(default_factory=dict)

    def not_scored_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.not_scored.items())) or "0"


@dataclass
class Table:
    name: str
    title: str
    key_columns: list[str]
    value_columns: list[str]
    rows: list[Row]
    note: str = ""


Sample = tuple[str, int, dict[str, Any]]  # run, line number (1-based), record


def _group(
    samples: Iterable[Sample], keys: list[str], keep: Callable[[dict[str, Any]], bool]
) -> dict[Key, list[Sample]]:
    groups: dict[Key, list[Sample]] = defaultdict(list)
    for run, line, rec in samples:
        if keep(rec):
            groups[tuple(str(rec.get(k, "")) for k in keys)].append((run, line, rec))
    return dict(sorted(groups.items()))


def _row(keys: list[str], key: Key, items: list[Sample], values: dict[str, Estimate | str]) -> Row:
    """A row over ``items`` (every sample asked); ``values`` must use scored ones only."""
    missed = Counter(str(rec.get("status")) for _, _, rec in items if not is_scored(rec))
    return Row(dict(zip(keys, key, strict=True)), values, [(r, ln) for r, ln, _ in items],
               len(items), len(items) - sum(missed.values()), dict(missed))  # fmt: skip


def _scored(items: list[Sample]) -> list[Sample]:
    return [item for item in items if is_scored(item[2])]


def is_percent(column: str) -> bool:
    """Columns in percent (or percentage points) are shown x100."""
    return column.endswith("%") or column.endswith("(pts)")


def _clip_values(
    items: list[Sample],
    scores: dict[tuple[str, int], dict[str, Any]] | None,
    with_diversity: bool = True,
) -> dict[str, Estimate | str]:
    names = ["CLIP top-1 %", "CLIP top-5 %", "CLIPScore"] + (["diversity"] if with_diversity
                                                            else [])  # fmt: skip
    if scores is None:
        return dict.fromkeys(names, "unavailable")
    mine = [scores[(run, line)] for run, line, _ in items if (run, line) in scores]
    values: dict[str, Estimate | str] = {
        "CLIP top-1 %": bootstrap_mean([m["top1"] for m in mine]),
        "CLIP top-5 %": bootstrap_mean([m["top5"] for m in mine]),
        "CLIPScore": bootstrap_mean([m["clipscore"] for m in mine]),
    }
    if with_diversity:
        from vad.scoring.fidelity import group_diversity

        values["diversity"] = bootstrap_mean(group_diversity(items, scores))
    return values


def draw_table(
    samples: list[Sample],
    clip_note: str,
    scores: dict[tuple[str, int], dict[str, Any]] | None = None,
) -> Table:
    keys = ["model", "level", "language"]
    rows = []
    for key, items in _group(samples, keys, lambda r: r.get("task") == "draw").items():
        scored = _scored(items)
        rendered = [1.0 if rec["status"] == "ok" else 0.0 for _, _, rec in scored]
        rows.append(_row(keys, key, items, {"render rate %": bootstrap_mean(rendered),
                                            **_clip_values(scored, scores)}))  # fmt: skip
    return Table("draw", "Draw", keys,
                 ["render rate %", "CLIP top-1 %", "CLIP top-5 %", "CLIPScore", "diversity"],
                 rows, clip_note)  # fmt: skip


def recognize_table(samples: list[Sample]) -> Table:
    keys = ["model", "mode", "source_model", "language"]
    rows = []
    for key, items in _group(samples, keys, lambda r: r.get("task") == "recognize").items():
        scored = _scored(items)
        correct = [1.0 if rec.get("correct") else 0.0 for _, _, rec in scored]
        values: dict[str, Estimate | str] = {"accuracy %": bootstrap_mean(correct)}
        if key[1] == "free":
            values["contains %"] = bootstrap_mean(
                [1.0 if rec.get("correct_contains") else 0.0 for _, _, rec in scored]
            )
        else:
            values["contains %"] = "–"
        rows.append(_row(keys, key, items, values))
    return Table(
        "recognize",
        "Recognize",
        keys,
        ["accuracy %", "contains %"],
        rows,
        "Multiple choice among the options shown; free answers by normalised exact "
        "match and by containment of the caption.",
    )


def correct_table(
    samples: list[Sample], scores: dict[tuple[str, int], dict[str, Any]] | None = None
) -> Table:
    keys = ["model", "language", "round"]
    rows = []
    by_sample: dict[tuple[str, str], dict[int, bool]] = defaultdict(dict)
    for _, _, rec in samples:  # scored rounds only: a failed call is no round at all
        if rec.get("task") == "correct" and is_scored(rec):
            base = rec["sample_id"].rsplit(":r", 1)[0]
            by_sample[(rec["model"], base)][int(rec["round"])] = rec["status"] == "ok"
    for key, items in _group(samples, keys, lambda r: r.get("task") == "correct").items():
        model, _, rnd = key
        scored = _scored(items)
        ok = [1.0 if rec["status"] == "ok" else 0.0 for _, _, rec in scored]
        diffs = []
        for _, _, rec in scored:
            rounds = by_sample[(model, rec["sample_id"].rsplit(":r", 1)[0])]
            if 0 in rounds:
                diffs.append(float(rounds[int(rnd)]) - float(rounds[0]))
        fidelity = _clip_values(scored, scores, with_diversity=False)
        rows.append(_row(keys, key, items, {
            "render rate %": bootstrap_mean(ok), "change from round 0 (pts)": bootstrap_mean(diffs),
            "CLIP top-1 %": fidelity["CLIP top-1 %"], "CLIPScore": fidelity["CLIPScore"],
        }))  # fmt: skip
    return Table("correct", "Correct", keys,
                 ["render rate %", "change from round 0 (pts)", "CLIP top-1 %", "CLIPScore"], rows,
                 "Round 0 is a plain draw; each later round gets its own code and the "
                 "renderer's verdict as text.")  # fmt: skip

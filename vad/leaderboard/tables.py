"""Score tables from samples.jsonl records, each cell traceable to its lines."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vad.outcomes import is_scored
from vad.scoring.stats import Estimate, bootstrap_mean, proportion

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
Field = Callable[[Sample], str]  # a key column's value for one sample


def prompt_version(rec: dict[str, Any]) -> str:
    """The version of the prompt a record was asked with ('?' where it names none)."""
    version = rec.get("prompt_version")
    return "?" if version in (None, "") else str(version)


def _field(column: str, fields: dict[str, Field]) -> Field:
    """How a key column is read from a sample."""
    if column in fields:
        return fields[column]
    if column == "prompt version":
        return lambda s: prompt_version(s[2])
    return lambda s: str(s[2].get(column, ""))


def _group(
    samples: Iterable[Sample],
    keys: list[str],
    keep: Callable[[dict[str, Any]], bool],
    fields: dict[str, Field] | None = None,
) -> dict[Key, list[Sample]]:
    """Samples that ``keep`` accepts, by their values of the ``keys`` columns, sorted.

    A column is the record's field of that name, the record's prompt version for
    "prompt version", or what ``fields`` computes for it.
    """
    getters = [_field(k, fields or {}) for k in keys]
    groups: dict[Key, list[Sample]] = defaultdict(list)
    for sample in samples:
        if keep(sample[2]):
            groups[tuple(get(sample) for get in getters)].append(sample)
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
        "CLIP top-1 %": proportion([m["top1"] for m in mine]),
        "CLIP top-5 %": proportion([m["top5"] for m in mine]),
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
    keys = ["model", "prompt version", "level", "language"]
    rows = []
    for key, items in _group(samples, keys, lambda r: r.get("task") == "draw").items():
        scored = _scored(items)
        rendered = [1.0 if rec["status"] == "ok" else 0.0 for _, _, rec in scored]
        rows.append(_row(keys, key, items, {"render rate %": proportion(rendered),
                                            **_clip_values(scored, scores)}))  # fmt: skip
    return Table("draw", "Draw", keys,
                 ["render rate %", "CLIP top-1 %", "CLIP top-5 %", "CLIPScore", "diversity"],
                 rows, clip_note)  # fmt: skip


def recognize_table(samples: list[Sample]) -> Table:
    keys = ["model", "prompt version", "mode", "source_model", "language"]
    rows = []
    for key, items in _group(samples, keys, lambda r: r.get("task") == "recognize").items():
        scored = _scored(items)
        correct = [1.0 if rec.get("correct") else 0.0 for _, _, rec in scored]
        values: dict[str, Estimate | str] = {"accuracy %": proportion(correct)}
        if key[2] == "free":
            values["contains %"] = proportion(
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


ChainKey = tuple[str, str, str]  # run, model, sample id without its round


def _chain(sample: Sample) -> ChainKey:
    run, _, rec = sample
    return run, str(rec.get("model")), str(rec.get("sample_id")).rsplit(":r", 1)[0]


def _chain_versions(
    samples: Iterable[Sample], run_versions: dict[str, dict[str, Any]]
) -> dict[ChainKey, str]:
    """'draw V, correct W' for each correct chain: the prompts of its round 0 and later.

    Round 0 is asked with the draw prompt and later rounds with the correct prompt, so
    each chain's records name both; a chain lacking a round takes that version from its
    run's manifest (``run_versions``: run -> prompt_versions).
    """
    found: dict[ChainKey, dict[str, str]] = defaultdict(dict)
    for sample in samples:
        rec = sample[2]
        if rec.get("task") == "correct":
            prompt = "draw" if str(rec.get("round")) == "0" else "correct"
            found[_chain(sample)][prompt] = prompt_version(rec)
    labels = {}
    for chain, versions in found.items():
        manifest = run_versions.get(chain[0]) or {}
        draw, correct = (versions.get(p, str(manifest.get(p, "?"))) for p in ("draw", "correct"))
        labels[chain] = f"draw {draw}, correct {correct}"
    return labels


def version_field(
    samples: list[Sample], run_versions: dict[str, dict[str, Any]] | None = None
) -> Field:
    """The "prompt version" of any sample's row: its record's, or its correct chain's."""
    chains = _chain_versions(samples, run_versions or {})

    def field(sample: Sample) -> str:
        if sample[2].get("task") == "correct":
            return chains[_chain(sample)]
        return prompt_version(sample[2])

    return field


def _paired(
    by_chain: dict[ChainKey, dict[int, float]], items: list[Sample], rnd: int
) -> list[float]:
    """Each chain's value at round ``rnd`` less its value at round 0 (both present)."""
    diffs = []
    for sample in items:
        values = by_chain.get(_chain(sample), {})
        if 0 in values and rnd in values:
            diffs.append(values[rnd] - values[0])
    return diffs


def _by_chain(
    samples: list[Sample], value: Callable[[Sample], float | None]
) -> dict[ChainKey, dict[int, float]]:
    """Per correct chain, round -> ``value`` of its scored records (None: left out)."""
    out: dict[ChainKey, dict[int, float]] = defaultdict(dict)
    for sample in samples:  # scored rounds only: a failed call is no round at all
        rec = sample[2]
        wanted = rec.get("task") == "correct" and is_scored(rec)
        if wanted and (v := value(sample)) is not None:
            out[_chain(sample)][int(rec["round"])] = v
    return out


CORRECT_COLUMNS = ["render rate %", "change from round 0 (pts)", "CLIP top-1 %", "CLIPScore",
                   "CLIPScore change from round 0"]  # fmt: skip


def correct_table(
    samples: list[Sample],
    scores: dict[tuple[str, int], dict[str, Any]] | None = None,
    run_versions: dict[str, dict[str, Any]] | None = None,
) -> Table:
    """Per model, prompt versions, language and round: render rate and CLIP, and the
    change of each from round 0.

    Changes are paired: each chain's round against its own round 0, within its run. The
    render change counts every scored chain; the CLIPScore change the chains whose both
    rounds rendered (a failed render has no image to score).
    """
    keys = ["model", "prompt version", "language", "round"]
    fields = {"prompt version": version_field(samples, run_versions)}
    rendered = _by_chain(samples, lambda s: float(s[2]["status"] == "ok"))
    clip = _by_chain(samples, lambda s: (scores or {}).get(s[:2], {}).get("clipscore"))
    rows = []
    groups = _group(samples, keys, lambda r: r.get("task") == "correct", fields)
    for key, items in groups.items():
        rnd = int(key[3])
        scored = _scored(items)
        ok = [1.0 if rec["status"] == "ok" else 0.0 for _, _, rec in scored]
        fidelity = _clip_values(scored, scores, with_diversity=False)
        rows.append(_row(keys, key, items, {
            "render rate %": proportion(ok),
            "change from round 0 (pts)": bootstrap_mean(_paired(rendered, scored, rnd)),
            "CLIP top-1 %": fidelity["CLIP top-1 %"], "CLIPScore": fidelity["CLIPScore"],
            "CLIPScore change from round 0": "unavailable" if scores is None
            else bootstrap_mean(_paired(clip, scored, rnd)),
        }))  # fmt: skip
    return Table("correct", "Correct", keys, CORRECT_COLUMNS, rows,
                 "Round 0 is a plain draw; each later round gets its own code and the "
                 "renderer's verdict as text. Changes from round 0 are paired per sample: "
                 "render rate (pts) over every scored sample, CLIPScore over the samples "
                 "whose both rounds rendered.")  # fmt: skip

"""Score tables from samples.jsonl records, each cell traceable to its lines."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vad.outcomes import is_scored
from vad.scoring.base import ChainKey, Sample, ScoringContext, Value, chain, get_scorer
from vad.scoring.stats import Estimate
from vad.tasks import task_class, task_classes

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


Columns = list[tuple[str, str]]  # (column, the name of the scorer that fills it)


def _values(items: list[Sample], columns: Columns, ctx: ScoringContext) -> dict[str, Value]:
    """Each column's value over a row's samples, from its scorer; '–' where the scorer
    applies to none of them."""
    values: dict[str, Value] = {}
    scored = _scored(items)
    for name in dict.fromkeys(scorer for _, scorer in columns):
        scorer = get_scorer(name)
        mine = [column for column, by in columns if by == name]
        if not any(scorer.applies(rec) for _, _, rec in items):
            values.update(dict.fromkeys(mine, "–"))
            continue
        got = scorer.score([s for s in scored if scorer.applies(s[2])], ctx)
        values.update({column: got[column] for column in mine})
    return values


def task_table(
    task: str,
    ctx: ScoringContext,
    run_versions: dict[str, dict[str, Any]] | None = None,
    clip_note: str = "",
) -> Table:
    """The table the task ``task`` declares (``Task.table``): one row per group of its
    samples by the table's keys, each column from its scorer."""
    spec = task_class(task).table  # type: ignore[union-attr]
    keys = list(spec.keys)
    fields = {"prompt version": version_field(ctx.samples, run_versions)}
    groups = _group(ctx.samples, keys, lambda r: r.get("task") == task, fields)
    columns = list(spec.columns)
    rows = [_row(keys, key, items, _values(items, columns, ctx)) for key, items in groups.items()]
    return Table(task, spec.title, keys, [column for column, _ in columns], rows,
                 spec.note.format(clip=clip_note))  # fmt: skip


def tables(
    ctx: ScoringContext, run_versions: dict[str, dict[str, Any]] | None = None, clip_note: str = ""
) -> list[Table]:
    """The table of every registered task that has one, in the tasks' order."""
    return [task_table(task.name, ctx, run_versions, clip_note)
            for task in task_classes() if task.table is not None]  # fmt: skip


def _chain_versions(
    samples: Iterable[Sample], run_versions: dict[str, dict[str, Any]]
) -> dict[ChainKey, str]:
    """'draw V, correct W' for each chain of a task in rounds: the versions of the prompts
    of its round 0 and of its later rounds (``Task.round_prompts``).

    Each chain's records name both; a chain lacking a round takes that version from its
    run's manifest (``run_versions``: run -> prompt_versions).
    """
    found: dict[ChainKey, dict[str, str]] = defaultdict(dict)
    prompts: dict[ChainKey, tuple[str, str]] = {}
    for sample in samples:
        rec = sample[2]
        if pair := _round_prompts(rec):
            key = chain(sample)
            found[key][pair[0] if str(rec.get("round")) == "0" else pair[1]] = prompt_version(rec)
            prompts[key] = pair
    labels = {}
    for key, versions in found.items():
        manifest = run_versions.get(key[0]) or {}
        labels[key] = ", ".join(f"{p} {versions.get(p, str(manifest.get(p, '?')))}"
                                for p in prompts[key])  # fmt: skip
    return labels


def _round_prompts(rec: dict[str, Any]) -> tuple[str, str] | None:
    task = task_class(str(rec.get("task")))
    return task.round_prompts if task is not None else None


def version_field(
    samples: list[Sample], run_versions: dict[str, dict[str, Any]] | None = None
) -> Field:
    """The "prompt version" of any sample's row: its record's, or its chain's (a task in
    rounds)."""
    chains = _chain_versions(samples, run_versions or {})

    def field(sample: Sample) -> str:
        if _round_prompts(sample[2]):
            return chains[chain(sample)]
        return prompt_version(sample[2])

    return field

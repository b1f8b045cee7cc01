"""Score tables from samples.jsonl records, each cell traceable to its lines."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vad.outcomes import is_scored
from vad.scoring.base import (
    ChainKey,
    Sample,
    ScoringContext,
    Value,
    chain,
    get_scorer,
    joining,
)
from vad.scoring.stats import Estimate
from vad.tasks import task_class, task_classes

Key = tuple[str, ...]


@dataclass
class Row:
    """One table row: its key, its estimates, and the lines of samples.jsonl behind it.

    ``asked`` counts every sample of the row its runs planned, each request once; rates
    use only the ``scored`` ones. What was not scored (failed model calls, host failures,
    samples a run never got to: "not run") is counted by status apart. ``unfinished``
    names the runs behind the row that did not finish.
    """

    key: dict[str, str]
    values: dict[str, Estimate | str]
    evidence: list[tuple[str, int]] = field(default_factory=list)  # (run, line number)
    asked: int = 0
    scored: int = 0
    not_scored: dict[str, int] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)

    def not_scored_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.not_scored.items())) or "0"

    def unfinished_text(self) -> str:
        return " ".join(self.unfinished)


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


def is_planned_only(sample: Sample) -> bool:
    """A sample its run planned and never wrote (line 0: it is on no line)."""
    return sample[1] == 0


def _row(
    keys: list[str],
    key: Key,
    items: list[Sample],
    values: dict[str, Estimate | str],
    unfinished: frozenset[str] | set[str] = frozenset(),
) -> Row:
    """A row over ``items`` (every sample asked, planned ones not written included);
    ``values`` must use scored ones only."""
    missed = Counter(str(s[2].get("status")) for s in items if not _is_scored(s))
    written = [(r, ln) for r, ln, _ in items if ln]
    runs = sorted({r for r, _, _ in items} & set(unfinished))
    return Row(dict(zip(keys, key, strict=True)), values, written, len(items),
               len(items) - sum(missed.values()), dict(missed), runs)  # fmt: skip


def _is_scored(sample: Sample) -> bool:
    return not is_planned_only(sample) and is_scored(sample[2])


def _scored(items: list[Sample]) -> list[Sample]:
    return [item for item in items if _is_scored(item)]


def is_percent(column: str) -> bool:
    """Columns in percent (or percentage points) are shown x100."""
    return column.endswith("%") or column.endswith("(pts)")


Columns = list[tuple[str, str]]  # (column, the name of the scorer that fills it)


def _values(items: list[Sample], columns: Columns, ctx: ScoringContext) -> dict[str, Value]:
    """Each column's value over a row's samples, from its scorer; '–' where the scorer
    applies to none of them."""
    values: dict[str, Value] = {}
    items = [item for item in items if not is_planned_only(item)]
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


Setting = tuple[str, Field, bool]  # column, its value, shown even when all rows agree


def _settings_shown(samples: list[Sample], settings: list[Setting]) -> list[str]:
    """The setting columns of a table: those always shown, and the others where its
    samples differ in them."""
    return [column for column, get, always in settings
            if always or len({get(s) for s in samples}) > 1]  # fmt: skip


def task_table(
    task: str,
    ctx: ScoringContext,
    run_versions: dict[str, dict[str, Any]] | None = None,
    clip_note: str = "",
    planned: list[Sample] | None = None,
    settings: list[Setting] | None = None,
    unfinished: set[str] | None = None,
) -> Table:
    """The table the task ``task`` declares (``Task.table``): one row per group of its
    samples by the table's keys and by what they were asked with (``settings``, after
    the prompt version), each column from its scorer.

    ``planned`` are samples that runs planned and never wrote: counted as asked, never
    scored. Rows fed by a run of ``unfinished`` name it."""
    spec = task_class(task).table  # type: ignore[union-attr]
    mine = [s for s in [*ctx.samples, *(planned or [])] if s[2].get("task") == task]
    settings = settings or []
    shown = _settings_shown(mine, settings)
    keys = list(spec.keys)
    at = keys.index("prompt version") + 1 if "prompt version" in keys else len(keys)
    keys[at:at] = shown
    fields = {"prompt version": version_field(ctx.samples, run_versions)}
    fields.update({column: get for column, get, _ in settings if column in shown})
    groups = _group(mine, keys, lambda r: True, fields)
    columns = list(spec.columns)
    columns += [c for c in joining(task) if c not in columns]  # scorers that join the table
    rows = [_row(keys, key, items, _values(items, columns, ctx), unfinished or set())
            for key, items in groups.items()]  # fmt: skip
    return Table(task, spec.title, keys, [column for column, _ in columns], rows,
                 spec.note.format(clip=clip_note))  # fmt: skip


def tables(ctx: ScoringContext, *args: Any, **kwargs: Any) -> list[Table]:
    """The table of every registered task that has one, in the tasks' order."""
    return [task_table(task.name, ctx, *args, **kwargs)
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
        if pair := _round_prompts(sample[2]):
            if (label := chains.get(chain(sample))) is not None:
                return label
            manifest = (run_versions or {}).get(sample[0]) or {}  # a chain not written
            return ", ".join(f"{p} {manifest.get(p, '?')}" for p in pair)
        return prompt_version(sample[2])

    return field

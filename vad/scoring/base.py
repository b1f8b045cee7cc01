"""What a scorer provides, and the registry that finds scorers by name.

A scorer turns the samples of one table row into estimates, one per column it fills.
Adding one is one module in this package with a class under ``@register_scorer(name)``
that names the tasks whose tables it joins (``tables``); a task may also name it in its
own table (``TableSpec.columns``), to place its columns. Every module of the package is
imported on the first look-up, so no list needs editing; then the modules installed
packages name in the entry point group ``vad.scorers`` (vad/plugins.py).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vad.registry import Registry
from vad.scoring.stats import Estimate

Sample = tuple[str, int, dict[str, Any]]  # run, line number (1-based), record
Value = Estimate | str  # an estimate, or why there is none ("unavailable")
ClipScores = dict[tuple[str, int], dict[str, Any]]  # (run, line) -> rank, top1, ..., embedding
UNAVAILABLE = "unavailable"


@dataclass
class ScoringContext:
    """What scorers may look at beyond a row's own samples.

    ``samples`` is every sample of the leaderboard (paired measures find a sample's
    round 0 there); ``folders`` where each run's images are; ``clip_scores`` the CLIP
    numbers of each rendered sample, or None where CLIP is unavailable. ``memo`` keeps
    what a scorer computes once per context.
    """

    samples: list[Sample] = field(default_factory=list)
    clip_scores: ClipScores | None = None
    memo: dict[str, Any] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)  # run -> its folder (images)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]


class Scorer:
    """Base class; subclasses are registered with :func:`register_scorer`.

    ``columns`` are the table columns it fills (a name ending in '%' or '(pts)' is
    shown x100). ``applies`` says which records it scores: a row none of whose records
    it applies to shows '–'. ``score`` gets the scored records of a row that it applies
    to (possibly none) and returns one :class:`Estimate` per column, or
    ``"unavailable"`` where what it needs is missing (CLIP weights).
    """

    name: str = ""
    columns: tuple[str, ...] = ()
    # the tasks whose leaderboard tables get its columns (after the table's own), so that
    # a new scorer is one file; a task that names it in TableSpec.columns places them
    tables: tuple[str, ...] = ()

    def applies(self, record: dict[str, Any]) -> bool:
        raise NotImplementedError

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        raise NotImplementedError


class DrawingScorer(Scorer):
    """A scorer of the records of tasks that draw images."""

    def applies(self, record: dict[str, Any]) -> bool:
        return draws_images(record)


class RoundScorer(DrawingScorer):
    """A scorer of drawings made in rounds (records with ``round``), against round 0."""

    def applies(self, record: dict[str, Any]) -> bool:
        return draws_images(record) and "round" in record


# Scorers of installed packages (entry points "vad.scorers", vad/plugins.py) join on first
# look-up, after this package's own (every look-up below runs _load first).
SCORERS: Registry[Scorer] = Registry("unknown scorer {name}: choose from {choices}", "vad.scorers")
register_scorer = SCORERS.register


def _load() -> None:
    import vad.scoring

    for module in pkgutil.iter_modules(vad.scoring.__path__):
        importlib.import_module(f"vad.scoring.{module.name}")


def scorer_names() -> list[str]:
    _load()
    return SCORERS.names()


def joining(task: str) -> list[tuple[str, str]]:
    """(column, scorer) of every scorer that joins the table of ``task``, by name."""
    _load()
    return [(column, name) for name, cls in sorted(SCORERS.all().items())
            if task in cls.tables for column in cls.columns]  # fmt: skip


def get_scorer(name: str) -> Scorer:
    _load()
    return SCORERS.get(name)()


def draws_images(record: dict[str, Any]) -> bool:
    """Whether the record's task draws images (and so has a render to score)."""
    from vad.tasks import draws_images as task_draws

    return task_draws(str(record.get("task")))


# Rounds: a task whose records carry ``round`` redoes one sample in rounds; a chain is
# one sample's rounds within its run.
ChainKey = tuple[str, str, str]  # run, model, sample id without its round


def chain(sample: Sample) -> ChainKey:
    run, _, rec = sample
    return run, str(rec.get("model")), str(rec.get("sample_id")).rsplit(":r", 1)[0]


def by_chain(
    samples: list[Sample], value: Callable[[Sample], float | None]
) -> dict[ChainKey, dict[int, float]]:
    """Per chain, round -> ``value`` of its scored records (None: left out)."""
    from vad.outcomes import is_scored

    out: dict[ChainKey, dict[int, float]] = defaultdict(dict)
    for sample in samples:  # scored rounds only: a failed call is no round at all
        rec = sample[2]
        if "round" in rec and is_scored(rec) and (v := value(sample)) is not None:
            out[chain(sample)][int(rec["round"])] = v
    return out


def paired(chains: dict[ChainKey, dict[int, float]], items: list[Sample]) -> list[float]:
    """Each item's value less its chain's value at round 0 (both present)."""
    diffs = []
    for sample in items:
        values, rnd = chains.get(chain(sample), {}), int(sample[2]["round"])
        if 0 in values and rnd in values:
            diffs.append(values[rnd] - values[0])
    return diffs

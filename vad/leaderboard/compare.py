"""Side by side: per language, every model's drawing of the same concept.

One page per language: a draw grid (concept rows x one column per model and prompt
version) and a correct grid (the same rows, each model's rounds as columns), filterable
by level with a select or a ``#level=NAME`` link; and the index's strip of examples per
model. Each cell is the first sample (lowest sample index) of its model and concept.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from itertools import zip_longest
from typing import Any

from vad.leaderboard.images import Images
from vad.leaderboard.render import render
from vad.leaderboard.tables import Field, Sample
from vad.tasks.base import draws_images, task_class, task_names


def _in_rounds(task: str) -> bool:
    """Whether the task redoes each sample in rounds (its grid has a column per round)."""
    cls = task_class(task)
    return cls is not None and cls.round_prompts is not None


Column = tuple[str, str]  # model, prompt version
Concept = tuple[str, str]  # level, caption
Chains = dict[tuple[int, str], dict[int, Sample]]  # (sample index, run) -> round -> sample
STRIP = 6  # thumbnails per model on the index


def file_name(prefix: str, name: str) -> str:
    """``<prefix>-<name>.html`` with every character of ``name`` but ASCII letters and
    digits as '_' (a long name cut, with a hash of the whole)."""
    safe = "".join(c if c.isascii() and c.isalnum() else "_" for c in name)
    if len(safe) > 80:
        safe = f"{safe[:60]}-{hashlib.sha256(name.encode('utf-8', 'replace')).hexdigest()[:12]}"
    return f"{prefix}-{safe}.html"


def file_names(prefix: str, names: Iterable[str]) -> dict[str, str]:
    """:func:`file_name` of each name, names that meet in one file told apart by a hash
    (``gpt-4`` and ``gpt_4`` are two pages)."""
    out = {name: file_name(prefix, name) for name in names}
    meet = Counter(out.values())
    for name, page in out.items():
        if meet[page] > 1:
            digest = hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:8]
            out[name] = f"{page.removesuffix('.html')}-{digest}.html"
    return out


def _first(samples: list[Sample]) -> Sample:
    """The sample of lowest sample index (then run, then line)."""
    return min(samples, key=lambda s: (int(s[2].get("sample_index") or 0), s[0], s[1]))


def _pick(samples: list[Sample] | None) -> Sample | None:
    return _first(samples) if samples else None


def _cell(sample: Sample | None, images: Images) -> dict[str, Any] | None:
    """A grid cell: the drawing (or its render status), None where none was drawn."""
    return None if sample is None else images.drawing(*sample)


def _column(column: Column, span: int = 1) -> dict[str, Any]:
    return {"model": column[0], "version": column[1], "span": span}


def _draw_grid(samples: list[Sample], version: Field, images: Images, task: str) -> dict[str, Any]:
    """Concept rows x (model, prompt version) columns, the first sample in each cell."""
    cells: dict[tuple[Concept, Column], list[Sample]] = defaultdict(list)
    for sample in samples:
        rec = sample[2]
        concept = (str(rec.get("level")), str(rec.get("caption")))
        cells[(concept, (str(rec.get("model")), version(sample)))].append(sample)
    columns = sorted({column for _, column in cells})
    rows = [{"level": level, "caption": caption,
             "cells": [_cell(_pick(cells.get(((level, caption), c))), images) for c in columns]}
            for level, caption in sorted({concept for concept, _ in cells})]  # fmt: skip
    return {"task": task, "rounds": False, "columns": [_column(c) for c in columns], "rows": rows}


def _rounds_grid(
    samples: list[Sample], version: Field, images: Images, task: str
) -> dict[str, Any]:
    """Concept rows x (model, prompt version) x round columns: the first sample's chain."""
    chains: dict[tuple[Concept, Column], Chains] = defaultdict(lambda: defaultdict(dict))
    rounds: dict[Column, int] = defaultdict(int)  # rounds shown per column
    for sample in samples:
        run, _, rec = sample
        concept = (str(rec.get("level")), str(rec.get("caption")))
        column, rnd = (str(rec.get("model")), version(sample)), int(rec.get("round") or 0)
        chains[(concept, column)][(int(rec.get("sample_index") or 0), run)][rnd] = sample
        rounds[column] = max(rounds[column], rnd + 1)
    columns = sorted(rounds)
    rows = []
    for level, caption in sorted({concept for concept, _ in chains}):
        cells = []
        for c in columns:
            by_start = chains.get(((level, caption), c), {})
            chain = by_start[min(by_start)] if by_start else {}
            cells += [_cell(chain.get(r), images) for r in range(rounds[c])]
        rows.append({"level": level, "caption": caption, "cells": cells})
    return {"task": task, "rounds": True, "rows": rows,
            "columns": [_column(c, rounds[c]) for c in columns]}  # fmt: skip


def compare_page(
    language: str,
    samples: list[Sample],
    version: Field,
    images: Images,
    warnings: list[str] | None = None,
) -> str:
    """The side-by-side page of one language (``samples``: those of tasks that draw)."""
    by_task: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_task[str(sample[2].get("task"))].append(sample)
    grids = []
    for task in task_names():
        items = by_task.get(task)
        if items:
            grid = _rounds_grid if _in_rounds(task) else _draw_grid  # a column per round
            grids.append(grid(items, version, images, task))
    levels = sorted({str(s[2].get("level")) for s in samples})
    return render("compare.html", title=f"vad — side by side: {language}", language=language,
                  levels=levels, grids=grids, warnings=warnings or [])  # fmt: skip


def compare_pages(
    samples: list[Sample],
    version: Field,
    images: Images,
    warnings: Callable[[set[str]], list[str]] | None = None,
    planned: list[Sample] | None = None,
) -> dict[str, str]:
    """Language -> its side-by-side page, for each language of a task that draws.

    ``warnings`` gives the lines on runs that feed a page (its samples', and the
    ``planned`` samples of its language that no run wrote)."""
    by_language: dict[str, list[Sample]] = defaultdict(list)
    feeding: dict[str, set[str]] = defaultdict(set)
    for sample in [*samples, *(planned or [])]:
        if draws_images(str(sample[2].get("task"))):
            feeding[str(sample[2].get("language"))].add(sample[0])
    for sample in samples:
        if draws_images(str(sample[2].get("task"))):
            by_language[str(sample[2].get("language"))].append(sample)
    return {lang: compare_page(lang, by_language.get(lang, []), version, images,
                               warnings(feeding[lang]) if warnings else None)
            for lang in sorted(feeding)}  # fmt: skip


def strip(model: str, samples: list[Sample], images: Images, size: int = STRIP) -> list[Any]:
    """Up to ``size`` of a model's rendered drawings, one per concept, taken from each
    level in turn."""
    firsts: dict[Concept, list[Sample]] = defaultdict(list)
    for sample in samples:
        rec = sample[2]
        task = str(rec.get("task"))
        first_try = draws_images(task) and not _in_rounds(task)  # a drawing, not a redraw
        if rec.get("model") == model and first_try and rec.get("status") == "ok":
            firsts[(str(rec.get("level")), str(rec.get("caption")))].append(sample)
    by_level: dict[str, list[Sample]] = defaultdict(list)
    for (level, _), items in sorted(firsts.items()):
        by_level[level].append(_first(items))
    turns = [s for turn in zip_longest(*by_level.values()) for s in turn if s is not None]
    thumbs = []
    for sample in turns:
        if len(thumbs) == size:
            break
        drawn = images.drawing(*sample)
        if drawn["src"] is not None:
            thumbs.append(drawn)
    return thumbs

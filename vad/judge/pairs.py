"""What judges look at: the rendered drawings of runs, the captions a recognition
question draws its distractors from, and the pairs of drawings to compare."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from vad.concepts import load_concepts
from vad.errors import VadError
from vad.leaderboard.runs import load_runs
from vad.tasks import task_class


@dataclass(frozen=True)
class Drawing:
    """One rendered sample: its run, its line in samples.jsonl, its record."""

    run: str
    folder: Path
    line: int
    record: dict[str, Any]

    @property
    def image(self) -> Path:
        return self.folder / str(self.record["image"])

    @property
    def model(self) -> str:
        return str(self.record.get("model"))

    @property
    def sample_id(self) -> str:
        return str(self.record["sample_id"])

    def ref(self) -> dict[str, Any]:
        """How a judgement names this drawing."""
        return {"run": self.run, "line": self.line, "sample_id": self.sample_id,
                "model": self.model}  # fmt: skip


def find_drawings(names: list[str], root: Path) -> tuple[list[Drawing], list[str]]:
    """The rendered drawings of the runs ``names`` (looked up as `vad leaderboard` does:
    folder paths, names or prefixes under ``root``): the last record of each sample, of
    tasks that draw images, whose image is a file inside its run folder. And warnings
    (damaged lines, unfinished runs, images that are gone)."""
    samples, _, runs, warnings = load_runs(names, root)
    found: list[Drawing] = []
    missing = 0
    for run, line, record in samples:
        task = task_class(str(record.get("task")))
        if task is None or not task.draws_images or not isinstance(record.get("image"), str):
            continue
        if not isinstance(record.get("caption"), str):
            continue
        folder = runs[run].folder
        drawing = Drawing(run, folder, line, record)
        try:  # a record is the run's own output, but its path still must stay inside it
            inside = drawing.image.resolve().is_relative_to(folder.resolve())
        except OSError:
            inside = False
        if not inside or not drawing.image.is_file():
            missing += 1
            continue
        found.append(drawing)
    if missing:
        warnings.append(f"{missing} record(s) name an image that is not in its run folder: "
                        "not judged")  # fmt: skip
    return found, warnings


def caption_pools(drawings: list[Drawing]) -> dict[str, list[str]]:
    """Per level, the captions recognition's distractors are drawn from: the dataset's
    captions of the level (so the question does not change with which runs are judged
    together), or for a level of the user's own, the captions the runs drew."""
    seen: dict[str, set[str]] = defaultdict(set)
    for drawing in drawings:
        seen[str(drawing.record.get("level"))].add(str(drawing.record["caption"]))
    pools: dict[str, list[str]] = {}
    for level, captions in seen.items():
        known: list[str] = []
        with contextlib.suppress(VadError):
            known = [c.caption for c in load_concepts([level])]
        pools[level] = sorted(set(known) if known else captions)
    return pools


def pair_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """Drawings compared with each other: the same task, concept, language, sample
    index (and round), by different models."""
    return tuple(record.get(k) for k in ("task", "concept_id", "caption", "language",
                                         "sample_index", "round"))  # fmt: skip


def find_pairs(drawings: list[Drawing]) -> list[tuple[Drawing, Drawing]]:
    """Every pair of drawings of one :func:`pair_key` by two models, the models in name
    order (of a model's several drawings of one key, across runs, the one whose (run
    name, sample id) sorts first: the same pairs whatever order the runs are named in)."""
    groups: dict[tuple[Any, ...], dict[str, Drawing]] = defaultdict(dict)
    for drawing in sorted(drawings, key=lambda d: (d.run, d.sample_id)):
        groups[pair_key(drawing.record)].setdefault(drawing.model, drawing)
    pairs = []
    for by_model in groups.values():
        for a, b in combinations(sorted(by_model), 2):
            pairs.append((by_model[a], by_model[b]))
    return pairs

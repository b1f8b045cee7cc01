"""Which pairs of drawings a voter can be shown, and a random one not shown to them yet.

A pair is two drawings of one concept (its id and caption), language and level, of the
task ``draw``, by two different models: any drawing of one model against any drawing of
the other (sample indices are interchangeable draws of one model). Only drawings that
rendered (status ok) and whose image is a regular file inside their run folder count.

Pairs are not listed up front (models x samples x concepts can run to millions): a
*block* is one concept's drawings by two models, and a random pair is a random block,
then a random drawing of each side. Blocks weigh alike, so every pair of models and
every concept is asked about about as often, whatever number of samples each drew.
"""

from __future__ import annotations

import json
import os
import random
import stat
from collections import defaultdict
from collections.abc import Container
from dataclasses import dataclass
from itertools import combinations, product
from pathlib import Path
from typing import Any

from vad.fsutil import contained
from vad.judge.pairs import Drawing  # one rendered drawing, as vad judge reads them

TRIES = 64  # random draws before looking through every block for a pair not yet shown


def pair_key(a: Drawing, b: Drawing) -> str:
    """The pair's name whatever its order: the two (run, sample id), sorted."""
    return json.dumps(sorted([[a.run, a.sample_id], [b.run, b.sample_id]]))


def is_drawing(record: dict[str, Any]) -> bool:
    """A record the arena shows: a rendered drawing of the draw task, with its fields."""
    return (
        record.get("task") == "draw"
        and record.get("status") == "ok"
        and all(isinstance(record.get(k), str) and record.get(k)
                for k in ("image", "caption", "model", "sample_id"))
        and record.get("concept_id") is not None
    )  # fmt: skip


def image_file(folder: Path, rel: str) -> bool:
    """Whether ``rel`` is a regular file inside ``folder``, reached with no symlink."""
    path = contained(folder, rel)
    if path is None:
        return False
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def find_drawings(
    samples: list[tuple[str, int, dict[str, Any]]], folders: dict[str, Path]
) -> tuple[list[Drawing], int]:
    """The drawings among ``samples`` (run name, line, record), and how many records of
    rendered drawings name an image that is not a file inside their run folder."""
    found, missing = [], 0
    for run, line, record in samples:
        if run not in folders or not is_drawing(record):
            continue
        if not image_file(folders[run], str(record["image"])):
            missing += 1
            continue
        found.append(Drawing(run, folders[run], line, record))
    return found, missing


def group_key(record: dict[str, Any]) -> tuple[str, ...]:
    """Drawings that may be compared: one concept, caption, language and level."""
    return tuple(str(record.get(k)) for k in ("concept_id", "caption", "language", "level"))


@dataclass(frozen=True)
class Block:
    """One concept's drawings by two models: every (a, b) of them is a pair."""

    a: tuple[Drawing, ...]
    b: tuple[Drawing, ...]

    def pairs(self) -> list[tuple[Drawing, Drawing]]:
        return list(product(self.a, self.b))


class Pool:
    """Every pair of the drawings given, and random picks among them."""

    def __init__(self, drawings: list[Drawing]) -> None:
        groups: dict[tuple[str, ...], dict[str, list[Drawing]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for drawing in sorted(drawings, key=lambda d: (d.run, d.line)):
            groups[group_key(drawing.record)][drawing.model].append(drawing)
        self.blocks = [
            Block(tuple(by_model[a]), tuple(by_model[b]))
            for _, by_model in sorted(groups.items())
            for a, b in combinations(sorted(by_model), 2)
        ]
        self.by_id = {(d.run, d.sample_id): d for d in drawings}
        self.models = sorted({d.model for d in drawings})

    @property
    def size(self) -> int:
        """How many pairs there are."""
        return sum(len(block.a) * len(block.b) for block in self.blocks)

    def choose(self, rng: random.Random, shown: Container[str]) -> tuple[Drawing, Drawing] | None:
        """A random pair whose key is not in ``shown``, in random order (left, right);
        None when every pair was shown."""
        if not self.blocks:
            return None
        for _ in range(TRIES):
            block = rng.choice(self.blocks)
            a, b = rng.choice(block.a), rng.choice(block.b)
            if pair_key(a, b) not in shown:
                return (a, b) if rng.random() < 0.5 else (b, a)
        order = list(self.blocks)  # nearly all shown: look through them all
        rng.shuffle(order)
        for block in order:
            left = [p for p in block.pairs() if pair_key(*p) not in shown]
            if left:
                a, b = rng.choice(left)
                return (a, b) if rng.random() < 0.5 else (b, a)
        return None

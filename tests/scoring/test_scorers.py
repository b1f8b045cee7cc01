"""The contract every registered scorer keeps: a name, the records it applies to,
Estimates (or 'unavailable') for exactly its columns, and empty input handled."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vad.errors import SpecError
from vad.scoring.base import UNAVAILABLE, ScoringContext, get_scorer, scorer_names
from vad.scoring.stats import Estimate

RECORDS: list[dict[str, Any]] = [
    {"task": "draw", "model": "m", "sample_id": "draw:m:svg:c1:0", "concept_id": "c1",
     "status": "ok", "image": "a.png", "caption": "a red circle", "level": "shapes"},
    {"task": "draw", "model": "m", "sample_id": "draw:m:svg:c1:1", "concept_id": "c1",
     "status": "syntax_error", "image": None, "caption": "a red circle", "level": "shapes"},
    {"task": "correct", "model": "m", "sample_id": "correct:m:svg:c1:0:r0", "round": 0,
     "concept_id": "c1", "status": "syntax_error", "image": None},
    {"task": "correct", "model": "m", "sample_id": "correct:m:svg:c1:0:r1", "round": 1,
     "concept_id": "c1", "status": "ok", "image": "b.png"},
    {"task": "recognize", "model": "m", "mode": "choice", "status": "ok", "correct": True},
    {"task": "recognize", "model": "m", "mode": "free", "status": "ok", "correct": False,
     "correct_contains": True},
    {"task": "draw", "model": "m", "sample_id": "draw:m:svg:shape-red-circle-center:0",
     "concept_id": "shape-red-circle-center", "status": "ok", "image": "c.png",
     "caption": "a red circle in the center", "level": "shapes"},
    {"task": "correct", "model": "m", "round": 1, "status": "ok", "image": "d.png",
     "sample_id": "correct:m:svg:shape-red-circle-center:0:r1", "level": "shapes",
     "concept_id": "shape-red-circle-center", "caption": "a red circle in the center"},
]  # fmt: skip
SAMPLES = [("run", i + 1, rec) for i, rec in enumerate(RECORDS)]
CLIP = {
    ("run", 1): {"top1": 1.0, "top5": 1.0, "clipscore": 0.5, "embedding": np.eye(3)[0]},
    ("run", 4): {"top1": 0.0, "top5": 1.0, "clipscore": 0.4, "embedding": np.eye(3)[1]},
}


def test_scorers_are_registered_by_name() -> None:
    names = scorer_names()
    assert {"render", "render_change", "accuracy", "contains", "clip", "clip_change",
            "diversity"} <= set(names)  # fmt: skip
    with pytest.raises(SpecError, match="unknown scorer 'nope'"):
        get_scorer("nope")


@pytest.mark.parametrize("name", scorer_names())
def test_scorer_contract(name: str) -> None:
    scorer = get_scorer(name)
    assert scorer.name == name and scorer.columns
    assert all(isinstance(c, str) and c for c in scorer.columns)
    applies = [scorer.applies(rec) for rec in RECORDS]
    assert all(isinstance(a, bool) for a in applies)
    assert any(applies), f"{name} applies to none of the kinds of record"
    assert not scorer.applies({}), "a record of no task is scored by nobody"
    mine = [s for s in SAMPLES if scorer.applies(s[2])]
    for clip in (CLIP, None):
        for items in (mine, []):  # empty input: Estimates over nothing, never an error
            values = scorer.score(items, ScoringContext(SAMPLES, clip))
            assert set(values) == set(scorer.columns)
            for value in values.values():
                assert isinstance(value, Estimate) or value == UNAVAILABLE
                if isinstance(value, Estimate) and not items:
                    assert value.n == 0 and value.format() == "–"
                if clip is not None:
                    assert isinstance(value, Estimate), "with CLIP scores nothing is unavailable"


def test_a_scorer_joins_the_tables_it_names_with_no_other_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new scorer is one module: ``tables`` puts its columns in those tasks' tables."""
    from vad.leaderboard.tables import task_table
    from vad.scoring.base import SCORERS, DrawingScorer, register_scorer
    from vad.scoring.stats import bootstrap_mean
    from vad.tasks import task_class

    get_scorer("render")  # the package's own, loaded first
    monkeypatch.setattr(SCORERS, "_classes", dict(SCORERS._classes))

    @register_scorer("caption_words")
    class CaptionWords(DrawingScorer):
        columns = ("caption words",)
        tables = ("draw",)

        def score(self, items: list, ctx: ScoringContext) -> dict:
            words = [float(len(str(r.get("caption", "")).split())) for _, _, r in items]
            return {"caption words": bootstrap_mean(words)}

    ctx = ScoringContext(SAMPLES, None)
    draw = task_table("draw", ctx)
    own = [column for column, _ in task_class("draw").table.columns]
    # after the table's own columns, in the order of the scorers' names
    assert draw.value_columns[: len(own) + 1] == [*own, "caption words"]
    (row,) = draw.rows
    assert row.values["caption words"].mean == 4.0  # "a red circle" (x2), "... in the center"
    assert "caption words" not in task_table("correct", ctx).value_columns

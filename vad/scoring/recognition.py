"""Recognition: whether the model named what a drawing's code depicts."""

from __future__ import annotations

from typing import Any

from vad.scoring.base import Sample, Scorer, ScoringContext, Value, register_scorer
from vad.scoring.stats import proportion


def _share(items: list[Sample], key: str) -> Value:
    return proportion([1.0 if rec.get(key) else 0.0 for _, _, rec in items])


@register_scorer("accuracy")
class Accuracy(Scorer):
    """Answers that match the truth: the right option, or the normalised caption."""

    columns = ("accuracy %",)

    def applies(self, record: dict[str, Any]) -> bool:
        return "mode" in record  # an answer to a question (choice or free)

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        return {"accuracy %": _share(items, "correct")}


@register_scorer("contains")
class Contains(Scorer):
    """Free answers that contain the normalised caption."""

    columns = ("contains %",)

    def applies(self, record: dict[str, Any]) -> bool:
        return record.get("mode") == "free"

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        return {"contains %": _share(items, "correct_contains")}

"""Render rate: the share of drawings that rendered, and its change over rounds."""

from __future__ import annotations

from vad.scoring.base import (
    DrawingScorer,
    RoundScorer,
    Sample,
    ScoringContext,
    Value,
    by_chain,
    paired,
    register_scorer,
)
from vad.scoring.stats import bootstrap_mean, proportion


def _rendered(sample: Sample) -> float:
    return 1.0 if sample[2].get("status") == "ok" else 0.0


@register_scorer("render")
class RenderRate(DrawingScorer):
    """Rendered / scored, with its Wilson interval."""

    columns = ("render rate %",)

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        return {"render rate %": proportion([_rendered(s) for s in items])}


@register_scorer("render_change")
class RenderChange(RoundScorer):
    """Render rate of a round less that of round 0, paired per sample (bootstrap)."""

    columns = ("change from round 0 (pts)",)

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        chains = ctx.once(self.name, lambda: by_chain(ctx.samples, _rendered))
        return {"change from round 0 (pts)": bootstrap_mean(paired(chains, items))}

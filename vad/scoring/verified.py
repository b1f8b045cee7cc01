"""The shapes verifier's columns: the verified rate, each attribute's rate, and (for
drawings made in rounds) the change of the verified rate from round 0.

A sample that did not render counts as not verified: the rates are over every scored
sample of a shape concept the verifier can check (vad/scoring/verifier.py).
"""

from __future__ import annotations

from typing import Any

from vad.scoring.base import (
    DrawingScorer,
    RoundScorer,
    Sample,
    ScoringContext,
    Value,
    by_chain,
    draws_images,
    paired,
    register_scorer,
)
from vad.scoring.samples import verdict, verifiable_attrs
from vad.scoring.stats import bootstrap_mean, proportion
from vad.scoring.verifier import ATTRIBUTES

_COLUMNS = {attribute: f"{attribute} %" for attribute in ATTRIBUTES}


def verdicts(ctx: ScoringContext) -> dict[tuple[str, int], dict[str, Any] | None]:
    """Each drawing's verdict in the context, made once."""

    def make() -> dict[tuple[str, int], dict[str, Any] | None]:
        return {(run, line): verdict(rec, ctx.folders.get(run))
                for run, line, rec in ctx.samples if verifiable(rec)}  # fmt: skip

    return ctx.once("verdicts", make)


def verifiable(record: dict[str, Any]) -> bool:
    return draws_images(record) and verifiable_attrs(record) is not None


def verified(sample: Sample, ctx: ScoringContext) -> float:
    found = verdicts(ctx).get(sample[:2])
    return 1.0 if found is not None and found.get("verified") is True else 0.0


@register_scorer("verified")
class Verified(DrawingScorer):
    """Drawings whose every attribute the verifier finds right, of the scored ones
    (Wilson), and each attribute's own rate over the samples whose concept has it."""

    columns = ("verified %", *_COLUMNS.values())
    tables = ("draw", "correct")

    def applies(self, record: dict[str, Any]) -> bool:
        return verifiable(record)

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        found = verdicts(ctx)
        out: dict[str, Value] = {"verified %": proportion([verified(s, ctx) for s in items])}
        for attribute, column in _COLUMNS.items():
            outcomes = []
            for sample in items:
                attrs = verifiable_attrs(sample[2]) or {}
                if not _has(attrs, attribute):
                    continue
                checks = (found.get(sample[:2]) or {}).get("checks") or {}
                outcomes.append(1.0 if checks.get(attribute) is True else 0.0)
            out[column] = proportion(outcomes)
        return out


@register_scorer("verified_change")
class VerifiedChange(RoundScorer):
    """Verified rate of a round less that of round 0, paired per sample (bootstrap)."""

    columns = ("verified change from round 0 (pts)",)
    tables = ("correct",)

    def applies(self, record: dict[str, Any]) -> bool:
        return super().applies(record) and verifiable(record)

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        chains = ctx.once(self.name, lambda: by_chain(
            [s for s in ctx.samples if verifiable(s[2])], lambda s: verified(s, ctx)))  # fmt: skip
        return {self.columns[0]: bootstrap_mean(paired(chains, items))}


def _has(attrs: dict[str, Any], attribute: str) -> bool:
    if attribute in ("color", "count", "shape"):
        return True
    return attribute in attrs

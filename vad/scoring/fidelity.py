"""CLIP fidelity and diversity of rendered samples, as in the paper.

Fidelity of an image: the rank of its own caption among the captions of every concept
of its level (top-1 / top-5 retrieval accuracy) and its CLIPScore. Diversity: mean
pairwise cosine distance between the images of the same concept, model and language.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from vad.concepts import load_concepts
from vad.errors import VadError
from vad.scoring.base import (
    UNAVAILABLE,
    DrawingScorer,
    RoundScorer,
    Sample,
    ScoringContext,
    Value,
    by_chain,
    paired,
    register_scorer,
)
from vad.scoring.clip import ClipScorer, caption_ranks, clip_score, diversity, top_k
from vad.scoring.stats import bootstrap_mean, proportion


def _captions_by_level(samples: list[Sample]) -> dict[str, list[str]]:
    by_level: dict[str, set[str]] = defaultdict(set)
    for _, _, rec in samples:
        by_level[rec["level"]].add(rec["caption"])
    for level in list(by_level):
        with contextlib.suppress(VadError):  # a level of the user's own: the run's captions
            by_level[level].update(c.caption for c in load_concepts([level]))
    return {level: sorted(caps) for level, caps in by_level.items()}


def fidelity(
    samples: list[Sample], folders: dict[str, Path], scorer: ClipScorer
) -> dict[tuple[str, int], dict[str, float]]:
    """Per rendered sample (run, line): caption rank, top-1, top-5, CLIPScore."""
    rendered = [(run, line, rec) for run, line, rec in samples if rec.get("image")]
    if not rendered:
        return {}
    captions = _captions_by_level(rendered)
    text = {level: scorer.embed_texts(caps) for level, caps in captions.items()}
    images = scorer.embed_images([folders[run] / rec["image"] for run, _, rec in rendered])
    scores: dict[tuple[str, int], dict[str, float]] = {}
    for level, caps in captions.items():
        idx = [i for i, (_, _, rec) in enumerate(rendered) if rec["level"] == level]
        if not idx:
            continue
        truth = np.array([caps.index(rendered[i][2]["caption"]) for i in idx])
        ranks = caption_ranks(images[idx], text[level], truth)
        cs = clip_score(images[idx], text[level][truth])
        top1, top5 = top_k(ranks, 1), top_k(ranks, 5)
        for j, i in enumerate(idx):
            run, line, _ = rendered[i]
            scores[(run, line)] = {"rank": float(ranks[j]), "top1": float(top1[j]),
                                   "top5": float(top5[j]), "clipscore": float(cs[j]),
                                   "embedding": images[i]}  # fmt: skip
    return scores


def group_diversity(
    items: list[Sample], scores: dict[tuple[str, int], dict[str, Any]]
) -> list[float]:
    """Diversity of each concept (with two or more rendered samples) in a group."""
    by_concept: dict[str, list[np.ndarray]] = defaultdict(list)
    for run, line, rec in items:
        if (run, line) in scores:
            by_concept[rec["concept_id"]].append(scores[(run, line)]["embedding"])
    return [diversity(np.stack(embs)) for embs in by_concept.values() if len(embs) >= 2]


@register_scorer("clip")
class Fidelity(DrawingScorer):
    """CLIP top-1 / top-5 retrieval of the own caption (Wilson) and CLIPScore (bootstrap)."""

    columns = ("CLIP top-1 %", "CLIP top-5 %", "CLIPScore")

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        if ctx.clip_scores is None:
            return dict.fromkeys(self.columns, UNAVAILABLE)
        mine = [ctx.clip_scores[s[:2]] for s in items if s[:2] in ctx.clip_scores]
        return {
            "CLIP top-1 %": proportion([m["top1"] for m in mine]),
            "CLIP top-5 %": proportion([m["top5"] for m in mine]),
            "CLIPScore": bootstrap_mean([m["clipscore"] for m in mine]),
        }


@register_scorer("diversity")
class Diversity(DrawingScorer):
    """Mean pairwise cosine distance of the CLIP image embeddings of each concept."""

    columns = ("diversity",)

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        if ctx.clip_scores is None:
            return {"diversity": UNAVAILABLE}
        return {"diversity": bootstrap_mean(group_diversity(items, ctx.clip_scores))}


@register_scorer("clip_change")
class FidelityChange(RoundScorer):
    """CLIPScore of a round less that of round 0, paired per sample whose both rounds
    rendered (bootstrap)."""

    columns = ("CLIPScore change from round 0",)

    def score(self, items: list[Sample], ctx: ScoringContext) -> dict[str, Value]:
        scores = ctx.clip_scores
        if scores is None:
            return {self.columns[0]: UNAVAILABLE}
        value = lambda s: scores.get(s[:2], {}).get("clipscore")  # noqa: E731
        chains = ctx.once(self.name, lambda: by_chain(ctx.samples, value))
        return {self.columns[0]: bootstrap_mean(paired(chains, items))}

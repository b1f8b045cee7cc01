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
from vad.scoring.clip import ClipScorer, caption_ranks, clip_score, diversity, top_k

Sample = tuple[str, int, dict[str, Any]]


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

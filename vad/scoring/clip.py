"""CLIP through open_clip: weights only from the user's cache or a path, never downloaded.

Where no weights are available every CLIP-based number is reported as unavailable,
with the reason and how to provide them; no value is ever made up.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

HOW_TO = (
    "install open_clip_torch and point VAD_CLIP_WEIGHTS at a checkpoint file "
    "(with VAD_CLIP_MODEL, e.g. ViT-B-32), or put the weights in open_clip's cache"
)


def clip_status() -> str:
    """'available: ...' or 'unavailable: <reason>; <how to fix>'."""
    if importlib.util.find_spec("open_clip") is None:
        return f"CLIP scores unavailable: open_clip_torch is not installed; to enable, {HOW_TO}."
    weights = os.environ.get("VAD_CLIP_WEIGHTS")
    if not weights:
        return f"CLIP scores unavailable: no CLIP weights given; to enable, {HOW_TO}."
    if not Path(weights).is_file():
        return f"CLIP scores unavailable: {weights} does not exist; to enable, {HOW_TO}."
    return f"CLIP weights at {weights}"


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(min=1e-12)


def caption_ranks(image_emb: np.ndarray, text_emb: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of each image's own caption among all captions of its level.

    ``image_emb`` is (N, D), ``text_emb`` (C, D) for the C captions of the level, and
    ``truth`` (N,) the index of each image's caption. Ties count against the image.
    """
    sims = _normalise(image_emb) @ _normalise(text_emb).T
    own = sims[np.arange(len(truth)), truth]
    return (sims >= own[:, None]).sum(axis=1) - 1


def top_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """1.0 where the own caption is among the k best, else 0.0."""
    return (ranks < k).astype(float)


def clip_score(image_emb: np.ndarray, text_emb: np.ndarray, weight: float = 2.5) -> np.ndarray:
    """CLIPScore (Hessel et al. 2021): w * max(cos(image, own caption), 0), per pair."""
    cos = (_normalise(image_emb) * _normalise(text_emb)).sum(axis=-1)
    return weight * np.maximum(cos, 0.0)


def diversity(image_emb: np.ndarray) -> float:
    """Mean pairwise cosine distance among the images of one concept (NaN below two)."""
    n = len(image_emb)
    if n < 2:
        return float("nan")
    x = _normalise(image_emb)
    sims = x @ x.T
    upper = sims[np.triu_indices(n, k=1)]
    return float((1.0 - upper).mean())

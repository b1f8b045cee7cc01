"""The retrieval math on constructed embeddings, and the honest 'unavailable'."""

from __future__ import annotations

import numpy as np
import pytest

from vad.scoring.clip import caption_ranks, clip_score, clip_status, diversity, top_k


def test_ranks_on_constructed_embeddings() -> None:
    text = np.eye(4)  # four captions on orthogonal axes
    images = np.array([
        [1.0, 0.1, 0.0, 0.0],   # closest to caption 0, its own: rank 0
        [0.9, 0.5, 0.0, 0.0],   # own caption 1 is second best: rank 1
        [0.4, 0.05, 0.3, 0.9],  # own caption 2 comes third: rank 2
        [0.0, 0.0, 0.0, 5.0],   # scale does not matter: rank 0
    ])  # fmt: skip
    ranks = caption_ranks(images, text, np.array([0, 1, 2, 3]))
    assert ranks.tolist() == [0, 1, 2, 0]
    assert top_k(ranks, 1).tolist() == [1, 0, 0, 1] and top_k(ranks, 5).mean() == 1.0


def test_clip_score_and_diversity() -> None:
    img = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    txt = np.array([[2.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    assert clip_score(img, txt).tolist() == pytest.approx([2.5, 2.5 / np.sqrt(2), 0.0])
    assert diversity(np.array([[1.0, 0.0], [1.0, 0.0]])) == pytest.approx(0.0)
    assert diversity(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])) == pytest.approx(
        (1 + 2 + 1) / 3
    )
    assert np.isnan(diversity(np.ones((1, 3))))


def test_without_weights_clip_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAD_CLIP_WEIGHTS", raising=False)
    status = clip_status()
    assert status.startswith("CLIP scores unavailable:") and "VAD_CLIP_WEIGHTS" in status

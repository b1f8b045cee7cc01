"""The retrieval math on constructed embeddings, and the honest 'unavailable'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad.scoring.clip import (
    ClipScorer,
    ClipUnavailable,
    caption_ranks,
    clip_score,
    clip_status,
    diversity,
    top_k,
)


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


TINY = Path(__file__).resolve().parent.parent / "data" / "tiny-clip.json"


@pytest.fixture(scope="module")
def tiny() -> ClipScorer:
    return ClipScorer("tiny-clip", config=TINY, random_init=True, device="cpu")


def test_scorer_embeds_images_and_captions(tiny: ClipScorer, tmp_path: Path) -> None:
    paths = []
    for i, colour in enumerate(["red", "blue", "green"]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (40, 40), colour).save(paths[-1])
    images, texts = tiny.embed_images(paths), tiny.embed_texts(["a red square", "a cat"])
    assert images.shape == (3, 32) and texts.shape == (2, 32)
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert not np.allclose(images[0], images[1])


def test_weights_load_from_a_local_file_only(tiny: ClipScorer, tmp_path: Path) -> None:
    import torch

    weights = tmp_path / "tiny.pt"
    torch.save(tiny.model.state_dict(), weights)
    loaded = ClipScorer("tiny-clip", weights=str(weights), config=TINY, device="cpu")
    text = ["a blue circle"]
    assert np.allclose(loaded.embed_texts(text), tiny.embed_texts(text), atol=1e-5)
    with pytest.raises(ClipUnavailable, match="no CLIP weights given"):
        ClipScorer("tiny-clip", config=TINY)
    with pytest.raises(ClipUnavailable, match="does not exist"):
        ClipScorer("tiny-clip", weights=str(tmp_path / "missing.pt"), config=TINY)
    with pytest.raises(ClipUnavailable, match="no pretrained tag 'nope' for ViT-B-32"):
        ClipScorer("ViT-B-32", pretrained="nope")


GUARDED = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args)[:80])
    raise OSError("the network is blocked by the test")
socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse
from vad.scoring.clip import clip_scorer
model, weights, tag, network = json.loads(sys.argv[1])
found = clip_scorer(model, weights, tag, network=network)
print(json.dumps({"found": found if isinstance(found, str) else found.name,
                  "attempts": attempts}))
"""


def _guarded(tmp_path: Path, args: list, offline: bool) -> dict:
    """clip_scorer(*args) in a fresh process whose sockets refuse every connection, with
    an empty Hugging Face cache (and the hub's offline mode if ``offline``)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAD_CLIP_", "HF_", "HUGGINGFACE_"))}  # fmt: skip
    env["HF_HOME"] = str(tmp_path / "hf")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run([sys.executable, "-c", GUARDED, json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_named_tag_that_cannot_be_fetched_says_so_in_one_line(tmp_path: Path) -> None:
    # The hub's offline mode: the same answer as no network, without the retries.
    got = _guarded(tmp_path, ["ViT-B-32", None, "laion2b_s34b_b79k", True], offline=True)
    note = got["found"]
    assert note.startswith("CLIP scores unavailable: cannot fetch the CLIP weights "
                           "'laion2b_s34b_b79k' of ViT-B-32")  # fmt: skip
    assert str(tmp_path / "hf" / "hub") in note and "--clip-weights FILE" in note
    assert "\n" not in note and got["attempts"] == []


@pytest.mark.slow
def test_without_a_named_tag_the_network_is_never_touched(tmp_path: Path) -> None:
    got = _guarded(tmp_path, ["ViT-B-32", None, None, True], offline=False)
    assert "no CLIP weights given" in got["found"] and got["attempts"] == []
    got = _guarded(tmp_path, ["ViT-B-32", None, "laion2b_s34b_b79k", False], offline=False)
    assert "are not in" in got["found"] and got["attempts"] == []  # the cache only

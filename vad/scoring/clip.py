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
    "install open_clip_torch (pip install 'vad[clip]') and set VAD_CLIP_MODEL (e.g. ViT-B-32) "
    "with VAD_CLIP_WEIGHTS=/path/to/checkpoint, or VAD_CLIP_PRETRAINED=<tag> for weights "
    "already in open_clip's local cache"
)


class ClipUnavailable(Exception):
    """No CLIP model can be loaded here; the message says why and how to fix it."""


class ClipScorer:
    """Image and caption embeddings from an open_clip model, on the CPU or a GPU."""

    def __init__(
        self,
        model: str,
        weights: str | None = None,
        pretrained: str | None = None,
        config: str | Path | None = None,
        device: str | None = None,
        random_init: bool = False,
    ) -> None:
        # The local cache only, never a download; set before huggingface_hub is imported.
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            import open_clip
            import torch
        except ImportError as exc:
            raise ClipUnavailable(f"{exc.name} is not installed") from None
        if config is not None:
            open_clip.add_model_config(config)
        if weights is None and pretrained is None and not random_init:
            raise ClipUnavailable("no CLIP weights given")
        if weights is not None and not Path(weights).is_file():
            raise ClipUnavailable(f"{weights} does not exist")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                model, pretrained=weights or pretrained, device=self.device
            )
        except Exception as exc:  # unknown model, weights not cached, corrupt file
            raise ClipUnavailable(f"cannot load {model} ({type(exc).__name__}: {exc})") from None
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(model)
        self.name = f"{model}:{weights or pretrained or 'random-init'}"

    def embed_images(self, paths: list[Path], batch: int = 32) -> np.ndarray:
        import torch
        from PIL import Image

        out = []
        with torch.no_grad():
            for start in range(0, len(paths), batch):
                images = [self.preprocess(Image.open(p).convert("RGB"))
                          for p in paths[start:start + batch]]  # fmt: skip
                feats = self.model.encode_image(torch.stack(images).to(self.device))
                out.append(feats.float().cpu().numpy())
        return _normalise(np.concatenate(out)) if out else np.zeros((0, 0))

    def embed_texts(self, texts: list[str], batch: int = 256) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(texts), batch):
                tokens = self.tokenizer(texts[start : start + batch]).to(self.device)
                out.append(self.model.encode_text(tokens).float().cpu().numpy())
        return _normalise(np.concatenate(out)) if out else np.zeros((0, 0))


def unavailable(reason: str) -> str:
    """The note every CLIP cell points to when there is no scorer: why, and the fix."""
    return f"CLIP scores unavailable: {reason}; to enable, {HOW_TO}."


def clip_scorer(
    model: str | None = None, weights: str | None = None, pretrained: str | None = None
) -> ClipScorer | str:
    """The scorer that the arguments ask for (each defaulting to its VAD_CLIP_* variable),
    or the reason there is none."""
    if importlib.util.find_spec("open_clip") is None:
        return unavailable("open_clip_torch is not installed")
    model = model or os.environ.get("VAD_CLIP_MODEL", "ViT-B-32")
    weights = weights or os.environ.get("VAD_CLIP_WEIGHTS")
    pretrained = pretrained or os.environ.get("VAD_CLIP_PRETRAINED")
    try:
        return ClipScorer(model, weights, pretrained)
    except ClipUnavailable as exc:
        return unavailable(str(exc))


def scorer_from_env() -> ClipScorer | str:
    """The scorer the environment asks for, or the reason there is none."""
    return clip_scorer()


def clip_status() -> str:
    """'CLIP: <model>' or 'CLIP scores unavailable: <reason>; <how to fix>'."""
    scorer = scorer_from_env()
    return scorer if isinstance(scorer, str) else f"CLIP: {scorer.name}"


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

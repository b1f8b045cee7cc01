"""CLIP through open_clip: weights from a file, or fetched only when a tag is named.

Without a pretrained tag (``--clip-pretrained``, ``VAD_CLIP_PRETRAINED``) nothing here
touches the network: the weights come from a file or CLIP is unavailable. A named tag
is the user's opt-in: open_clip fetches its weights once (from the Hugging Face hub)
and keeps them in its cache; where that fails (offline) the reason names the tag, the
cache folder and the fix. Where no weights are available every CLIP-based number is
reported as unavailable, with the reason and how to provide them; no value is made up.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

RECOMMENDED = ("ViT-B-32", "laion2b_s34b_b79k")  # about 605 MB (151M float32 parameters)
HOW_TO = (
    "install open_clip_torch (pip install 'vad[clip]'), then give a checkpoint file "
    "(--clip-weights FILE or VAD_CLIP_WEIGHTS, with --clip-model / VAD_CLIP_MODEL, e.g. "
    "ViT-B-32), or name a pretrained tag (--clip-pretrained laion2b_s34b_b79k or "
    "VAD_CLIP_PRETRAINED) to let open_clip fetch it once with a network"
)


class ClipUnavailable(Exception):
    """No CLIP model can be loaded here; the message says why and how to fix it."""


def weights_cache(model: str, tag: str) -> Path:
    """The folder where open_clip keeps the weights of ``tag`` once fetched."""
    from open_clip.pretrained import get_pretrained_cfg, has_hf_hub

    if get_pretrained_cfg(model, tag).get("hf_hub") and has_hf_hub():
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    return Path("~/.cache/clip").expanduser()


def is_cached(model: str, tag: str) -> bool:
    """Whether open_clip's cache holds the weights of ``tag`` (looked up, never fetched)."""
    from open_clip.pretrained import get_pretrained_cfg, has_hf_hub

    cfg = get_pretrained_cfg(model, tag)
    if cfg.get("hf_hub") and has_hf_hub():
        from huggingface_hub import try_to_load_from_cache

        repo, name = os.path.split(cfg["hf_hub"])
        name = name or "open_clip_pytorch_model.bin"
        names = (name, name.rsplit(".", 1)[0] + ".safetensors", "open_clip_model.safetensors")
        return any(isinstance(try_to_load_from_cache(repo, n), str) for n in names)
    url = cfg.get("url") or ""
    return bool(url) and (weights_cache(model, tag) / os.path.basename(url)).is_file()


def _check_tag(model: str, tag: str) -> None:
    from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model

    if not get_pretrained_cfg(model, tag):
        tags = ", ".join(list_pretrained_tags_by_model(model)) or "none"
        raise ClipUnavailable(f"open_clip has no pretrained tag {tag!r} for {model} "
                              f"(its tags: {tags})")  # fmt: skip


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """open_clip's and the hub's log lines held back: the reason says it in one line."""
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@contextlib.contextmanager
def _offline(offline: bool) -> Iterator[None]:
    """Hugging Face hub requests refused (its offline mode) while ``offline``: a model
    config naming a hub tokenizer must not reach the network unasked."""
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = before or offline
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


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
        network: bool = True,
    ) -> None:
        """``network``: whether a named ``pretrained`` tag may be fetched (else: only from
        open_clip's cache). Without a tag nothing is ever fetched."""
        # Checked before importing torch and open_clip: they take seconds to import.
        if weights is None and pretrained is None and not random_init:
            raise ClipUnavailable("no CLIP weights given")
        if weights is not None and not Path(weights).is_file():
            raise ClipUnavailable(f"{weights} does not exist")
        try:
            import open_clip
            import torch
        except ImportError as exc:
            raise ClipUnavailable(f"{exc.name} is not installed") from None
        if config is not None:
            open_clip.add_model_config(config)
        if model.startswith("hf-hub:"):  # the model itself would come from the network
            raise ClipUnavailable(f"{model}: give an open_clip model name (e.g. ViT-B-32) with "
                                  "a checkpoint file or a pretrained tag")  # fmt: skip
        tag = pretrained if weights is None else None  # a tag named: the opt-in
        if tag is not None:
            _check_tag(model, tag)
        fetch = tag is not None and network
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if fetch and not is_cached(model, tag):  # type: ignore[arg-type]
            size = " (about 605 MB)" if (model, tag) == RECOMMENDED else ""
            print(f"fetching the CLIP weights {tag!r} of {model}{size} into "
                  f"{weights_cache(model, tag)}, once",  # type: ignore[arg-type]
                  file=sys.stderr, flush=True)  # fmt: skip
        try:
            with _offline(not fetch), _quiet():
                self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                    model, pretrained=weights or pretrained, device=self.device
                )
                self.tokenizer = open_clip.get_tokenizer(model)
        except Exception as exc:  # unknown model, weights not fetched (offline), corrupt file
            first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            if tag is not None:
                cache = weights_cache(model, tag)
                raise ClipUnavailable(
                    f"cannot fetch the CLIP weights {tag!r} of {model} (no network?); "
                    f"fetched once, they are kept in {cache}. Fix: give a checkpoint file "
                    "with --clip-weights FILE, or run once where the network is reachable"
                    if fetch else
                    f"the CLIP weights {tag!r} of {model} are not in {cache} yet. Fix: "
                    f"`vad leaderboard RUN --clip-pretrained {tag}` fetches them once with a "
                    "network, or give a checkpoint file with --clip-weights FILE"
                ) from None  # fmt: skip
            raise ClipUnavailable(f"cannot load {model} ({type(exc).__name__}: {first})") from None
        self.model.eval()
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
    if "Fix: " in reason:  # the reason names its own fix
        return f"CLIP scores unavailable: {reason}."
    return f"CLIP scores unavailable: {reason}; to enable, {HOW_TO}."


def clip_scorer(
    model: str | None = None,
    weights: str | None = None,
    pretrained: str | None = None,
    network: bool = True,
) -> ClipScorer | str:
    """The scorer that the arguments ask for (each defaulting to its VAD_CLIP_* variable),
    or the reason there is none. Only a named pretrained tag is ever fetched, and only
    with ``network``."""
    if importlib.util.find_spec("open_clip") is None:
        return unavailable("open_clip_torch is not installed")
    model = model or os.environ.get("VAD_CLIP_MODEL", "ViT-B-32")
    weights = weights or os.environ.get("VAD_CLIP_WEIGHTS")
    pretrained = pretrained or os.environ.get("VAD_CLIP_PRETRAINED")
    try:
        return ClipScorer(model, weights, pretrained, network=network)
    except ClipUnavailable as exc:
        return unavailable(str(exc))


def clip_status() -> str:
    """'CLIP: <model>' or 'CLIP scores unavailable: <reason>; <how to fix>', from the
    VAD_CLIP_* variables; weights are looked for, never fetched."""
    scorer = clip_scorer(network=False)
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

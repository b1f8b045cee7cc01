"""Score a frozen encoder on real photos: weighted kNN and a linear probe, top-1/top-5.

kNN follows the instance-discrimination protocol: cosine similarity to every training
feature, the k nearest vote with weight exp(similarity / T). The linear probe is a
multinomial logistic regression on standardised frozen features, fitted with L-BFGS.
A random-init encoder of the same architecture is scored alongside as the baseline
(:class:`EncoderComparison`): every encoder's kNN top-1 gain over it is paired over the
same test photos.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vad.errors import TrainError, VadError
from vad.train.augment import normalise
from vad.train.backbones import build_backbone
from vad.train.config import TrainConfig
from vad.train.data import ImageSet, load_images
from vad.train.trainer import load_checkpoint, not_a_checkpoint


@dataclass
class EvalData:
    train: ImageSet
    test: ImageSet


def default_photos() -> Path:
    """The offline real-photo set: $VAD_PHOTOS, else ../shared/data/cifar10 of the checkout
    (an installed package has no such default)."""
    from vad._paths import checkout

    if os.environ.get("VAD_PHOTOS"):
        return Path(os.environ["VAD_PHOTOS"])
    root = checkout()
    if root is None:
        raise TrainError(
            "no real photos: set VAD_PHOTOS to a folder with train/ and test/ ImageFolders, "
            "or give the folders (vad eval --train/--test, vad pretrain-report --photos or "
            "--eval); the default beside a checkout does not exist for an installed package"
        )
    return root.parent / "shared" / "data" / "cifar10"


def load_eval_data(
    train: str | Path,
    test: str | Path,
    size: int,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    seed: int = 0,
) -> EvalData:
    tr = load_images(train, size, train_per_class, seed)
    te = load_images(test, size, test_per_class, seed)
    if tr.classes != te.classes:
        raise TrainError(
            f"train and test folders have different classes: {tr.classes} vs {te.classes}"
        )
    return EvalData(tr, te)


def load_encoder(ckpt: str | Path, device: str = "cpu") -> tuple[nn.Module, TrainConfig]:
    """The trained backbone of a checkpoint, with the config it was trained under."""
    saved = load_checkpoint(ckpt, device)
    try:
        cfg = TrainConfig.from_dict(saved["config"])
        backbone, _ = build_backbone(cfg.arch, cfg.image_size, cfg.stem, cfg.device)
        prefix = "backbone."
        state = {k[len(prefix) :]: v for k, v in saved["model"].items() if k.startswith(prefix)}
        backbone.load_state_dict(state)
    except (VadError, AttributeError, TypeError, ValueError, RuntimeError) as exc:
        what = " ".join(str(exc).split())[:200] or repr(exc)
        raise not_a_checkpoint(ckpt, f"its config and weights build no encoder: {what}") from None
    return backbone, cfg


def random_encoder(cfg: TrainConfig) -> nn.Module:
    """The untrained backbone a run starts from (same seed, same architecture and stem)."""
    torch.manual_seed(cfg.seed)
    return build_backbone(cfg.arch, cfg.image_size, cfg.stem, cfg.device)[0]


@torch.no_grad()
def encode(backbone: nn.Module, images: np.ndarray, batch: int = 256) -> torch.Tensor:
    """L2-normalised features (N, D) of uint8 images (N, H, W, 3), in eval mode, on CPU."""
    device = next(backbone.parameters()).device
    backbone.eval()
    feats = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(np.array(images[start : start + batch])).to(device)  # a copy
        feats.append(F.normalize(backbone(normalise(x.permute(0, 3, 1, 2))).float(), dim=1).cpu())
    return torch.cat(feats)


def _topk(scores: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    k = min(k, scores.shape[1])
    hit = (scores.topk(k, dim=1).indices == labels[:, None]).any(dim=1)
    return float(hit.float().mean())


def knn_scores(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    test_f: torch.Tensor,
    classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk: int = 1024,
) -> torch.Tensor:
    """Class scores (N_test, C) from the k nearest training features."""
    out = []
    k = min(k, train_f.shape[0])
    for start in range(0, test_f.shape[0], chunk):
        sim = test_f[start : start + chunk] @ train_f.T
        top, index = sim.topk(k, dim=1)
        weights = (top / temperature).exp()
        votes = torch.zeros(sim.shape[0], classes)
        votes.scatter_add_(1, train_y[index], weights)
        out.append(votes)
    return torch.cat(out)


def linear_probe_scores(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    test_f: torch.Tensor,
    classes: int,
    weight_decay: float = 1e-4,
    steps: int = 200,
) -> torch.Tensor:
    """Logits (N_test, C) of a logistic regression fitted on the training features."""
    mean, std = train_f.mean(0), train_f.std(0) + 1e-6
    xs, xt = (train_f - mean) / std, (test_f - mean) / std
    torch.manual_seed(0)
    probe = nn.Linear(xs.shape[1], classes)
    opt = torch.optim.LBFGS(
        probe.parameters(), lr=1, max_iter=steps, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(probe(xs), train_y) + weight_decay * probe.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return probe(xt)


def score_encoder(
    backbone: nn.Module, data: EvalData, k: int = 200, probe: bool = True
) -> dict[str, Any]:
    """kNN (and linear-probe) top-1/top-5 of ``backbone`` on ``data``, in percent.

    ``knn_hits`` holds the per-test-image kNN top-1 outcome (for paired comparisons)."""
    train_f, test_f = encode(backbone, data.train.images), encode(backbone, data.test.images)
    train_y, test_y = torch.from_numpy(data.train.labels), torch.from_numpy(data.test.labels)
    classes = len(data.train.classes)
    knn = knn_scores(train_f, train_y, test_f, classes, k=k)
    hits = (knn.argmax(1) == test_y).numpy()
    result = {
        "knn_top1": 100 * _topk(knn, test_y, 1),
        "knn_top5": 100 * _topk(knn, test_y, 5),
        "knn_hits": hits,
    }
    if probe:
        logits = linear_probe_scores(train_f, train_y, test_f, classes)
        result["linear_top1"] = 100 * _topk(logits, test_y, 1)
        result["linear_top5"] = 100 * _topk(logits, test_y, 5)
    return result


def paired_gain(hits: np.ndarray, baseline_hits: np.ndarray) -> dict[str, float]:
    """Top-1 gain over a baseline on the same test images, in points, with a bootstrap 95%
    confidence interval over test images."""
    from vad.scoring.stats import bootstrap_mean

    est = bootstrap_mean((hits.astype(float) - baseline_hits.astype(float)).tolist())
    return {"gain": 100 * est.mean, "low": 100 * est.low, "high": 100 * est.high}


def gain_text(gain: dict[str, float]) -> str:
    """kNN top-1 gain over random init: points with the bootstrap 95% interval."""
    return f"{gain['gain']:+.1f} [{gain['low']:+.1f}, {gain['high']:+.1f}]"


class EncoderComparison:
    """Encoders scored against the random init of one config, on one or more evaluation sets.

    The random-init encoder (:func:`random_encoder`) is scored first, into ``baseline``;
    :meth:`score` then scores an encoder on the same sets and pairs its kNN top-1 outcomes
    with the baseline's over the same test photos. The first set gives the full score
    under plain keys (``knn_top1``, ``knn_top5``, with ``probe`` ``linear_top1`` and
    ``linear_top5``, and for a scored encoder ``knn_gain`` as text and ``knn_gain_ci`` as
    numbers); each further set NAME adds ``knn_top1 NAME`` (and ``knn_gain NAME``,
    ``knn_gain_ci NAME``).
    """

    def __init__(
        self, sets: dict[str, EvalData], cfg: TrainConfig, k: int = 200, probe: bool = True
    ) -> None:
        if not sets:
            raise TrainError("no evaluation set to compare encoders on: give at least one")
        self.sets, self.k, self.probe = sets, k, probe
        self.first = next(iter(sets))
        random_init = random_encoder(cfg)
        self.baseline: dict[str, Any] = {}
        self._baseline_hits: dict[str, np.ndarray] = {}
        for name in sets:
            scores, self._baseline_hits[name] = self._scores_on(name, random_init)
            self.baseline.update(scores)

    def score(self, encoder: nn.Module) -> dict[str, Any]:
        """Scores of ``encoder`` on every set, each with its paired gain over random init."""
        row: dict[str, Any] = {}
        for name in self.sets:
            scores, hits = self._scores_on(name, encoder)
            gain = paired_gain(hits, self._baseline_hits[name])
            suffix = "" if name == self.first else f" {name}"
            row.update(scores)
            row[f"knn_gain{suffix}"] = gain_text(gain)
            row[f"knn_gain_ci{suffix}"] = gain
        return row

    def _scores_on(self, name: str, encoder: nn.Module) -> tuple[dict[str, Any], np.ndarray]:
        """Scores of ``encoder`` on set ``name``, keyed as in a row, and its per-test-image
        kNN top-1 outcomes."""
        first = name == self.first
        scores = score_encoder(encoder, self.sets[name], self.k, probe=self.probe and first)
        hits = scores.pop("knn_hits")
        return (scores if first else {f"knn_top1 {name}": scores["knn_top1"]}), hits

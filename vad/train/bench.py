"""`vad bench train`: training throughput per stage, measured in one run.

For each image size: the bare backbone (forward + backward of 2 x batch random float
images, no data, no augmentation, no head: the ceiling), augmentation alone, and the full pipeline
(uint8 batch gathered from an in-memory dataset, two augmented views, projection head,
contrastive loss, backward, SGD step). The full pipeline runs two views per image, so it
is compared with the bare backbone in views/s: the ratio is the share of the ceiling
that the pipeline keeps (the input pipeline is not the bottleneck when it is near 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from vad.train.augment import augment, sample_params
from vad.train.backbones import build_backbone
from vad.train.config import TrainConfig
from vad.train.trainer import augment_config, build_model


def _time(fn: Callable[[], object], steps: int, sync: Callable[[], None]) -> float:
    fn()  # warm-up (allocations, cuDNN autotune)
    fn()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - start) / steps


def _bench_size(arch: str, size: int, batch: int, steps: int, dev: torch.device) -> dict[str, Any]:
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else nullcontext
    fmt = torch.channels_last if cuda else torch.contiguous_format
    cfg = TrainConfig(data="-", arch=arch, image_size=size, device=str(dev.type)).resolved()
    backbone = build_backbone(arch, size, cfg.stem)[0].to(dev, memory_format=fmt)
    # the same images per backbone call as the full pipeline (two views of ``batch``)
    x = torch.randn(2 * batch, 3, size, size, device=dev).contiguous(memory_format=fmt)
    opt = torch.optim.SGD(backbone.parameters(), lr=0.01)

    def bare() -> None:
        with autocast():
            loss = backbone(x).float().square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, (max(4 * batch, 1024), size, size, 3), dtype=np.uint8)
    images = torch.from_numpy(pool).to(dev)
    aug = augment_config(cfg)
    model = build_model(cfg).to(dev, memory_format=fmt)
    mopt = torch.optim.SGD(model.parameters(), lr=0.01)
    step = [0]

    def views() -> list[torch.Tensor]:
        step[0] += 1
        idx = torch.randint(0, len(images), (batch,), device=dev)
        xb = images[idx].permute(0, 3, 1, 2)
        out = []
        for v in (0, 1):
            p = sample_params(batch, aug, torch.Generator().manual_seed(2 * step[0] + v))
            out.append(augment(xb, p, aug).contiguous(memory_format=fmt))
        return out

    def full() -> None:
        v1, v2 = views()
        with autocast():
            loss = model(v1, v2)
        mopt.zero_grad(set_to_none=True)
        loss.backward()
        mopt.step()

    t_bare = _time(bare, steps, sync)
    t_aug = _time(views, steps, sync)
    t_full = _time(full, steps, sync)
    return {
        "device": torch.cuda.get_device_name(dev) if cuda else f"cpu x{torch.get_num_threads()}",
        "arch": f"{arch} ({cfg.stem} stem)" if arch.startswith("resnet") else arch,
        "size": size,
        "batch": batch,
        "bare_img_s": 2 * batch / t_bare,
        "augment_img_s": batch / t_aug,
        "full_img_s": batch / t_full,
        "full_views_s": 2 * batch / t_full,
        "ratio": t_bare / t_full,
    }


def train_benchmark(
    arch: str, sizes: list[int], batch: int, steps: int, device: str = "auto"
) -> list[dict[str, Any]]:
    """Images/s of each stage at each size (rows for ``format_bench``)."""
    dev = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
    rows = []
    for size in sizes:
        rows.append(_bench_size(arch, size, batch, steps, dev))
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def format_bench(rows: list[dict[str, Any]]) -> str:
    head = (
        "| device | backbone | px | batch | bare fwd+bwd img/s | augment img/s "
        "| full pipeline img/s | full views/s | views/s ÷ bare |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]

    def n(v: float) -> str:
        return f"{v:.1f}" if v < 10 else f"{v:.0f}"

    for r in rows:
        lines.append(
            f"| {r['device']} | {r['arch']} | {r['size']} | {r['batch']} | {n(r['bare_img_s'])} "
            f"| {n(r['augment_img_s'])} | {n(r['full_img_s'])} | {n(r['full_views_s'])} "
            f"| {r['ratio']:.2f} |"
        )
    return "\n".join(lines)

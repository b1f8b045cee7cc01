"""The pretraining loop, top to bottom: the same command on a CPU, one GPU or N GPUs.

Launch with ``vad train`` or ``torchrun --nproc-per-node N -m vad train``. Each epoch
visits a seeded permutation of the images; a global batch is cut into equal rank slices,
and the augmentations are drawn for the global batch, so N processes compute what one
process would. Checkpoints (``last.pt``, with the config, optimiser, step and history)
are written atomically at every epoch end; a run started again with the same ``--out``
resumes at the step after the last checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.torch_version import TorchVersion
from tqdm import tqdm

from vad.errors import TrainError
from vad.rundir import now_iso
from vad.train.augment import AugmentConfig, augment, sample_params
from vad.train.backbones import build_backbone
from vad.train.config import TrainConfig
from vad.train.data import load_images
from vad.train.methods import METHODS
from vad.train.remedies import BANK_SIZE, dead_leaves, draw_params, mix, over_textures

EvalHook = Callable[[torch.nn.Module, int], dict[str, Any]]
CHECKPOINT = "last.pt"
# The remedies draw from their own seeds, far above the views' (seed * 1_000_003 + 2 * step
# + view), so no step's remedy draw repeats another step's view draw.
REMEDY_SEEDS = 2**62


def build_model(cfg: TrainConfig) -> torch.nn.Module:
    """The method module (backbone + head + loss), initialised from ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    backbone, dim = build_backbone(cfg.arch, cfg.image_size, cfg.stem, cfg.device)
    return METHODS.get(cfg.method)(
        backbone,
        dim,
        cfg.proj_hidden,
        cfg.proj_dim,
        temperature=cfg.temperature,
        momentum=cfg.moco_momentum,
        queue_size=cfg.queue_size,
    )


def augment_config(cfg: TrainConfig) -> AugmentConfig:
    blur = cfg.blur if cfg.blur >= 0 else (0.5 if cfg.image_size >= 64 else 0.0)
    return AugmentConfig(size=cfg.image_size, blur=blur)


def _setup() -> tuple[int, int, int]:
    """(rank, world, local rank) from torchrun's environment; starts the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise TrainError("--device cuda asked for, but torch sees no GPU: use --device cpu")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def lr_at(cfg: TrainConfig, step: int, total: int, steps_per_epoch: int) -> float:
    """Linear warmup, then cosine decay to zero; the base rate scales with the batch."""
    peak = cfg.lr * cfg.batch_size / 256
    warmup = min(int(cfg.warmup_epochs * steps_per_epoch), total // 10)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


EVAL_KEYS = ("config", "model")  # what scoring an encoder needs
RESUME_KEYS = (*EVAL_KEYS, "optimizer", "step", "history")
EVAL_FIX = f"pass a file written by `vad train` (OUT/{CHECKPOINT})"
_MAGIC = (b"PK\x03\x04", b"\x80")  # torch.save's zip archive, or its legacy pickle


def not_a_checkpoint(path: str | Path, what: str, fix: str = EVAL_FIX) -> TrainError:
    """The one-line error for a file that is not a checkpoint of `vad train`."""
    return TrainError(f"{path} is not a vad checkpoint ({what}); {fix}")


def _torch_error(exc: Exception) -> str:
    """What torch.load's (long, multi-line) complaint comes down to."""
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return f"it pickles a {found.group(1)} object, which a checkpoint never holds"
    detail = re.search(r"WeightsUnpickler error: (.+)", text)
    lines = [line for line in text.splitlines() if line.strip()]
    first = detail.group(1) if detail else (lines[0] if lines else "")
    return f"not a PyTorch file torch can read: {type(exc).__name__}: {first.strip()[:120]}"


def _read_checkpoint(path: Path, device: str | torch.device, fix: str) -> Any:
    """What ``path`` holds, loaded as weights only (tensors and plain data, no code)."""
    if not path.exists():
        raise TrainError(f"no checkpoint at {path}: train one with `vad train --out DIR`")
    if path.is_dir():
        inner = path / CHECKPOINT
        raise not_a_checkpoint(path, "a folder", f"pass {inner}" if inner.is_file() else fix)
    if not path.is_file():
        raise not_a_checkpoint(path, "not a regular file", fix)
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise TrainError(f"cannot read checkpoint {path} ({exc.strerror}): check it") from None
    if not head:
        raise not_a_checkpoint(path, "an empty file", fix)
    if not head.startswith(_MAGIC):
        raise not_a_checkpoint(path, f"not a PyTorch file: it starts with {head!r}", fix)
    try:
        with torch.serialization.safe_globals([TorchVersion]):  # older checkpoints hold one
            return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises anything from KeyError to RuntimeError here
        raise not_a_checkpoint(path, _torch_error(exc), fix) from None


def load_checkpoint(
    path: str | Path,
    device: str | torch.device = "cpu",
    keys: tuple[str, ...] = EVAL_KEYS,
    fix: str = EVAL_FIX,
) -> dict[str, Any]:
    """A checkpoint written by :func:`train`, checked to hold ``keys``; anything else
    raises a TrainError that names the file, what it is instead, and ``fix``."""
    saved = _read_checkpoint(Path(path), device, fix)
    if not isinstance(saved, dict):
        kind = type(saved).__name__
        raise not_a_checkpoint(path, f"a PyTorch file holding a {kind}, not a dict", fix)
    missing = [key for key in keys if key not in saved]
    if missing:
        names = ", ".join(repr(key) for key in missing)
        raise not_a_checkpoint(path, f"a PyTorch dict without {names}", fix)
    for key in ("config", "model"):
        if not isinstance(saved[key], dict):
            kind = type(saved[key]).__name__
            raise not_a_checkpoint(path, f"its {key!r} is a {kind}, not a dict", fix)
    return saved


def train(cfg: TrainConfig, eval_hook: EvalHook | None = None) -> Path:
    """Pretrain per ``cfg``; returns the checkpoint path (``<out>/last.pt``).

    ``cfg`` is left as given: the run uses, checkpoints and resumes against
    ``cfg.resolved()``, whose stem is the effective one (``auto`` resolved), so a run
    started with ``--stem auto`` resumes a checkpoint that recorded the stem it built."""
    cfg.check()
    cfg = cfg.resolved()
    rank, world, local_rank = _setup()
    device = _device(cfg, local_rank)
    torch.set_num_threads(cfg.num_threads or max(1, (os.cpu_count() or 1) // world))
    if cfg.batch_size % world:
        raise TrainError(f"batch size {cfg.batch_size} does not split over {world} processes")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    if world > 1 and rank != 0:
        dist.barrier()  # rank 0 decodes the folder into the cache first
    data = load_images(cfg.data, cfg.image_size, cfg.per_class, cfg.seed)
    if world > 1 and rank == 0:
        dist.barrier()
    if cfg.max_images and len(data) > cfg.max_images:
        keep = np.sort(
            np.random.default_rng(cfg.seed).choice(len(data), cfg.max_images, replace=False)
        )
        data.images, data.labels = data.images[keep], data.labels[keep]
    steps_per_epoch = len(data) // cfg.batch_size
    if steps_per_epoch == 0:
        raise TrainError(
            f"{len(data)} images is less than one batch of {cfg.batch_size}: "
            "lower --batch-size or export more images"
        )
    total = steps_per_epoch * cfg.epochs
    cuda = device.type == "cuda"
    images = torch.from_numpy(np.array(data.images)) if cuda else data.images
    if cuda and images.numel() < 0.25 * torch.cuda.mem_get_info(device)[0]:
        images = images.to(device)  # the whole set lives on the GPU: loading is a gather

    model = build_model(cfg).to(device)
    if cuda and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim > 1]  # no weight decay on biases and norms
    no_decay = [p for p in trainable if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0},
        ],
        lr=cfg.lr,
        momentum=cfg.momentum,
    )
    step, history = 0, []
    ckpt_path = out / CHECKPOINT
    if ckpt_path.is_file():
        fix = "move it aside to start afresh, or use another --out"
        saved = load_checkpoint(ckpt_path, device, RESUME_KEYS, fix)
        conflicts = cfg.resume_conflicts(saved["config"])
        if conflicts:
            raise TrainError(
                f"{ckpt_path} was trained with other settings ({', '.join(conflicts)}): "
                "use another --out, or the same settings to resume"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        step, history = saved["step"], saved["history"]
    if cuda:
        torch.backends.cudnn.benchmark = True
    if world > 1 and cuda and cfg.method == "simclr":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # SimCLR's global BN
    ddp = model
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if cuda else None, forward_sync_buffers=False
        )
    aug = augment_config(cfg)
    local = cfg.batch_size // world
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda and cfg.bf16 else nullcontext()
    bar = tqdm(total=total, initial=step, unit="step", disable=not cfg.progress or rank != 0)

    def save(epoch_done: int) -> None:
        if rank == 0:
            _save(
                ckpt_path,
                {
                    "config": cfg.to_dict(),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "epoch": epoch_done,
                    "history": history,
                    "images": len(data),
                    "saved_at": now_iso(),
                    "torch": str(torch.__version__),  # plain text: weights-only loads it
                },
            )

    session_start, first_step = time.monotonic(), step

    def session_over() -> bool:
        over = bool(cfg.session_steps) and step - first_step >= cfg.session_steps
        if cfg.session_minutes:
            over = over or time.monotonic() - session_start > 60 * cfg.session_minutes
            if world > 1:  # every rank stops at the same step
                flag = torch.tensor(float(over), device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                over = bool(flag)
        return over

    def gather(index: torch.Tensor) -> torch.Tensor:
        """Images ``index`` of the set, uint8 NCHW on the training device."""
        if isinstance(images, torch.Tensor):
            x = images[index.to(images.device)]
        else:
            idx = index.numpy()
            x = torch.from_numpy(images[np.sort(idx)][np.argsort(np.argsort(idx))])
        return x.to(device, non_blocking=True).permute(0, 3, 1, 2)

    remedies = cfg.backgrounds > 0 or cfg.mixup > 0
    bank = dead_leaves(BANK_SIZE, cfg.image_size, cfg.seed, device) if cfg.backgrounds > 0 else None

    stop = False
    while step < total and not stop:
        epoch, offset = divmod(step, steps_per_epoch)
        order = torch.randperm(
            len(data), generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        )
        losses, seen, started = [], 0, time.perf_counter()
        model.train()
        for i in range(offset, steps_per_epoch):
            batch = order[i * cfg.batch_size : (i + 1) * cfg.batch_size][
                rank * local : (rank + 1) * local
            ]
            x = gather(batch)
            if remedies:
                gen = torch.Generator().manual_seed(REMEDY_SEEDS + cfg.seed * 1_000_003 + step)
                r = draw_params(cfg.batch_size, cfg.backgrounds, cfg.mixup, gen, len(data))
                r = {k: t[rank * local : (rank + 1) * local] for k, t in r.items()}
                x = x.float() / 255
                x = over_textures(x, bank, r["bg"], r["texture"])
                if bool(r["mix"].any()):
                    other = over_textures(
                        gather(r["partner"]).float() / 255, bank, r["bg"], r["texture"]
                    )
                    x = mix(x, other, r["mix"].to(device), r["lam"].to(device))
            views = []
            for v in (0, 1):
                gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 2 * step + v)
                p = sample_params(cfg.batch_size, aug, gen)
                p = {k: t[rank * local : (rank + 1) * local] for k, t in p.items()}
                view = augment(x, p, aug)
                views.append(view.contiguous(memory_format=torch.channels_last) if cuda else view)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(cfg, step, total, steps_per_epoch)
            with autocast:
                loss = ddp(*views)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            losses.append(loss.detach())
            seen += cfg.batch_size
            if cfg.progress and rank == 0 and (step % 5 == 0 or i == steps_per_epoch - 1):
                rate = seen / (time.perf_counter() - started)
                bar.set_postfix(epoch=epoch + 1, loss=f"{float(loss):.3f}", img_s=f"{rate:.0f}")
            bar.update(1)
            stop = session_over()
            if i < steps_per_epoch - 1 and (
                stop or (cfg.save_every and step % cfg.save_every == 0)
            ):
                save(epoch)
            if stop:
                break
        if i < steps_per_epoch - 1:  # the session ended mid-epoch
            break
        elapsed = time.perf_counter() - started
        entry: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": step,
            "loss": float(torch.stack(losses).float().mean()) if losses else float("nan"),
            "images_per_s": seen / elapsed if elapsed else 0.0,
            "seconds": elapsed,
        }
        if eval_hook and cfg.eval_every and (epoch + 1) % cfg.eval_every == 0 and rank == 0:
            entry.update(eval_hook(model.backbone, epoch + 1))
        history.append(entry)
        save(epoch + 1)
        if rank == 0:
            with (out / "metrics.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
    bar.close()
    if step < total and rank == 0:
        print(
            f"session limit reached at step {step} of {total}: run the same command to continue",
            file=sys.stderr,
        )
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return ckpt_path

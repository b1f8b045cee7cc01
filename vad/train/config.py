"""What a pretraining run is: one dataclass, stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from vad.errors import TrainError

# Fields that do not change what is learned: a checkpoint resumes under other values of
# these, and only these. (``epochs`` may grow: the cosine schedule follows the new length.)
_RESUMABLE_CHANGES = {
    "session_steps",
    "session_minutes",
    "out",
    "epochs",
    "device",
    "progress",
    "num_threads",
    "eval_every",
    "save_every",
}


@dataclass
class TrainConfig:
    data: str = ""
    out: str = ""
    method: str = "simclr"  # simclr | moco
    arch: str = "resnet18"
    stem: str = "auto"
    image_size: int = 32
    epochs: int = 10
    batch_size: int = 256  # global, over every rank
    lr: float = 0.06  # per 256 images (scaled linearly with the batch)
    weight_decay: float = 5e-4
    momentum: float = 0.9
    warmup_epochs: float = 1.0  # linear warmup (at most 10% of the steps), then cosine
    temperature: float = 0.2
    proj_hidden: int = 2048
    proj_dim: int = 128
    queue_size: int = 4096  # MoCo negatives (65536 in the paper, for ImageNet)
    moco_momentum: float = 0.99
    blur: float = -1.0  # blur probability; -1: 0.5 at >= 64 px, else 0 (as for CIFAR)
    backgrounds: float = 0.0  # share of images put over a dead-leaves texture (remedies.py)
    mixup: float = 0.0  # share of images blended with another image of the set
    per_class: int | None = None  # cap images per class of the training folder
    max_images: int | None = None  # then at most N images in all (a seeded subset)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # autocast on CUDA
    channels_last: bool = True  # on CUDA
    num_threads: int = 0  # CPU threads for torch (0: all cores / local ranks)
    save_every: int = 0  # also checkpoint every N steps (0: at epoch ends only)
    session_steps: int = 0  # stop after N steps in this session, checkpointed (0: no limit)
    session_minutes: float = 0.0  # stop after N minutes in this session, checkpointed
    eval_every: int = 0  # kNN on the eval folders every N epochs (0: never)
    progress: bool = True

    def check(self) -> None:
        if not self.data:
            raise TrainError("no training data: pass --data DIR (an ImageFolder or an export)")
        self.check_settings()

    def check_settings(self) -> None:
        """Everything but the data: what a command checks before any work."""
        if self.method not in ("simclr", "moco"):
            raise TrainError(f"unknown method {self.method!r}: choose simclr or moco")
        if self.device not in ("auto", "cpu", "cuda"):
            raise TrainError(f"--device {self.device!r}: choose auto, cpu or cuda")
        for name in ("backgrounds", "mixup"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise TrainError(f"--{name} = {value}: give a share of images from 0 to 1")
        if self.batch_size < 2 or self.epochs < 1 or self.image_size < 8:
            raise TrainError("batch size must be >= 2, epochs >= 1 and image size >= 8")

    def resolved(self) -> TrainConfig:
        """A copy whose ``stem`` is the one the backbone is built with (``auto`` resolved
        for this arch, image size and device by :func:`vad.train.backbones.resolve_stem`):
        the config a checkpoint records. ``self`` is left as given."""
        from vad.train.backbones import resolve_stem

        return replace(self, stem=resolve_stem(self.arch, self.image_size, self.stem, self.device))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def resume_conflicts(self, saved: dict[str, Any]) -> list[str]:
        """Fields that differ from a checkpoint's config and would change the result."""
        mine = self.to_dict()
        return sorted(
            k
            for k, v in saved.items()
            if k in mine and k not in _RESUMABLE_CHANGES and mine[k] != v
        )


# The training every row of a report shares: TrainConfig's fields, with these defaults
# of the report's own (shorter, smaller batches, a kNN point every epoch); the flags of
# `vad pretrain-report` are made from TrainConfig for the fields named here.
REPORT_DEFAULTS: dict[str, Any] = {"epochs": 8, "batch_size": 128, "eval_every": 1}
REPORT_FIELDS = ("method", "arch", "stem", "image_size", "epochs", "batch_size", "device",
                 "seed", "eval_every")  # fmt: skip


def report_training(**given: Any) -> TrainConfig:
    """The report's training settings: TrainConfig, the report's defaults, then ``given``."""
    return TrainConfig(**{**REPORT_DEFAULTS, **given})

"""Encoders from torchvision, registered by name; each returns (module, feature width).

ResNets take a ``stem``: ``imagenet`` (7x7/2 conv + max-pool, the torchvision default),
``cifar`` (3x3/1 conv, no pool: the usual choice for 32-64 px images, 16x the compute)
or ``auto`` (cifar on a GPU at <= 64 px, else imagenet: :func:`resolve_stem`, the one
place that rule lives). The ViTs use a small patch (4 px up to
64 px images, 16 px above), so a 32 px image is an 8x8 grid of tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from vad.errors import TrainError
from vad.registry import Registry

Builder = Callable[[int, str], tuple[nn.Module, int]]
BACKBONES: Registry[Builder] = Registry("no backbone {name}: choose from {choices}")


def _resnet(name: str) -> Builder:
    def build(image_size: int, stem: str) -> tuple[nn.Module, int]:
        import torchvision

        model = getattr(torchvision.models, name)(weights=None)
        if stem == "cifar":
            model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            model.maxpool = nn.Identity()
        elif stem != "imagenet":
            raise TrainError(f"unknown stem {stem!r}: choose auto, cifar or imagenet")
        dim = model.fc.in_features
        model.fc = nn.Identity()
        return model, dim

    return build


def _vit(layers: int, heads: int, dim: int) -> Builder:
    def build(image_size: int, stem: str) -> tuple[nn.Module, int]:
        from torchvision.models.vision_transformer import VisionTransformer

        patch = 4 if image_size <= 64 else 16
        if image_size % patch:
            raise TrainError(f"a ViT needs an image size divisible by its patch ({patch} px)")
        model = VisionTransformer(
            image_size=image_size,
            patch_size=patch,
            num_layers=layers,
            num_heads=heads,
            hidden_dim=dim,
            mlp_dim=4 * dim,
        )
        model.heads = nn.Identity()
        return model, dim

    return build


for _name in ("resnet18", "resnet34", "resnet50"):
    BACKBONES.register(_name)(_resnet(_name))
BACKBONES.register("vit_tiny")(_vit(12, 3, 192))
BACKBONES.register("vit_small")(_vit(12, 6, 384))
BACKBONES.register("vit_micro")(_vit(2, 2, 32))  # for tests and smoke runs


def resolve_stem(arch: str, image_size: int, stem: str, device: str = "auto") -> str:
    """The stem a backbone is built with: for a ResNet, ``auto`` becomes the CIFAR stem on a
    GPU (``device`` not ``cpu`` and CUDA available) at <= 64 px, else the ImageNet stem (on
    a CPU the CIFAR stem costs 16x the compute at 32 px). Any other stem, and every stem of
    a ViT (which has none), is returned as given."""
    if stem != "auto" or not arch.startswith("resnet"):
        return stem
    on_gpu = device != "cpu" and torch.cuda.is_available()
    return "cifar" if on_gpu and image_size <= 64 else "imagenet"


def build_backbone(
    arch: str, image_size: int, stem: str = "auto", device: str = "auto"
) -> tuple[nn.Module, int]:
    """An untrained encoder whose forward gives (N, dim) features, with the stem that
    :func:`resolve_stem` makes of ``stem`` for ``device``."""
    return BACKBONES.get(arch)(image_size, resolve_stem(arch, image_size, stem, device))

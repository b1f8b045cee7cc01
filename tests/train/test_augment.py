"""Batched augmentations: each operation does what it says, and randomness is reproducible."""

from __future__ import annotations

import torch

from vad.train.augment import AugmentConfig, augment, normalise, sample_params


def _identity(n: int) -> dict[str, torch.Tensor]:
    one, zero = torch.ones(n), torch.zeros(n)
    return {
        "w": one,
        "h": one,
        "cx": zero,
        "cy": zero,
        "flip": zero,
        "jitter": zero,
        "b": one,
        "c": one,
        "s": one,
        "h_shift": zero,
        "grey": zero,
        "blur": zero,
        "sigma": one,
    }


def _images(n: int = 4, size: int = 16) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)


def test_identity_parameters_return_the_normalised_input() -> None:
    x = _images()
    out = augment(x, _identity(4), AugmentConfig(size=16))
    assert torch.allclose(out, normalise(x), atol=1e-4)


def test_flip_grey_and_crop_do_what_they_say() -> None:
    x, cfg = _images(), AugmentConfig(size=16, blur=0)
    p = _identity(4)
    p["flip"] = torch.tensor([1.0, 0, 0, 0])
    flipped = augment(x, p, cfg)
    assert torch.allclose(flipped[0], normalise(x)[0].flip(-1), atol=1e-4)
    assert torch.allclose(flipped[1:], normalise(x)[1:], atol=1e-4)

    p = _identity(4)
    p["grey"] = torch.ones(4)
    raw = (
        augment(x, p, cfg) * torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        + torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    )
    assert torch.allclose(raw[:, 0], raw[:, 1], atol=1e-4)

    p = _identity(4)
    p["w"], p["h"] = torch.full((4,), 0.5), torch.full((4,), 0.5)  # the centre half, upscaled
    centre = augment(x, p, cfg)
    assert centre.shape == (4, 3, 16, 16)
    assert not torch.allclose(centre, normalise(x), atol=1e-2)


def test_hue_shift_of_a_full_turn_is_the_identity_and_half_a_turn_is_not() -> None:
    x, cfg = _images(), AugmentConfig(size=16, blur=0)
    p = _identity(4)
    p["jitter"], p["h_shift"] = torch.ones(4), torch.ones(4)
    assert torch.allclose(augment(x, p, cfg), normalise(x), atol=1e-3)
    p["h_shift"] = torch.full((4,), 0.5)
    assert not torch.allclose(augment(x, p, cfg), normalise(x), atol=1e-2)


def test_blur_smooths_and_the_same_seed_gives_the_same_views() -> None:
    x, cfg = _images(size=32), AugmentConfig(size=32, blur=1.0)
    p = _identity(4)
    p["blur"], p["sigma"] = torch.ones(4), torch.full((4,), 14.0)  # ~2 px at 32 px
    blurred = augment(x, p, cfg)
    assert blurred.diff(dim=-1).abs().mean() < 0.5 * normalise(x).diff(dim=-1).abs().mean()

    a = sample_params(8, cfg, torch.Generator().manual_seed(5))
    b = sample_params(8, cfg, torch.Generator().manual_seed(5))
    x8 = _images(8, 32)
    assert torch.equal(augment(x8, a, cfg), augment(x8, b, cfg))
    assert (a["w"] <= 1).all() and (a["w"] * a["h"] >= 0.2 * 0.74).all()

"""Contrastive views made in batches on the training device (the MoCo v2 / SimCLR recipe).

Random resized crop with flip, colour jitter (brightness, contrast, saturation, hue),
random greyscale and Gaussian blur, then normalisation. All randomness is drawn up front
for the *global* batch from a CPU generator seeded by (seed, step, view), so a rank of a
DDP run applies exactly the augmentations that a single process would apply to the same
images. The image work itself is a handful of batched tensor ops (grid_sample, grouped
convolutions), so on a GPU it costs little next to the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class AugmentConfig:
    size: int = 32
    scale: tuple[float, float] = (0.2, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    jitter: float = 0.8  # probability of colour jitter
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grey: float = 0.2
    blur: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # at 224 px; scaled with the image size


def sample_params(n: int, cfg: AugmentConfig, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random parameters for ``n`` views, from ``gen`` (CPU)."""

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    area = u(*cfg.scale)
    log_ratio = u(math.log(cfg.ratio[0]), math.log(cfg.ratio[1]))
    ratio = torch.exp(log_ratio)
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    return {
        "w": w,
        "h": h,
        "cx": (torch.rand(n, generator=gen) * 2 - 1) * (1 - w),
        "cy": (torch.rand(n, generator=gen) * 2 - 1) * (1 - h),
        "flip": (torch.rand(n, generator=gen) < cfg.flip).float(),
        "jitter": (torch.rand(n, generator=gen) < cfg.jitter).float(),
        "b": u(1 - cfg.brightness, 1 + cfg.brightness),
        "c": u(1 - cfg.contrast, 1 + cfg.contrast),
        "s": u(1 - cfg.saturation, 1 + cfg.saturation),
        "h_shift": u(-cfg.hue, cfg.hue),
        "grey": (torch.rand(n, generator=gen) < cfg.grey).float(),
        "blur": (torch.rand(n, generator=gen) < cfg.blur).float(),
        "sigma": u(*cfg.blur_sigma),
    }


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)


def _hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate chroma in YIQ space by ``shift`` turns (a vectorised hue shift)."""
    to_yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    yiq = torch.einsum("ij,njhw->nihw", to_yiq, x)
    theta = shift.to(x) * 2 * math.pi
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(to_yiq), yiq)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    n, c, hgt, wid = x.shape
    radius = max(1, math.ceil(3 * float(sigma.max())))
    radius = min(radius, (min(hgt, wid) - 1) // 2)
    if radius < 1:
        return x
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t[None] ** 2) / (2 * sigma.to(x)[:, None] ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (n*c, 2r+1)
    y = x.reshape(1, n * c, hgt, wid)
    y = F.pad(y, (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k[:, None, :, None], groups=n * c)
    y = F.conv2d(y, k[:, None, None, :], groups=n * c)
    return y.reshape(n, c, hgt, wid)


def _mix(flag: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    f = flag.to(new)[:, None, None, None]
    return f * new + (1 - f) * old


def augment(x: torch.Tensor, p: dict[str, torch.Tensor], cfg: AugmentConfig) -> torch.Tensor:
    """Views of ``x`` (uint8 or float in [0, 1], NCHW) under parameters ``p``; normalised."""
    if x.dtype == torch.uint8:
        x = x.float() / 255
    n = x.shape[0]
    keys = sorted(p)
    packed = torch.stack([p[k].float() for k in keys]).to(x.device, non_blocking=True)
    p = dict(zip(keys, packed.to(x.dtype).unbind(0), strict=True))  # one host-to-device copy
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = p["w"] * (1 - 2 * p["flip"])
    theta[:, 0, 2] = p["cx"]
    theta[:, 1, 1] = p["h"]
    theta[:, 1, 2] = p["cy"]
    grid = F.affine_grid(theta, [n, 3, cfg.size, cfg.size], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    j = p["jitter"]
    x = _mix(j, (x * p["b"].to(x)[:, None, None, None]).clamp(0, 1), x)
    mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
    x = _mix(j, ((x - mean) * p["c"].to(x)[:, None, None, None] + mean).clamp(0, 1), x)
    g = _grey(x)
    x = _mix(j, ((x - g) * p["s"].to(x)[:, None, None, None] + g).clamp(0, 1), x)
    x = _mix(j, _hue(x, p["h_shift"]).clamp(0, 1), x)
    x = _mix(p["grey"], _grey(x), x)
    if cfg.blur > 0:
        sigma = (p["sigma"] * cfg.size / 224).clamp(min=1e-3)
        x = _mix(p["blur"], _blur(x, sigma), x)
    mean_t = x.new_tensor(MEAN)[None, :, None, None]
    std_t = x.new_tensor(STD)[None, :, None, None]
    return (x - mean_t) / std_t


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Evaluation preprocessing: uint8 NCHW to normalised float, no augmentation."""
    x = x.float() / 255
    return (x - x.new_tensor(MEAN)[None, :, None, None]) / x.new_tensor(STD)[None, :, None, None]

"""Two remedies for clip-art pretraining sets, applied to the batch before the views.

Drawings by language models are mostly clip-art: a few flat shapes on a flat, light
background. Such images are a weak contrastive signal (the background is the same in
every image, edges are rare). The literature points at two fixes, both here:

* **Backgrounds** (``TrainConfig.backgrounds = p``): with probability ``p`` an image's
  background is replaced by a dead-leaves texture (many overlapping discs and rectangles
  with power-law sizes and random colours, whose statistics are closer to photographs).
  The background is the colour of the image's border (the median of its edge pixels);
  a pixel's opacity grows from 0 to 1 as its largest channel difference from that colour
  grows from ``_EDGE_LOW`` to ``_EDGE_HIGH``, so anti-aliased edges blend.
* **MixUp** (``TrainConfig.mixup = p``): with probability ``p`` an image is blended with
  another image of the set, ``lam * x + (1 - lam) * other``, ``lam ~ U(0.3, 0.7)``, as
  in the Shaders21k MixUp of images of different programs; both views are cut from the
  blend. With both remedies on, the two images of a blend share one texture.

All randomness is drawn for the global batch from a CPU generator seeded by (seed,
step), like the augmentations, so a resumed run and a DDP run draw exactly what one
uninterrupted process draws. Textures come from a bank made once from ``seed``.
"""

from __future__ import annotations

import torch

_EDGE_LOW, _EDGE_HIGH = 0.04, 0.16  # colour distance from the background: 0 -> 1 opacity
BANK_SIZE = 1024  # textures per bank
LEAVES = (40, 120)  # leaves per texture
MIX_RANGE = (0.3, 0.7)


def dead_leaves(n: int, size: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` dead-leaves textures, float (n, 3, size, size) in [0, 1], from ``seed``.

    Each texture starts from a random colour and is covered by leaves drawn back to
    front: a disc or an axis-aligned rectangle at a uniform position, radius
    ``0.015 / (1 - 0.95 u)`` of the side (small ones common, at most 0.3), random colour.
    """
    gen = torch.Generator().manual_seed(seed)
    most = LEAVES[1]
    count = torch.randint(LEAVES[0], LEAVES[1] + 1, (n,), generator=gen)
    centre = torch.rand(n, most, 2, generator=gen)
    radius = (0.015 / (1 - torch.rand(n, most, generator=gen) * 0.95)).clamp(max=0.3)
    aspect = 0.5 + torch.rand(n, most, generator=gen)  # rectangles: w/h in [0.5, 1.5]
    disc = torch.rand(n, most, generator=gen) < 0.5
    colour = torch.rand(n, most, 3, generator=gen)
    base = torch.rand(n, 3, generator=gen)
    centre, radius, aspect, disc, colour, base, count = (
        t.to(device) for t in (centre, radius, aspect, disc, colour, base, count)
    )
    axis = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size
    yy, xx = axis[:, None], axis[None, :]
    out = base[:, :, None, None].expand(n, 3, size, size).clone()
    for k in range(most):
        dx = xx[None] - centre[:, k, 0, None, None]
        dy = yy[None] - centre[:, k, 1, None, None]
        r = radius[:, k, None, None]
        a = aspect[:, k, None, None]
        in_disc = dx * dx + dy * dy <= r * r
        in_rect = (dx.abs() <= r * a) & (dy.abs() <= r / a)
        hit = torch.where(disc[:, k, None, None], in_disc, in_rect) & (k < count)[:, None, None]
        out = torch.where(hit[:, None], colour[:, k, :, None, None], out)
    return out


def foreground(x: torch.Tensor) -> torch.Tensor:
    """Opacity (n, 1, h, w) of what is not the background colour of each image of ``x``
    (float NCHW in [0, 1]); the background colour is the median of the border pixels."""
    border = torch.cat([x[:, :, 0, :], x[:, :, -1, :], x[:, :, 1:-1, 0], x[:, :, 1:-1, -1]], dim=2)
    bg = border.median(dim=2).values[:, :, None, None]
    dist = (x - bg).abs().amax(dim=1, keepdim=True)
    return ((dist - _EDGE_LOW) / (_EDGE_HIGH - _EDGE_LOW)).clamp(0, 1)


def draw_params(
    n: int, backgrounds: float, mixup: float, gen: torch.Generator, images: int
) -> dict[str, torch.Tensor]:
    """The random choices of both remedies for a global batch of ``n`` (CPU tensors)."""
    return {
        "bg": torch.rand(n, generator=gen) < backgrounds,
        "texture": torch.randint(0, BANK_SIZE, (n,), generator=gen),
        "mix": torch.rand(n, generator=gen) < mixup,
        "partner": torch.randint(0, images, (n,), generator=gen),
        "lam": MIX_RANGE[0] + (MIX_RANGE[1] - MIX_RANGE[0]) * torch.rand(n, generator=gen),
    }


def over_textures(
    x: torch.Tensor, bank: torch.Tensor, use: torch.Tensor, pick: torch.Tensor
) -> torch.Tensor:
    """``x`` (float NCHW) with the background of the images where ``use`` is true replaced
    by the bank's textures ``pick``."""
    if not bool(use.any()):
        return x
    alpha = foreground(x)
    textures = bank[pick.to(bank.device)].to(x)
    composed = alpha * x + (1 - alpha) * textures
    return torch.where(use.to(x.device)[:, None, None, None], composed, x)


def mix(x: torch.Tensor, other: torch.Tensor, use: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``lam * x + (1 - lam) * other`` where ``use`` is true, ``x`` elsewhere."""
    weight = torch.where(use, lam, torch.ones_like(lam)).to(x)[:, None, None, None]
    return weight * x + (1 - weight) * other

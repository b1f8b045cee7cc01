"""The two remedies for clip-art sets: textures behind drawings, MixUp between drawings."""

from __future__ import annotations

import torch

from vad.train.remedies import (
    BANK_SIZE,
    dead_leaves,
    draw_params,
    foreground,
    mix,
    over_textures,
)


def _drawing(n: int = 2, size: int = 16) -> torch.Tensor:
    """White (or light grey) canvases with a red square in the middle."""
    x = torch.ones(n, 3, size, size)
    x[1:] *= 0.93  # a light grey background on the second
    x[:, :, 5:11, 5:11] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    return x


def test_dead_leaves_follow_the_seed_and_are_not_flat() -> None:
    a, b = dead_leaves(8, 32, seed=3), dead_leaves(8, 32, seed=3)
    assert torch.equal(a, b) and a.shape == (8, 3, 32, 32)
    assert not torch.equal(a, dead_leaves(8, 32, seed=4))
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    for texture in a:  # many leaves: many colours, and edges everywhere
        colours = texture.reshape(3, -1).T.unique(dim=0)
        assert len(colours) >= 5
        assert float((texture[:, 1:] - texture[:, :-1]).abs().sum(0).gt(0).float().mean()) > 0.05


def test_foreground_is_what_differs_from_the_border_colour() -> None:
    x = _drawing()
    alpha = foreground(x)
    assert alpha.shape == (2, 1, 16, 16)
    assert torch.all(alpha[:, :, 5:11, 5:11] == 1)  # the square, on white and on grey
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[5:11, 5:11] = True
    assert torch.all(alpha[:, 0][:, ~inside] == 0)


def test_textures_replace_the_background_and_keep_the_drawing() -> None:
    x = _drawing()
    bank = dead_leaves(4, 16, seed=0)
    use, pick = torch.tensor([True, False]), torch.tensor([2, 0])
    out = over_textures(x, bank, use, pick)
    assert torch.equal(out[1], x[1])  # not chosen: untouched
    assert torch.equal(out[0, :, 5:11, 5:11], x[0, :, 5:11, 5:11])  # the drawing stays
    assert torch.equal(out[0, :, :5, :], bank[2, :, :5, :])  # the background is the texture
    assert torch.equal(over_textures(x, bank, torch.tensor([False, False]), pick), x)


def test_mixup_is_a_convex_blend_where_chosen() -> None:
    x, other = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    use, lam = torch.tensor([True, False, True]), torch.tensor([0.3, 0.5, 0.7])
    out = mix(x, other, use, lam)
    assert torch.allclose(out[0], 0.3 * x[0] + 0.7 * other[0])
    assert torch.equal(out[1], x[1])
    assert torch.allclose(out[2], 0.7 * x[2] + 0.3 * other[2])


def test_choices_follow_the_shares_and_the_generator() -> None:
    def draw(seed: int, bg: float, mx: float) -> dict[str, torch.Tensor]:
        return draw_params(4000, bg, mx, torch.Generator().manual_seed(seed), images=50)

    a, b = draw(1, 0.25, 0.5), draw(1, 0.25, 0.5)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert abs(float(a["bg"].float().mean()) - 0.25) < 0.03
    assert abs(float(a["mix"].float().mean()) - 0.5) < 0.03
    assert int(a["partner"].max()) < 50 and int(a["texture"].max()) < BANK_SIZE
    assert float(a["lam"].min()) >= 0.3 and float(a["lam"].max()) <= 0.7
    none = draw(1, 0.0, 0.0)
    assert not none["bg"].any() and not none["mix"].any()

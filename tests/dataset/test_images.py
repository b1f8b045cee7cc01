"""The resize policy, the blank filter and perceptual-hash dedupe."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw

from vad.dataset.images import PHashIndex, blank_reason, colour_thumb, fit_square, hamming, phash


def _drawing(shape: str = "circle", offset: int = 0, size: int = 128) -> Image.Image:
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    box = (20 + offset, 30, 100 + offset, 110)
    if shape == "circle":
        d.ellipse(box, fill="red")
    else:
        d.polygon([(64, 10), (120, 118), (8, 118)], fill="blue")
    return img


def test_blank_filter_drops_flat_and_near_uniform_images_only() -> None:
    assert "near-uniform" in blank_reason(Image.new("RGB", (64, 64), "white"))
    assert "near-uniform" in blank_reason(Image.new("RGB", (64, 64), (20, 90, 200)))
    speck = Image.new("RGB", (200, 200), "white")
    speck.putpixel((5, 5), (0, 0, 0))
    assert blank_reason(speck)  # one dark pixel in 40,000 is still blank
    assert blank_reason(_drawing()) == ""


def test_fit_square_keeps_aspect_and_pads_with_white() -> None:
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    out = fit_square(wide, 64)
    arr = np.asarray(out)
    assert out.size == (64, 64)
    assert tuple(arr[32, 32]) == (255, 0, 0)  # content centred
    assert tuple(arr[2, 32]) == (255, 255, 255)  # padding above and below
    assert tuple(arr[62, 32]) == (255, 255, 255)
    assert (arr[16:48, :, 1] < 10).all()  # the red band spans the full width


def test_phash_is_close_for_near_copies_and_far_for_different_drawings() -> None:
    a, shifted, other = _drawing(), _drawing(offset=2), _drawing("triangle")
    assert hamming(phash(a), phash(a)) == 0
    assert hamming(phash(a), phash(shifted)) <= 6
    assert hamming(phash(a), phash(other)) > 12


def test_phash_index_agrees_with_brute_force() -> None:
    rng = random.Random(0)
    base = [rng.getrandbits(64) for _ in range(300)]
    hashes = []
    for h in base:
        hashes.append(h)
        copy = h
        for bit in rng.sample(range(64), rng.randint(0, 7)):
            copy ^= 1 << bit
        hashes.append(copy)
    rng.shuffle(hashes)
    for distance in (0, 3, 4, 6):
        index, kept, fast = PHashIndex(distance), [], []
        for h in hashes:
            m = index.match(h)
            fast.append(m >= 0)
            if m < 0:
                index.add(h)
        slow = []
        for h in hashes:
            dup = any(hamming(h, k) <= distance for k in kept)
            slow.append(dup)
            if not dup:
                kept.append(h)
        assert fast == slow, distance
        assert sum(fast) > 0


def test_same_drawing_in_another_colour_is_not_a_duplicate() -> None:
    red = _drawing()
    blue = Image.new("RGB", red.size, "white")
    ImageDraw.Draw(blue).ellipse((20, 30, 100, 110), fill="blue")
    index = PHashIndex(4)
    index.add(phash(red), colour_thumb(red))
    assert hamming(phash(red), phash(blue)) <= 4  # pHash alone sees no difference
    assert index.match(phash(blue), colour_thumb(blue)) == -1
    shifted = _drawing(offset=1)
    assert index.match(phash(shifted), colour_thumb(shifted)) == 0

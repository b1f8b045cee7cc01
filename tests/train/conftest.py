"""Tiny labelled image folders drawn in the test: classes that differ in shape and colour."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

CLASSES = {"circle": (220, 40, 40), "square": (40, 60, 220), "triangle": (40, 170, 60)}


def make_folder(root: Path, per_class: int, size: int = 32, seed: int = 0) -> Path:
    rng = random.Random(seed)
    for name, colour in CLASSES.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = Image.new("RGB", (size, size), tuple(rng.randint(200, 255) for _ in range(3)))
            d = ImageDraw.Draw(img)
            r = rng.uniform(0.2, 0.35) * size
            cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
            tint = tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in colour)
            if name == "circle":
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tint)
            elif name == "square":
                d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=tint)
            else:
                d.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=tint)
            img.save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, per_class: int, size: int = 32, seed: int = 0) -> Path:
        return make_folder(tmp_path / name, per_class, size, seed)

    return make

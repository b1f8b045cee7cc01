"""Image checks shared by the exporters: the resize policy, blank filter, perceptual hash.

The resize policy is fixed and recorded in every export: composite over white, fit the
longer side to ``size`` with Lanczos resampling, and pad to a white ``size`` x ``size``
square (centred). Nothing is cropped, so nothing a model drew is lost.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from vad.errors import DatasetError
from vad.fsutil import MAX_IMAGE_BYTES, open_regular, read_fd

RESIZE_POLICY = "composite on white; fit longer side (Lanczos); pad to a centred white square"


def load_rgb(path: str | Path, trusted: bool = False) -> Image.Image:
    """An image as RGB; transparency is composited over white.

    Images of runs (``trusted=False``) are read only as regular files, never through a
    symlink; a user's own photo folders (``trusted=True``) may hold symlinks.
    """
    if trusted:
        source: str | Path | io.BytesIO = path
    else:
        fd = open_regular(path, MAX_IMAGE_BYTES)
        if fd is None:
            raise DatasetError(f"{path} is not a regular image file (a symlink, or too large)")
        try:
            source = io.BytesIO(read_fd(fd, MAX_IMAGE_BYTES))
        finally:
            os.close(fd)
    with Image.open(source) as img:
        img.load()
        if img.mode in ("RGBA", "LA", "P"):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return img.convert("RGB")


def fit_square(img: Image.Image, size: int) -> Image.Image:
    """The resize policy: fit inside ``size`` x ``size``, centred on white."""
    w, h = img.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.LANCZOS)
    if (nw, nh) == (size, size):
        return img
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(img, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def blank_reason(img: Image.Image, min_std: float = 4.0, max_dominant: float = 0.995) -> str:
    """Why an image is blank or near-uniform, or "" if it has content.

    Near-uniform means the grey-level standard deviation is below ``min_std`` (of 255) or
    one colour (quantised to 32 levels per channel) covers more than ``max_dominant``.
    """
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    grey = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    std = float(grey.std())
    if std < min_std:
        return f"near-uniform (grey std {std:.2f} < {min_std})"
    q = (arr >> 3).astype(np.int32)
    codes = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    dominant = np.bincount(codes.ravel()).max() / codes.size
    if dominant > max_dominant:
        return f"near-uniform (one colour covers {dominant:.1%})"
    return ""


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def phash(img: Image.Image) -> int:
    """64-bit perceptual hash: signs of the 8x8 low-frequency DCT of a 32x32 grey image
    against their median (the DC term excluded from the median)."""
    grey = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    coeffs = (_DCT32 @ grey @ _DCT32.T)[:8, :8].ravel()
    median = np.median(coeffs[1:])
    bits = coeffs > median
    return int("".join("1" if b else "0" for b in bits), 2)


def colour_thumb(img: Image.Image) -> np.ndarray:
    """An 8x8 RGB thumbnail: pHash ignores colour, so duplicates must also match this."""
    return np.asarray(img.convert("RGB").resize((8, 8), Image.Resampling.BOX), dtype=np.float32)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


class PHashIndex:
    """Finds near-duplicate images as they arrive: perceptual hashes within
    ``max_distance`` bits and, when thumbnails are given, colours within
    ``max_colour_diff`` (mean absolute difference of 8x8 RGB thumbnails, of 255).

    Exact by the pigeonhole principle: the 64 bits are cut into ``max_distance + 1``
    bands, and two hashes within ``max_distance`` bits agree on at least one whole band,
    so only hashes sharing a band are compared.
    """

    def __init__(self, max_distance: int, max_colour_diff: float = 12.0) -> None:
        bands = max_distance + 1
        self.max_distance, self.max_colour_diff = max_distance, max_colour_diff
        self._thumbs: list[np.ndarray | None] = []
        self._edges = [round(64 * b / bands) for b in range(bands + 1)]
        self._tables: list[dict[int, list[int]]] = [{} for _ in range(bands)]
        self._hashes: list[int] = []

    def _keys(self, h: int) -> list[int]:
        e = self._edges
        return [(h >> e[b]) & ((1 << (e[b + 1] - e[b])) - 1) for b in range(len(e) - 1)]

    def _same_colour(self, thumb: np.ndarray | None, other: np.ndarray | None) -> bool:
        if thumb is None or other is None:
            return True
        return float(np.abs(thumb - other).mean()) <= self.max_colour_diff

    def match(self, h: int, thumb: np.ndarray | None = None) -> int:
        """The position (in kept order) of a kept near-duplicate, or -1."""
        for table, key in zip(self._tables, self._keys(h), strict=True):
            for other in table.get(key, ()):
                if hamming(h, self._hashes[other]) <= self.max_distance and self._same_colour(
                    thumb, self._thumbs[other]
                ):
                    return other
        return -1

    def add(self, h: int, thumb: np.ndarray | None = None) -> int:
        """Keep ``h``; returns its position."""
        pos = len(self._hashes)
        self._hashes.append(h)
        self._thumbs.append(thumb)
        for table, key in zip(self._tables, self._keys(h), strict=True):
            table.setdefault(key, []).append(pos)
        return pos

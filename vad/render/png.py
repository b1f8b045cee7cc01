"""The host's copy of an image that came out of the jail: decoded once, checked, and
written afresh.

A PNG left by model code may carry anything a decoder skips or a browser reads
differently: animation frames (APNG's acTL/fcTL/fdAT, which browsers show instead of
the default image that Pillow decodes), text and metadata chunks, millions of empty
ancillary chunks, 16-bit or palette pixels. The host keeps none of it: it decodes the
default image (the pixels every check, score and export computes on) and writes those
pixels as a new PNG of IHDR, IDAT and IEND only, so that the site, the exports,
generation and CLIP all see the same picture. Before decoding, a byte budget per pixel
refuses files far larger than any honest encoding of their pixels.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# An honest PNG holds at most 8 bytes a pixel (16-bit RGBA, stored uncompressed), one
# filter byte a row and some chunk overhead; anything past that is padding.
BYTES_PER_PIXEL = 8
OVERHEAD = 64 << 10
NOT_PNG, UNDECODABLE = "something that is not a PNG", "a PNG that does not decode"


@dataclass(frozen=True)
class Checked:
    """``png`` is the re-encoded image when ``failure`` is empty; else a reason and the
    status it means (``too_large``, ``runtime_error`` or ``empty_image``)."""

    png: bytes = b""
    status: str = ""
    failure: str = ""


def byte_budget(width: int, height: int) -> int:
    """The most bytes a PNG of ``width`` x ``height`` pixels may take."""
    return BYTES_PER_PIXEL * width * height + height + OVERHEAD


def header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the IHDR of ``data``, or None when it is not a PNG."""
    if len(data) < 24 or data[:8] != SIGNATURE or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _pixels(img: Image.Image) -> Image.Image:
    """The decoded default image as 8-bit RGB or RGBA, with no metadata."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: keep the top byte
        grey = (np.asarray(img, dtype=np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    rgb = img.convert("RGBA" if has_alpha else "RGB")
    return Image.frombytes(rgb.mode, rgb.size, rgb.tobytes())  # a fresh image: no info


def reencode(data: bytes, width: int, height: int, max_pixels: int) -> Checked:
    """Check a PNG of the expected size and return it re-encoded (see the module)."""
    size = header_size(data)
    if size is None:
        return Checked(status="runtime_error", failure=f"the program left {NOT_PNG}")
    w, h = size
    if w * h > max_pixels:
        return Checked(status="too_large", failure=f"image is {w}x{h}")
    if len(data) > byte_budget(w, h):
        return Checked(
            status="too_large",
            failure=f"PNG of {len(data)} bytes for {w}x{h} pixels (at most {byte_budget(w, h)})",
        )
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            if img.size != (width, height) or min(width, height) < 1:
                raise ValueError(f"{img.size[0]}x{img.size[1]} instead of {width}x{height}")
            img.seek(0)  # the default image (what every check decodes)
            img.load()
            fresh = _pixels(img)
    except Exception:  # any decoder error: the file is not an image of the job
        return Checked(status="runtime_error", failure=f"the program left {UNDECODABLE}")
    extrema = fresh.getextrema()
    if all(lo == hi for lo, hi in extrema):
        return Checked(status="empty_image", failure="the image is a single flat colour")
    out = io.BytesIO()
    fresh.save(out, format="PNG", compress_level=1)  # a quarter of level 6's time
    return Checked(png=out.getvalue())

"""SVG renderer: cairosvg with unsafe=False (no external resources, no XML entities)."""

from __future__ import annotations

import re

from _protocol import BLOCKED, EMPTY, SYNTAX, TOO_LARGE, RenderFailure

VERSION = "svg-3"
MAX_INLINE_BYTES = 16 << 20  # decoded (and decompressed) size of one data: URI
MAX_IMAGE_PIXELS = 4096 * 4096
CHECKS_BLANK = True  # render() reports a flat image itself


_DATA_URI = re.compile(r"data:[^,\"'\s]*?;base64,([A-Za-z0-9+/=\s]+)", re.I)
_EXTERNAL = re.compile(
    r"""(?:href\s*=\s*["']|url\(\s*["']?|@import\s+["']?)\s*(?!#|data:)[a-z][a-z0-9+.-]*:""",
    re.I,
)


_WARM_UP = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><title>t</title>'
    '<rect x="5" y="5" width="40" height="30" fill="#d22" stroke="navy" stroke-width="2"/>'
    '<circle cx="70" cy="60" r="20" fill="rgb(40,160,60)" opacity="0.8"/>'
    '<path d="M10 90 L40 60 Q60 95 90 90 Z" fill="none" stroke="black"/>'
    '<text x="10" y="20" font-size="8">warm-up 0123</text></svg>'
)


def preload() -> None:
    import cairosvg.parser
    import cairosvg.surface  # noqa: F401
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # larger embedded images raise, not decode
    warm()  # every import, cache and the PNG writer a job uses, warm in the zygote


def warm() -> None:
    """Draw a typical picture into memory (in the zygote, and again in each job's process
    while it waits for its job, so that the pages a render writes are its own already)."""
    import io

    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface

    tree = Tree(bytestring=_WARM_UP.encode("utf-8"), unsafe=False)
    surface = PNGSurface(tree, None, 96, output_width=64, output_height=64,
                         background_color="white")  # fmt: skip
    _write_png(surface.cairo, io.BytesIO())


def _write_png(cairo_surface, out) -> None:
    """The surface as an RGB PNG, quickly compressed (the host re-encodes it anyway).

    cairo keeps premultiplied BGRA; on the white background every pixel is opaque, so
    its colour bytes are the pixels (what cairo's own, slower PNG writer would save)."""
    from PIL import Image

    cairo_surface.flush()
    size = (cairo_surface.get_width(), cairo_surface.get_height())
    stride = cairo_surface.get_stride()
    image = Image.frombuffer("RGB", size, bytes(cairo_surface.get_data()), "raw", "BGRX", stride, 1)
    image.save(out, format="PNG", compress_level=1)


def _check_inline_data(code: str) -> None:
    """Refuse data: URIs that decode, or decompress, to more than MAX_INLINE_BYTES."""
    import base64
    import zlib

    for match in _DATA_URI.finditer(code):
        try:
            raw = base64.b64decode("".join(match.group(1).split()), validate=False)
        except ValueError:
            continue
        if raw[:2] == b"\x1f\x8b":  # gzip (svgz): inflate at most the limit
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                inflate.decompress(raw, MAX_INLINE_BYTES + 1)
            except zlib.error:
                continue
            if inflate.unconsumed_tail:
                raise RenderFailure(
                    TOO_LARGE, f"a data: URI inflates to more than {MAX_INLINE_BYTES} bytes"
                )


def render(code: str, out_png: str, width: int, height: int) -> None:
    match = _EXTERNAL.search(code)
    if match:
        raise RenderFailure(BLOCKED, f"external reference not allowed: {match.group(0)[:80]}")
    _check_inline_data(code)
    from xml.etree.ElementTree import ParseError

    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface
    from defusedxml import DefusedXmlException
    from PIL import Image

    try:
        tree = Tree(bytestring=code.encode("utf-8"), unsafe=False)
        # Same as cairosvg.svg2png, keeping the surface to check for a blank image
        # without decoding the PNG again.
        surface = PNGSurface(
            tree, None, 96, output_width=width, output_height=height, background_color="white"
        )
        data = bytes(surface.cairo.get_data())
        if data == data[:4] * (len(data) // 4):
            raise RenderFailure(EMPTY, "the image is a single flat colour")
        _write_png(surface.cairo, out_png)
    except DefusedXmlException as exc:
        raise RenderFailure(BLOCKED, f"{type(exc).__name__}: {exc}") from None
    except ParseError as exc:
        raise RenderFailure(SYNTAX, f"XML parse error: {exc}") from None
    except RecursionError:
        raise RenderFailure(TOO_LARGE, "elements nested too deeply") from None
    except Image.DecompressionBombError as exc:
        raise RenderFailure(TOO_LARGE, f"embedded image: {exc}") from None

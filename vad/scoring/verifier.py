"""The shapes verifier: what a drawing of a shape concept shows, read from its pixels alone.

A shape concept names its parts in ``attrs`` (vad/concepts/shapes.py): a shape, a
colour, and a position, a size, a count in an arrangement, or a second shape in a
relation. The verifier finds the drawn parts in the PNG, whatever language drew it, and
checks each attribute:

1. **background**: the most common colour of the image's border;
2. **colour of each pixel**: every pixel that differs from the background is explained
   as a blend of the background with one prototype of the ten named colours (the
   language's own colour names, CSS, Tk and xcolor; anti-aliased edges are such blends),
   the nearest in CIELAB; pixels that are mostly background are background, pixels far
   from every prototype are "other";
3. **parts**: connected components of one colour (OpenCV), less specks, less slivers
   (one or two pixels thick along another part's edge), less outlines drawn around
   another part and less a panel painted behind the drawing; a hollow ring with nothing
   inside is a part drawn as an outline, classified by the region it encloses;
4. **shape of each part** from its contour: concave parts by their convexity defects
   (a star has five, a cross four), convex ones by whichever fits better, an ellipse
   (circle when its axes are nearly equal) or a polygon of three to six corners (four
   corners: square, rectangle or diamond from its angles, sides and tilt);
5. **attributes**: colour present, count of parts of that colour (and no other object
   as large beside them), shape, position on the canvas (centre or a quadrant), size
   (the part's larger side against the canvas), arrangement (a row or a stack) and
   relation (above, left of).

The verdict is per attribute, ``verified`` when all hold, and the reason of the first
that does not. Everything here is deterministic and needs no weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

VERSION = "shapes-verifier/3"

# The ten colour names of the shapes level and what drawing languages paint for them:
# CSS/SVG and matplotlib names (and its tab: palette), Tk's (turtle), xcolor's (TikZ),
# the reference drawings' own, and common shades a model writes for the name.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "red": ("#ff0000", "#e41a1c", "#d62728", "#dc143c", "#b22222", "#cc0000", "#f44336"),
    "blue": ("#0000ff", "#377eb8", "#1f77b4", "#4169e1", "#1e90ff", "#000080", "#4682b4",
             "#0000cd", "#2196f3", "#3f51b5"),
    "green": ("#008000", "#00ff00", "#4daf4a", "#2ca02c", "#228b22", "#32cd32", "#006400",
              "#4caf50", "#00a000"),
    "yellow": ("#ffff00", "#ffd700", "#ffeb3b", "#f0e442", "#ffe119", "#ffcc00"),
    "orange": ("#ffa500", "#ff7f00", "#ff8c00", "#ff7f0e", "#ff8000", "#ff9800", "#ff6600"),
    "purple": ("#800080", "#984ea3", "#9467bd", "#a020f0", "#bf0040", "#8a2be2", "#9400d3",
               "#9c27b0", "#663399", "#7b1fa2"),
    "black": ("#000000", "#111111"),
    "pink": ("#ffc0cb", "#ff69b4", "#ffb6c1", "#ff1493", "#f781bf", "#ffbfbf", "#e377c2",
             "#e91e63", "#ff80c0"),
    "brown": ("#a52a2a", "#8b4513", "#a65628", "#bf8040", "#8c564b", "#d2691e", "#654321",
              "#795548", "#964b00"),
    "gray": ("#808080", "#888888", "#bebebe", "#7f7f7f", "#a9a9a9", "#696969", "#d3d3d3",
             "#9e9e9e", "#c0c0c0"),
}  # fmt: skip
OTHER = "other"
ATTRIBUTES = ("color", "count", "shape", "position", "size", "arrangement", "relation")

_MAX_SIDE = 512  # larger images are read at this size (the geometry is relative)
MAX_PARTS = 64  # more components than this above the speck size: not a drawing of shapes
_MAX_COLORS = 4096  # more distinct colours than this: quantised to 5 bits a channel first
_FOREGROUND_DE = 10.0  # CIELAB distance from the background above which a pixel is drawn
_UNEXPLAINED_DE = 28.0  # residual above which no named colour explains a pixel
_CENTRE = 0.125  # a centre within this of the canvas's middle (both axes) is "center"
_SMALL, _LARGE = 0.3, 0.45  # a part's larger side, as a share of the canvas's smaller side


@dataclass(frozen=True)
class Part:
    """One drawn part: its colour name, shape, centre and size relative to the canvas."""

    color: str
    shape: str
    cx: float
    cy: float
    extent: float  # the larger side of its bounding box / the canvas's smaller side
    area: float  # its filled area / the canvas's area
    outline: bool = False  # drawn as an outline only

    def describe(self) -> str:
        drawn = " outline" if self.outline else ""
        return f"{self.color} {self.shape}{drawn} at ({self.cx:.2f}, {self.cy:.2f})"


@dataclass
class Verdict:
    """Per attribute of the concept: right or not; the first failure's reason."""

    checks: dict[str, bool]
    reasons: dict[str, str]
    parts: list[Part] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)  # what was checked

    @property
    def verified(self) -> bool:
        return all(self.checks.values())

    @property
    def reason(self) -> str:
        return next((self.reasons[a] for a, ok in self.checks.items() if not ok), "")

    @property
    def failed(self) -> list[str]:
        return [a for a, ok in self.checks.items() if not ok]

    def to_record(self) -> dict[str, Any]:
        return {"version": VERSION, "verified": self.verified, "checks": dict(self.checks),
                "reason": self.reason, "attrs": dict(self.attrs),
                "parts": [p.describe() for p in self.parts[:12]]}  # fmt: skip


def applies(attrs: Any) -> bool:
    """Whether ``attrs`` are a shape concept's that the verifier can check: a known
    kind with known shapes, colours and places."""
    from vad.concepts.shapes import ARRANGEMENTS, COLORS, POSITIONS, PRIMITIVES, RELATIONS, SIZES

    if not isinstance(attrs, dict):
        return False
    shapes = {name for name, _ in PRIMITIVES}
    kind = attrs.get("kind")
    if attrs.get("shape") not in shapes or attrs.get("color") not in COLORS:
        return False
    if kind == "single":
        return attrs.get("position") in POSITIONS or attrs.get("size") in SIZES
    if kind == "group":
        count = attrs.get("count")
        return attrs.get("arrangement") in ARRANGEMENTS and isinstance(count, int) and count > 0
    if kind == "pair":
        return (attrs.get("relation") in RELATIONS and attrs.get("other_shape") in shapes
                and attrs.get("other_color") in COLORS)  # fmt: skip
    return False


# ---------------------------------------------------------------- reading the image


def read_rgb(path: Path | str) -> np.ndarray:
    """The image as RGB uint8 (transparency over white), at most _MAX_SIDE on a side."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, rgba)
        rgb = np.asarray(im.convert("RGB"))
    h, w = rgb.shape[:2]
    if max(h, w) > _MAX_SIDE:
        scale = _MAX_SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def _lab(rgb01: np.ndarray) -> np.ndarray:
    """CIELAB of float RGB in [0, 1], any leading shape."""
    flat = rgb01.reshape(-1, 1, 3).astype(np.float32)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(rgb01.shape)


def _hex(color: str) -> tuple[float, float, float]:
    c = color.lstrip("#")
    return int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255


_NAMES = list(PROTOTYPES)
_PROTO_RGB = np.array([_hex(c) for name in _NAMES for c in PROTOTYPES[name]], np.float32)
_PROTO_NAME = np.array([i for i, name in enumerate(_NAMES) for _ in PROTOTYPES[name]])


def background(rgb: np.ndarray) -> np.ndarray:
    """The border's most common colour (RGB floats in [0, 1])."""
    border = np.concatenate([rgb[:2].reshape(-1, 3), rgb[-2:].reshape(-1, 3),
                             rgb[:, :2].reshape(-1, 3), rgb[:, -2:].reshape(-1, 3)])  # fmt: skip
    bins = (border // 16).astype(np.int32)
    codes = bins[:, 0] * 256 + bins[:, 1] * 16 + bins[:, 2]
    mode = np.bincount(codes).argmax()
    return np.median(border[codes == mode], axis=0).astype(np.float32) / 255


def label_pixels(rgb: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Per pixel: -1 background, the index of a named colour (``_NAMES``), or len(_NAMES)
    for a colour no name explains."""
    h, w = rgb.shape[:2]
    px = rgb.reshape(-1, 3).astype(np.float32) / 255
    lab = _lab(px)
    bg_lab = _lab(bg[None, :])[0]
    labels = np.full(h * w, -1, np.int32)
    fg = np.flatnonzero(np.linalg.norm(lab - bg_lab, axis=1) > _FOREGROUND_DE)
    if fg.size == 0:
        return labels.reshape(h, w)
    # drawings have few distinct colours: explain each once (a photo or noise has many:
    # at most 32,768 after quantising, each within 4 levels of the pixel's own)
    drawn = rgb.reshape(-1, 3)[fg]
    colors, inverse = np.unique(drawn, axis=0, return_inverse=True)
    if len(colors) > _MAX_COLORS:
        colors, inverse = np.unique(drawn & 0xF8 | 4, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    p = colors.astype(np.float32) / 255
    p_lab = _lab(p)
    # each prototype f: the pixel as bg + alpha * (f - bg), alpha in [0, 1], and what is left
    e = _PROTO_RGB - bg  # (K, 3)
    norm = (e * e).sum(axis=1)
    visible = norm > 1e-3  # a prototype the colour of the background cannot be seen on it
    alpha = np.clip(((p - bg) @ e.T) / np.where(visible, norm, 1.0), 0.0, 1.0)  # (N, K)
    rebuilt = bg + alpha[:, :, None] * e[None, :, :]  # (N, K, 3)
    residual = np.linalg.norm(_lab(rebuilt) - p_lab[:, None, :], axis=2)
    residual[:, ~visible] = np.inf
    best = residual.min(axis=1)
    # among the prototypes that explain the pixel about as well, the most opaque one: a
    # light pink is pink, not a faint red
    near = residual <= best[:, None] + 2.0
    k = np.where(near, alpha, -1.0).argmax(axis=1)
    chosen_alpha = alpha[np.arange(len(colors)), k]
    names = np.where(best > _UNEXPLAINED_DE, len(_NAMES), _PROTO_NAME[k])
    # mostly background: an anti-aliased edge
    names = np.where((chosen_alpha >= 0.5) | (best > _UNEXPLAINED_DE), names, -1)
    labels[fg] = names[inverse]
    return labels.reshape(h, w)


# ---------------------------------------------------------------- parts


Box = tuple[int, int, int, int]  # x, y, width, height in the image


class TooManyParts(Exception):
    """More parts than a drawing of shapes has: noise, a texture, a gradient."""


@dataclass
class _Blob:
    """A connected component of one colour, held as crops of its bounding box."""

    label: int
    box: Box
    mask: np.ndarray  # bool crop: the component's own pixels
    filled: np.ndarray  # bool crop: the region its outer contour encloses
    contour: np.ndarray  # in image coordinates
    area: int
    filled_area: int
    thickness: float


def _overlap(a: np.ndarray, a_box: Box, b: np.ndarray, b_box: Box) -> int:
    """Pixels set in both crops (placed at their boxes)."""
    x0, y0 = max(a_box[0], b_box[0]), max(a_box[1], b_box[1])
    x1 = min(a_box[0] + a_box[2], b_box[0] + b_box[2])
    y1 = min(a_box[1] + a_box[3], b_box[1] + b_box[3])
    if x0 >= x1 or y0 >= y1:
        return 0
    sa = a[y0 - a_box[1] : y1 - a_box[1], x0 - a_box[0] : x1 - a_box[0]]
    sb = b[y0 - b_box[1] : y1 - b_box[1], x0 - b_box[0] : x1 - b_box[0]]
    return int(np.count_nonzero(sa & sb))


def _blobs(labels: np.ndarray) -> list[_Blob]:
    """The components of each colour above the speck size; TooManyParts past MAX_PARTS."""
    h, w = labels.shape
    min_area = max(12, int(0.0004 * h * w))
    found = []
    for value in np.unique(labels):
        if value < 0:
            continue
        n, comp, stats, _ = cv2.connectedComponentsWithStats(
            (labels == value).astype(np.uint8), connectivity=8
        )
        big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
        found += [(int(value), comp, stats[i], i) for i in big]
        if len(found) > MAX_PARTS:
            raise TooManyParts(f"more than {MAX_PARTS} parts")
    blobs = []
    for value, comp, stat, i in found:
        x, y, bw, bh, area = (int(v) for v in stat[:5])
        own = (comp[y : y + bh, x : x + bw] == i).astype(np.uint8)
        contours, _ = cv2.findContours(own, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        filled = np.zeros_like(own)
        cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
        contour = max(contours, key=cv2.contourArea) + np.array([x, y], np.int32)
        dist = cv2.distanceTransform(np.pad(own, 1), cv2.DIST_L2, 3)
        blobs.append(_Blob(value, (x, y, bw, bh), own.astype(bool), filled.astype(bool),
                           contour, area, int(filled.sum()), float(dist.max())))  # fmt: skip
    return blobs


def _drop_slivers(blobs: list[_Blob]) -> list[_Blob]:
    """Blobs one or two pixels thick that lie along another blob: the blend of two colours
    at a shared edge, not a part."""
    kernel = np.ones((5, 5), np.uint8)
    kept = []
    for blob in blobs:
        if blob.thickness <= 1.5:
            grown = cv2.dilate(np.pad(blob.mask, 2).astype(np.uint8), kernel).astype(bool)
            x, y, bw, bh = blob.box
            box = (x - 2, y - 2, bw + 4, bh + 4)
            if any(_overlap(grown, box, other.mask, other.box) for other in blobs
                   if other is not blob and other.area > blob.area):  # fmt: skip
                continue
        kept.append(blob)
    return kept


def _drop_frames(blobs: list[_Blob], canvas: int) -> tuple[list[_Blob], set[int]]:
    """Less outlines drawn around another part and panels painted behind the drawing.
    Returns the blobs kept and the ids of those drawn as outlines only."""
    hollow = {id(b) for b in blobs if b.area < 0.5 * b.filled_area}
    kept = []
    for blob in blobs:
        inside = [o for o in blobs if o is not blob and o.filled_area < blob.filled_area
                  and _overlap(blob.filled, blob.box, o.mask, o.box) > 0.5 * o.area]  # fmt: skip
        if id(blob) in hollow and inside:
            continue  # an outline (stroke) around parts drawn inside it
        if blob.filled_area > 0.4 * canvas and inside:
            continue  # a panel behind the parts
        kept.append(blob)
    return kept, {id(b) for b in kept if id(b) in hollow}


def find_parts(rgb: np.ndarray) -> list[Part]:
    """The drawn parts of an image, largest first (TooManyParts: not a drawing of
    shapes; its cost is bounded by MAX_PARTS)."""
    h, w = rgb.shape[:2]
    labels = label_pixels(rgb, background(rgb))
    blobs = _drop_slivers(_blobs(labels))
    blobs, outlined = _drop_frames(blobs, h * w)
    parts = []
    for blob in blobs:
        ys, xs = np.nonzero(blob.filled)
        m = cv2.moments(blob.filled.astype(np.uint8), binaryImage=True)
        if m["m00"] == 0:
            continue
        x, y = blob.box[:2]
        extent = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) / min(h, w)
        name = _NAMES[blob.label] if blob.label < len(_NAMES) else OTHER
        parts.append(Part(name, classify(blob.contour), (x + m["m10"] / m["m00"]) / w,
                          (y + m["m01"] / m["m00"]) / h, float(extent),
                          blob.filled_area / (h * w), id(blob) in outlined))  # fmt: skip
    return sorted(parts, key=lambda p: -p.area)


# ---------------------------------------------------------------- shapes


def _iou(contour: np.ndarray, draw: Any) -> float:
    """IoU of the region ``contour`` encloses with the one ``draw(canvas)`` paints."""
    x, y, w, h = cv2.boundingRect(contour)
    pad = max(w, h) // 2 + 4
    size = (h + 2 * pad, w + 2 * pad)
    shift = np.array([pad - x, pad - y])
    mine = np.zeros(size, np.uint8)
    cv2.drawContours(mine, [contour + shift], -1, 1, thickness=cv2.FILLED)
    theirs = np.zeros(size, np.uint8)
    draw(theirs, shift)
    inter = np.logical_and(mine, theirs).sum()
    union = np.logical_or(mine, theirs).sum()
    return float(inter / union) if union else 0.0


def _ellipse_fit(contour: np.ndarray) -> tuple[float, float]:
    """IoU with the fitted ellipse, and the ratio of its axes (>= 1)."""
    if len(contour) < 5:
        return 0.0, 1.0
    (cx, cy), (a, b), angle = cv2.fitEllipse(contour)
    if min(a, b) <= 0:
        return 0.0, 1.0

    def paint(canvas: np.ndarray, shift: np.ndarray) -> None:
        centre = (round((cx + shift[0]) * 16), round((cy + shift[1]) * 16))
        axes = (round(a / 2 * 16), round(b / 2 * 16))
        cv2.ellipse(canvas, centre, axes, angle, 0, 360, 1, cv2.FILLED, cv2.LINE_8, 4)

    return _iou(contour, paint), max(a, b) / min(a, b)


def _polygon_fit(contour: np.ndarray) -> tuple[float, np.ndarray | None]:
    """The best-fitting polygon of three to six corners of the contour's hull, with its
    IoU: of the polygons with no side much shorter than the others (a cut corner is no
    corner), the one with the fewest corners that fits about as well as the best."""
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    fits: dict[int, tuple[float, np.ndarray]] = {}
    for eps in (0.01, 0.015, 0.02, 0.03, 0.045, 0.06, 0.08):
        poly = cv2.approxPolyDP(hull, eps * perimeter, True)
        n = len(poly)
        if not 3 <= n <= 6 or n in fits:
            continue
        pts = poly.reshape(-1, 2).astype(float)
        sides = np.hypot(*(np.roll(pts, -1, axis=0) - pts).T)
        if sides.min() < 0.4 * sides.mean():
            continue
        fits[n] = (_iou(contour, lambda c, s, p=poly: cv2.fillPoly(c, [p + s], 1)), poly)
    if not fits:
        return 0.0, None
    top = max(iou for iou, _ in fits.values())
    n = min(k for k, (iou, _) in fits.items() if iou >= top - 0.02)
    return fits[n]


def _quad(poly: np.ndarray) -> str:
    pts = poly.reshape(-1, 2).astype(float)
    sides = [pts[(i + 1) % 4] - pts[i] for i in range(4)]
    lengths = [float(np.hypot(*s)) for s in sides]
    angles = []
    for i in range(4):
        a, b = -sides[i - 1], sides[i]
        cos = float(np.dot(a, b) / (np.hypot(*a) * np.hypot(*b) + 1e-9))
        angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
    right = all(abs(x - 90) < 14 for x in angles)
    tilt = math.degrees(math.atan2(sides[0][1], sides[0][0])) % 90
    tilt = min(tilt, 90 - tilt)  # 0: sides along the axes, 45: corners up
    aspect = max(lengths[0] + lengths[2], lengths[1] + lengths[3]) / max(
        1e-9, min(lengths[0] + lengths[2], lengths[1] + lengths[3])
    )
    if right:
        if aspect > 1.3:
            return "rectangle"
        return "square" if tilt < 22.5 else "diamond"
    if max(lengths) / max(1e-9, min(lengths)) < 1.35:  # a rhombus
        return "diamond"
    return OTHER


def classify(contour: np.ndarray) -> str:
    """The primitive a region's outer contour shows, or "other"."""
    area = cv2.contourArea(contour)
    if area < 12:
        return OTHER
    hull = cv2.convexHull(contour)
    solidity = area / max(cv2.contourArea(hull), 1e-9)
    if solidity < 0.88:  # convex shapes fill their hull (0.97 and up, drawn in pixels)
        return _concave(contour, hull)
    ellipse_iou, ratio = _ellipse_fit(contour)
    poly_iou, poly = _polygon_fit(contour)
    if ellipse_iou >= 0.9 and ellipse_iou >= poly_iou - 0.005:
        return "circle" if ratio < 1.2 else "ellipse"
    if poly is None or poly_iou < 0.85:
        return OTHER
    n = len(poly)
    return {3: "triangle", 5: "pentagon", 6: "hexagon"}.get(n) or _quad(poly)


def _concave(contour: np.ndarray, hull: np.ndarray) -> str:
    """A star (five deep notches) or a cross (four), else "other"."""
    index = cv2.convexHull(contour, returnPoints=False)
    try:
        defects = cv2.convexityDefects(contour, index)
    except cv2.error:
        return OTHER
    if defects is None:
        return OTHER
    size = math.sqrt(cv2.contourArea(hull))
    depths = defects.reshape(-1, 4)[:, 3] / 256.0
    deep = int((depths > 0.1 * size).sum())
    return {5: "star", 4: "cross"}.get(deep, OTHER)


# ---------------------------------------------------------------- attributes


def region(part: Part) -> str:
    """Where a part's centre is: "center", a quadrant ("top-left"), or a side ("top")."""
    col = "left" if part.cx < 0.5 - _CENTRE else "right" if part.cx > 0.5 + _CENTRE else ""
    row = "top" if part.cy < 0.5 - _CENTRE else "bottom" if part.cy > 0.5 + _CENTRE else ""
    if not col and not row:
        return "center"
    return "-".join(x for x in (row, col) if x)


def size_class(part: Part) -> str:
    return "small" if part.extent < _SMALL else "large" if part.extent > _LARGE else "medium"


def _count_phrase(n: int, color: str) -> str:
    return f"{n} {color} part" + ("" if n == 1 else "s")


class _Checks:
    def __init__(self) -> None:
        self.checks: dict[str, bool] = {}
        self.reasons: dict[str, str] = {}

    def add(self, attribute: str, ok: bool, reason: str) -> None:
        self.checks[attribute] = bool(ok)
        self.reasons[attribute] = "" if ok else reason


def _of_color(parts: list[Part], color: str, exclude: tuple[Part, ...] = ()) -> list[Part]:
    return [p for p in parts if p.color == color and p not in exclude]


def verify_parts(parts: list[Part], attrs: dict[str, Any]) -> Verdict:
    """Check each attribute of a shape concept against the parts found in its drawing."""
    out = _Checks()
    if parts:
        largest = parts[0].area
        parts = [p for p in parts if p.area >= 0.1 * largest]  # specks beside the drawing
    kind, shape, color = attrs.get("kind"), attrs["shape"], attrs["color"]
    if not parts:
        for attribute in _attributes(attrs):
            out.add(attribute, False, "nothing is drawn")
        return Verdict(out.checks, out.reasons, parts, attrs)
    if kind == "pair":
        return _verify_pair(parts, attrs, out)
    mine = _of_color(parts, color)
    out.add("color", bool(mine), f"no {color} part (found {_colors(parts)})")
    group = mine or parts
    expected = int(attrs.get("count", 1)) if kind == "group" else 1
    found = _count_phrase(len(group), color if mine else "drawn")
    extra = _extra(parts, group)
    out.add("count", len(group) == expected and not extra,
            f"{found}, expected {expected}" if len(group) != expected
            else f"{found} and {_extras(extra)}")  # fmt: skip
    main = group[0]
    if kind == "group":
        wrong = [p.shape for p in group if p.shape != shape]
        out.add("shape", not wrong, f"expected {shape}s, found {_shapes(group)}")
        arrangement = attrs["arrangement"]
        found = _arrangement(group)
        ok = found == ("stack" if arrangement == "stacked" else "row")
        out.add("arrangement", ok, f"expected {arrangement}, the parts form a {found}"
                if found else f"expected {arrangement}, one part is none")  # fmt: skip
        return Verdict(out.checks, out.reasons, parts, attrs)
    out.add("shape", main.shape == shape,
            f"expected {_a(shape)} {shape}, found {_a(main.shape)} {main.shape}")  # fmt: skip
    if "position" in attrs:
        where = region(main)
        out.add("position", where == attrs["position"],
                f"expected {attrs['position']}, the part is at {where}")  # fmt: skip
    if "size" in attrs:
        size = size_class(main)
        out.add("size", size == attrs["size"], f"expected {attrs['size']}, the part is {size} "
                f"({main.extent:.2f} of the canvas)")  # fmt: skip
    return Verdict(out.checks, out.reasons, parts, attrs)


def _verify_pair(parts: list[Part], attrs: dict[str, Any], out: _Checks) -> Verdict:
    color, other_color = attrs["color"], attrs["other_color"]
    first, second = _of_color(parts, color), _of_color(parts, other_color)
    out.add("color", bool(first) and bool(second),
            f"expected a {color} and a {other_color} part (found {_colors(parts)})")  # fmt: skip
    a = first[0] if first else next((p for p in parts if p not in second[:1]), None)
    b = second[0] if second else next((p for p in parts if p is not a), None)
    count_a = len(first) if first else (1 if a else 0)
    count_b = len(second) if second else (1 if b else 0)
    mine = [*(first or [a]), *(second or [b])]
    extra = _extra(parts, [p for p in mine if p is not None])
    out.add("count", count_a == 1 and count_b == 1 and not extra,
            f"{_count_phrase(count_a, color)} and {_count_phrase(count_b, other_color)}, "
            "expected one of each" + (f", and {_extras(extra)}" if extra else ""))  # fmt: skip
    shapes_ok = (a is not None and a.shape == attrs["shape"]
                 and b is not None and b.shape == attrs["other_shape"])  # fmt: skip
    out.add("shape", shapes_ok,
            f"expected a {attrs['shape']} and a {attrs['other_shape']}, found "
            f"{a.shape if a else 'nothing'} and {b.shape if b else 'nothing'}")  # fmt: skip
    if a is None or b is None:
        out.add("relation", False, "fewer than two parts")
    else:
        found = _relation(a, b)
        out.add("relation", found == attrs["relation"],
                f"expected {color} {attrs['relation']} {other_color}, found {found}")  # fmt: skip
    return Verdict(out.checks, out.reasons, parts, attrs)


def _a(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _extra(parts: list[Part], mine: list[Part]) -> list[Part]:
    """Parts beside the concept's own that are objects in their own right: of another
    colour, spanning at least 0.6 of the smallest of the concept's parts and covering a
    fifth of its area (a thin line or a dot is decoration, not an object)."""
    if not mine:
        return []
    extent, area = min(p.extent for p in mine), min(p.area for p in mine)
    return [p for p in parts
            if p not in mine and p.extent >= 0.6 * extent and p.area >= 0.2 * area]  # fmt: skip


def _extras(extra: list[Part]) -> str:
    what = ", ".join(f"a {p.color} {p.shape}" for p in extra[:3])
    return f"{len(extra)} other part{'' if len(extra) == 1 else 's'} ({what})"


def _relation(a: Part, b: Part) -> str:
    dx, dy = b.cx - a.cx, b.cy - a.cy
    if abs(dy) >= abs(dx):
        return "above" if dy > 0.05 else "below" if dy < -0.05 else "overlapping"
    return "left-of" if dx > 0.05 else "right-of" if dx < -0.05 else "overlapping"


def _arrangement(group: list[Part]) -> str | None:
    """ "row" (side by side), "stack" (one above another), "scatter"; None for one part."""
    if len(group) < 2:
        return None
    xs = sorted(p.cx for p in group)
    ys = sorted(p.cy for p in group)
    spread_x, spread_y = xs[-1] - xs[0], ys[-1] - ys[0]
    size = max(p.extent for p in group)
    if spread_y < 0.5 * size and spread_x > spread_y:
        return "row"
    if spread_x < 0.5 * size and spread_y > spread_x:
        return "stack"
    return "scatter"


def _attributes(attrs: dict[str, Any]) -> list[str]:
    kind = attrs.get("kind")
    if kind == "pair":
        return ["color", "count", "shape", "relation"]
    if kind == "group":
        return ["color", "count", "shape", "arrangement"]
    return ["color", "count", "shape"] + [a for a in ("position", "size") if a in attrs]


def _colors(parts: list[Part]) -> str:
    return ", ".join(sorted({p.color for p in parts})) or "none"


def _shapes(parts: list[Part]) -> str:
    return ", ".join(p.shape for p in parts)


def verify(image: Path | str | np.ndarray, attrs: dict[str, Any]) -> Verdict:
    """The verdict on a drawing (a PNG path or an RGB array) of the shape concept ``attrs``."""
    rgb = read_rgb(image) if not isinstance(image, np.ndarray) else image
    try:
        parts = find_parts(rgb)
    except TooManyParts as exc:
        reason = f"{exc}: not a drawing of shapes"
        checks = dict.fromkeys(_attributes(attrs), False)
        return Verdict(checks, dict.fromkeys(checks, reason), [], attrs)
    return verify_parts(parts, attrs)

"""SVG: one self-contained document, rendered by cairosvg (renderers/svg.py)."""

from __future__ import annotations

import re

from vad.concepts.reference import HEX, PLAIN, STROKE, Style, polygon
from vad.languages.base import Language, Prim, register_language

_TAG = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<[?!][^>]*>|<(/?)([A-Za-z][\w:.-]*)[^>]*?(/?)>",
                  re.S)  # fmt: skip


def repair(code: str, notes: list[str]) -> str | None:
    """From ``<svg`` to ``</svg>``; a truncated document has its open elements closed."""
    start = code.find("<svg")
    if start < 0:
        return None
    if code[:start].strip():
        notes.append("dropped text before <svg")
    code = code[start:]
    end = code.rfind("</svg>")
    if end >= 0:
        if code[end + 6 :].strip():
            notes.append("dropped text after </svg>")
        return code[: end + 6]
    # Truncated: cut a partial tag, then close every element still open.
    last_open, last_close = code.rfind("<"), code.rfind(">")
    if last_open > last_close:
        code = code[:last_open]
        notes.append("cut a partial tag at the end")
    stack: list[str] = []
    for match in _TAG.finditer(code):
        closing, name, selfclosing = match.group(1), match.group(2), match.group(3)
        if not name or selfclosing:
            continue
        if closing:
            if name in stack:
                while stack and stack.pop() != name:
                    pass
        else:
            stack.append(name)
    notes.append(f"closed a truncated svg ({len(stack)} open elements)")
    return code.rstrip() + "".join(f"</{name}>" for name in reversed(stack))


def strip_hints(code: str) -> str:
    code = re.sub(r"<!--.*?-->", "", code, flags=re.S)
    return re.sub(r"<(title|desc)\b[^>]*>.*?</\1\s*>", "", code, flags=re.S | re.I)


def reference(prims: list[Prim], size: int = 224, style: Style = PLAIN) -> str:
    background = style.background or "white"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}">',
             f'<rect width="{size}" height="{size}" fill="{background}"/>']  # fmt: skip
    for shape, color, cx, cy, r in prims:
        if style.outline:
            paint = f'fill="none" stroke="{HEX[color]}" stroke-width="{STROKE * size:.2f}"'
        else:
            paint = f'fill="{HEX[color]}"'
        if shape == "circle":
            parts.append(
                f'<circle cx="{cx * size:.1f}" cy="{cy * size:.1f}" r="{r * size:.1f}" {paint}/>'
            )
        elif shape == "ellipse":
            # SVG turns clockwise as seen (its y grows downwards)
            turn = (f' transform="rotate({-style.angle:g} {cx * size:.1f} {cy * size:.1f})"'
                    if style.angle else "")  # fmt: skip
            parts.append(
                f'<ellipse cx="{cx * size:.1f}" cy="{cy * size:.1f}" '
                f'rx="{r * size:.1f}" ry="{r * size * 0.6:.1f}"{turn} {paint}/>'
            )
        else:
            pts = " ".join(f"{x * size:.1f},{y * size:.1f}"
                           for x, y in polygon(shape, cx, cy, r, style.angle) or [])  # fmt: skip
            parts.append(f'<polygon points="{pts}" {paint}/>')
    return "\n".join([*parts, "</svg>"])


_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
SVG = register_language(Language(
    name="svg", display="SVG", module="svg", suffix=".svg",
    fences=("svg", "xml", "html", "svg+xml"), markers=("<svg",),
    repair=repair, strip_hints=strip_hints, reference=reference, comment=("<!--", "-->"),
    probes={  # SVG has no loops, processes or files of its own: entities and links only
        "read_outside": f'<!DOCTYPE s [<!ENTITY x SYSTEM "file://@SECRET_FILE@">]>{_OPEN}'
                        '<text x="5" y="50">&x;</text></svg>',
        "network": f'{_OPEN}<image href="@URL@" width="100" height="100"/></svg>',
    },
    bench_target=">= 0.5x in-process img/s jailed",
))  # fmt: skip

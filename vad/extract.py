"""Pull drawing code out of model replies, and record how it was found.

Replies of small models are messy: fences left open because the reply hit the token
limit, info strings like "svg code", chatter before and after the code, several
blocks. Each extraction says which method found the code and what it had to repair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([^\n`]*)$")
_SVG_TAG = re.compile(
    r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<[?!][^>]*>|<(/?)([A-Za-z][\w:.-]*)[^>]*?(/?)>", re.S
)
_TIKZ_BEGIN, _TIKZ_END = r"\begin{tikzpicture}", r"\end{tikzpicture}"

LANG_MARKERS = {
    "svg": ("<svg",),
    "matplotlib": ("matplotlib", "plt.", "import numpy"),
    "tikz": (_TIKZ_BEGIN, "\\draw", "\\fill", "\\node"),
    "p5": ("createCanvas", "function setup", "function draw"),
    "processing": ("void setup", "void draw", "size("),
}


@dataclass(frozen=True)
class Extraction:
    """The code found in a reply (None if none), the method, and any repairs made."""

    code: str | None
    method: str
    notes: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, object]:
        return {"method": self.method, "notes": self.notes}


def _fenced_blocks(text: str) -> list[tuple[str, str, bool]]:
    """``(info, body, closed)`` for every fenced block, in order."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match.group(1), match.group(2).strip()
        body, i, closed = [], i + 1, False
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * 3) and set(stripped) <= {fence[0]}:
                closed = True
                i += 1
                break
            body.append(lines[i])
            i += 1
        blocks.append((info, "\n".join(body), closed))
    return blocks


def _mentions(lang: str, text: str) -> bool:
    return any(marker in text for marker in LANG_MARKERS.get(lang, ()))


def _repair_svg(code: str, notes: list[str]) -> str | None:
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
    for match in _SVG_TAG.finditer(code):
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


def _repair_python(code: str, notes: list[str]) -> str | None:
    lines = code.rstrip().split("\n")
    first = next((i for i, ln in enumerate(lines) if re.match(r"\s*(import|from)\s+\w", ln)), None)
    if first is None:
        first = 0
    elif first > 0:
        notes.append("dropped text before the first import")
        lines = lines[first:]
    for cut in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:cut])
        try:
            compile(candidate, "<drawing>", "exec")
        except SyntaxError:
            continue
        if cut < len(lines):
            notes.append(f"dropped {len(lines) - cut} trailing lines that did not parse")
        return candidate
    notes.append("code does not parse")
    return "\n".join(lines)


def _repair_tikz(code: str, notes: list[str]) -> str | None:
    doc = re.search(r"\\begin\{document\}(.*?)(\\end\{document\}|$)", code, re.S)
    if doc:
        code = doc.group(1)
        notes.append("took the body of a full LaTeX document")
    if _TIKZ_BEGIN not in code and re.search(r"\\tikzpicture\b", code):
        code = re.sub(r"\\tikzpicture\b", lambda _: _TIKZ_BEGIN, code, count=1)
        code = re.sub(r"\\endtikzpicture\b", lambda _: _TIKZ_END, code, count=1)
        notes.append("read plain \\tikzpicture as \\begin{tikzpicture}")
    start = code.find(_TIKZ_BEGIN)
    if start < 0:
        if not _mentions("tikz", code):
            return None
        notes.append("wrapped commands in a tikzpicture")
        return f"{_TIKZ_BEGIN}\n{code.strip()}\n{_TIKZ_END}"
    if code[:start].strip():
        notes.append("dropped text before \\begin{tikzpicture}")
    code = code[start:]
    end = code.find(_TIKZ_END)
    if end >= 0:
        if code[end + len(_TIKZ_END) :].strip():
            notes.append("dropped text after \\end{tikzpicture}")
        return code[: end + len(_TIKZ_END)]
    body = code[len(_TIKZ_BEGIN) :]
    cut = body.rfind(";")
    body = body[: cut + 1] if cut >= 0 else ""
    notes.append("closed a truncated tikzpicture")
    return f"{_TIKZ_BEGIN}{body}\n{_TIKZ_END}"


_REPAIR = {"svg": _repair_svg, "matplotlib": _repair_python, "tikz": _repair_tikz}


def _finish(lang: str, code: str, method: str, notes: list[str]) -> Extraction:
    repair = _REPAIR.get(lang)
    fixed = repair(code, notes) if repair else code
    if fixed is None or not fixed.strip():
        return Extraction(None, "none", [*notes, f"no {lang} code found"])
    return Extraction(fixed, method, notes)


def extract_chat(reply: str, lang: str) -> Extraction:
    """Find the ``lang`` code in a chat reply: fenced blocks first, then bare code."""
    notes: list[str] = []
    blocks = _fenced_blocks(reply or "")
    if blocks:
        matching = [b for b in blocks if _mentions(lang, b[1])]
        info, body, closed = matching[0] if matching else max(blocks, key=lambda b: len(b[1]))
        if len(blocks) > 1:
            notes.append(f"picked 1 of {len(blocks)} fenced blocks")
        if info:
            notes.append(f"info string {info!r}")
        return _finish(lang, body, "fenced" if closed else "fenced-unclosed", notes)
    if not _mentions(lang, reply or ""):
        return Extraction(None, "none", [f"no {lang} code found"])
    return _finish(lang, reply, "bare", notes)


def extract_completion(
    reply: str, lang: str, code_start: str, code_end: str, stop: list[str], truncated: bool
) -> Extraction:
    """Rebuild code from a completion that continued ``code_start`` up to a stop sequence."""
    notes: list[str] = []
    text = reply or ""
    cuts = [text.find(s) for s in [*stop, "```"] if s and s in text]
    if cuts:
        text = text[: min(cuts)]
        notes.append("cut at a stop sequence")
    code = code_start + text
    if truncated:
        notes.append("reply hit the token limit")
    elif code_end and not code.rstrip().endswith(code_end):
        code = code.rstrip() + "\n" + code_end
    return _finish(lang, code, "completion", notes)

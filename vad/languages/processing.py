"""Processing (Java mode): Processing.js in headless Chromium in a jail of its own
(renderers/pde.py)."""

from __future__ import annotations

import re

from vad.concepts.reference import PLAIN, Style
from vad.languages import _sketch
from vad.languages.base import Language, Prim, register_language

# A sketch's first line: a comment, an import, a class, a function, or a declaration
# (int[] xs = ..., float x, y;, ArrayList<Ball> balls = ..., Drop[] drops;): a type, a
# name, then "=", ";", "(" or "[" (or "," after a primitive type); prose before the
# code ("In short, ...") does not read so.
_PRIMITIVE = r"(?:int|float|double|long|short|byte|char|boolean|color|String)"
_GENERIC = r"(?:\s*<[^<>;]*(?:<[^<>;]*>)?[^<>;]*>)?"
STARTS = re.compile(
    r"\s*(?://|/\*|import\s|(?:(?:final|static|public|private|abstract)\s+)*"
    r"(?:void\b|class\s|interface\s"
    rf"|{_PRIMITIVE}(?:\s*\[\s*\])*\s+[A-Za-z_]\w*\s*[=;,(\[]"
    rf"|[A-Za-z_][\w.]*{_GENERIC}(?:\s*\[\s*\])*\s+[A-Za-z_]\w*\s*[=;(\[]))"
)


def repair(code: str, notes: list[str]) -> str | None:
    return _sketch.repair(code, notes, STARTS)


def reference(prims: list[Prim], size: int = 224, style: Style = PLAIN) -> str:
    return _sketch.reference(prims, ["void setup() {", f"  size({size}, {size});"], size, style)


PROCESSING = register_language(Language(
    name="processing", display="Processing", module="pde", suffix=".pde",
    aliases=("pde",), fences=("java", "processing", "pde"),
    markers=("void setup", "void draw", "size("),
    repair=repair, strip_hints=_sketch.strip_comments, reference=reference,
    comment=("//", ""),
    job_proc=True, syscalls="browser", limits=_sketch.CHROMIUM_LIMITS,
    jail_paths=_sketch.CHROMIUM_PATHS,
    prepare_host=_sketch.prepare_host, unavailable=lambda: _sketch.installed("processing-js"),
    probes=_sketch.probes("void setup() {\n  size(64, 64);"),
    bench_target="none (measured)",
))  # fmt: skip

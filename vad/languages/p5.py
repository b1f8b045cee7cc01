"""p5.js: a sketch run in headless Chromium in a jail of its own (renderers/p5js.py)."""

from __future__ import annotations

from vad.concepts.reference import PLAIN, Style
from vad.languages import _sketch
from vad.languages.base import Language, Prim, register_language

STARTS = ("function", "let ", "const ", "var ", "//", "/*", "class ", "new p5")


def repair(code: str, notes: list[str]) -> str | None:
    return _sketch.repair(code, notes, STARTS)


def reference(prims: list[Prim], size: int = 224, style: Style = PLAIN) -> str:
    return _sketch.reference(prims, ["function setup() {", f"  createCanvas({size}, {size});"],
                             size, style)  # fmt: skip


P5 = register_language(Language(
    name="p5", display="p5.js", module="p5js", suffix=".js",
    aliases=("p5js",), fences=("javascript", "js", "p5", "p5js"),
    markers=("createCanvas", "function setup", "function draw"),
    repair=repair, strip_hints=_sketch.strip_comments, reference=reference,
    comment=("//", ""),
    job_proc=True, syscalls="browser", limits=_sketch.CHROMIUM_LIMITS,
    jail_paths=_sketch.CHROMIUM_PATHS,
    prepare_host=_sketch.prepare_host, unavailable=lambda: _sketch.installed("p5"),
    probes=_sketch.probes("function setup() {\n  createCanvas(64, 64);"),
    bench_target="none (measured)",
))  # fmt: skip

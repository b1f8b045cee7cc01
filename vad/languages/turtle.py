"""turtle: a Python turtle script, drawn by the standard library's turtle on a recording
stand-in for Tk and rasterised from SVG (renderers/pyturtle.py)."""

from __future__ import annotations

from vad.concepts.reference import HEX, PLAIN, STROKE, Style, ellipse_points, polygon
from vad.languages._python import python_probes, repair_python, strip_python_comments
from vad.languages.base import Language, Prim, register_language


def reference(prims: list[Prim], size: int = 400, style: Style = PLAIN) -> str:
    lines = ["import turtle", "screen = turtle.Screen()", f"screen.setup({size}, {size})",
             "screen.tracer(0)", "t = turtle.Turtle()", "t.hideturtle()", "t.penup()"]  # fmt: skip
    if style.background:
        lines.append(f"screen.bgcolor('{style.background}')")
    if style.outline:
        lines.append(f"t.pensize({STROKE * size:.1f})")
    # outline: the pen goes down around the part (and back to its start, closing it)
    begin, end = ("t.begin_fill()", "t.end_fill()")
    if style.outline:
        begin, end = "t.pendown()", "t.penup()"

    def xy(px: float, py: float) -> str:  # unit canvas (y down) to turtle's (origin centred)
        return f"{(px - 0.5) * size:.1f}, {(0.5 - py) * size:.1f}"

    for shape, color, cx, cy, r in prims:
        lines.append(f"t.{'pencolor' if style.outline else 'fillcolor'}('{HEX[color]}')")
        if shape == "circle":
            lines += [f"t.goto({xy(cx, cy + r)})", "t.setheading(0)", begin,
                      f"t.circle({r * size:.1f})", end]  # fmt: skip
            continue
        if shape == "ellipse":
            pts = ellipse_points(cx, cy, r, style.angle)
        else:
            pts = polygon(shape, cx, cy, r, style.angle) or []
        lines += [f"t.goto({xy(*pts[0])})", begin]
        lines += [f"t.goto({xy(*p)})" for p in pts[1:]]
        if style.outline:
            lines.append(f"t.goto({xy(*pts[0])})")
        lines.append(end)
    return "\n".join([*lines, "screen.update()", "turtle.done()"]) + "\n"


TURTLE = register_language(Language(
    name="turtle", display="Python (turtle)", module="pyturtle", suffix=".py",
    fences=("python", "py", "python3", "turtle"),
    markers=("import turtle", "from turtle", "turtle.", ".forward(", ".circle("),
    repair=repair_python, strip_hints=strip_python_comments, reference=reference,
    comment=("#", ""), guard="python-audit",
    probes=python_probes("import turtle\nturtle.pensize(9)\nturtle.forward(200)"),
    bench_target=">= 10 images/s per core jailed",
))  # fmt: skip

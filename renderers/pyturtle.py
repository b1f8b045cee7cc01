"""Python turtle renderer: the standard library's turtle on a recording stand-in for tkinter.

``preload`` installs renderers/_tkstub.py as ``tkinter`` (so this works where python3-tk
is absent, and the real Tk is never reached) and imports turtle, whose geometry and
state machine (circles, fills, headings, ``mode``, ``degrees``/``radians``, colour
checks) are then CPython's own. The code runs as ``__main__`` in the forked job; time
is virtual (``after``/``ontimer`` delays and ``time.sleep`` return at once, timers run
in time order in ``mainloop``/``done``/``exitonclick`` and when the program ends, and an
endless timer chain spins until the job's timeout). The picture is the turtle window's
visible area (default 960 x 810, see _tkstub.py; ``setup(w, h)`` sets it), written as
SVG and rasterised with cairosvg at width x height, scaled to fit on white.

What the window would show is what is drawn, turtle's quirks included: with
``tracer(0)`` and no ``update()`` the last stretch of each turtle's line is not on the
canvas yet, and a visible turtle is drawn (but alone, as turtle's default arrow, it
counts as nothing drawn: "empty_image"). An exception, ``turtle.Terminator`` and
SystemExit included, is a "runtime_error".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from _protocol import BLOCKED, EMPTY, TOO_LARGE, RenderFailure, run_script

VERSION = "turtle-2"
CHECKS_BLANK = True  # render() reports a flat image itself
MAX_POINTS = 200_000  # canvas points in all items: more takes cairosvg too long
MAX_SVG_BYTES = 16 << 20
# As in svg.py: the canvas writes none, but the code may have patched the writer.
_EXTERNAL = re.compile(
    r"""(?:href\s*=\s*["']|url\(\s*["']?|@import\s+["']?)\s*(?!#|data:)[a-z][a-z0-9+.-]*:""",
    re.I,
)

_WARM_UP = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="-50 -50 100 100">'
    '<polygon points="0,0 40,0 40,-40" fill="#ff0000" fill-rule="evenodd"/>'
    '<polyline points="-40,0 0,30" fill="none" stroke="#0000ff" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round"/>'
    '<text x="0" y="0" font-family="Arial" font-size="11" fill="#000000">Warm 0123</text>'
    '<text x="0" y="20" font-family="Courier" font-size="11" font-weight="bold">up</text></svg>'
)


_MISSING: list[str] = []  # why this Python cannot draw turtle (a machine's fault: "crash")


def unavailable() -> str:
    """Why this worker cannot draw turtle ("" when it can): the job's supervisor answers
    "crash" itself, since a job's own result may never claim it."""
    return _MISSING[0] if _MISSING else ""


def preload() -> None:
    import _tkstub

    _tkstub.install()
    try:
        import turtle  # on the stand-in, once, before any job
    except ImportError as exc:  # a Python without turtle.py: every other language still works
        _MISSING.append(f"this Python has no turtle module: {exc}")
    else:
        turtle.RawTurtle._goto = _without_animation(turtle.RawTurtle._goto)
        turtle.RawTurtle._rotate = _without_animation(turtle.RawTurtle._rotate)
        turtle.TurtleScreen.update = _framed(turtle.TurtleScreen.update)

    import cairosvg.parser
    import cairosvg.surface  # noqa: F401

    warm()  # fonts, glyph caches and the PNG writer, warm in the parent


def warm() -> None:
    """Rasterise a small drawing (in the zygote, and again in each job's process while it
    waits for its job, so that the pages a render writes are its own already)."""
    _rasterise(_WARM_UP, 64, 64)


def _without_animation(method: Callable[..., Any]) -> Callable[..., Any]:
    """A turtle move or turn without its animation frames: the canvas ends the same.

    At a speed other than 0 (and tracer 1) turtle draws each move in hops, and each
    turn in steps, that the end of the move replaces; no one sees them here, and they
    cost up to ten times the drawing's own time.
    """

    @functools.wraps(method)
    def run(self: Any, *args: Any) -> Any:
        speed = self._speed
        self._speed = 0
        try:
            return method(self, *args)
        finally:
            self._speed = speed

    return run


def _framed(update: Callable[..., Any]) -> Callable[..., Any]:
    """A program's own screen update() is a frame of virtual time (see _tkstub.frame):
    a loop that animates by itself forever ends a minute in, drawn as it stands."""
    import _tkstub

    @functools.wraps(update)
    def run(self: Any) -> None:
        update(self)
        _tkstub.frame()

    return run


def _rasterise(svg: str, width: int, height: int):  # -> cairosvg PNGSurface
    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface

    tree = Tree(bytestring=svg.encode("utf-8"), unsafe=False)
    return PNGSurface(
        tree, None, 96, output_width=width, output_height=height, background_color="white"
    )


def _sleep(seconds: float) -> None:
    """time.sleep in drawing code: time is virtual, it returns at once."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")


def _cursors(turtle) -> dict[int, set[int]]:
    """Canvas item ids of the turtles shown as turtle's default arrow, by id() of the canvas.

    A turtle given another shape ("circle", "turtle", a registered one) is a drawing: a
    sprite, a ball. The default arrow alone is not.
    """
    found: dict[int, set[int]] = {}
    try:
        screens = [*turtle.RawTurtle.screens, turtle.Turtle._screen]  # the Screen() is not listed
        for screen in filter(None, screens):
            canvas = getattr(screen.cv, "_canvas", screen.cv)
            ids = found.setdefault(id(canvas), set())
            for pen in list(screen._turtles):
                if pen.turtle.shapeIndex != "classic":
                    continue
                item = pen.turtle._item
                ids.update(item if isinstance(item, list | tuple) else [item])
    except Exception:  # the code may have broken turtle's internals: no cursor known
        pass
    return found


def _window_canvas(turtle):
    """The canvas whose window shows the drawing: the last one drawn on, open ones first."""
    import _tkstub

    cursors = _cursors(turtle)
    drawn = [
        c for c in _tkstub.CANVASES if c.drawn_items(cursors.get(id(c), ())) > 0
    ]  # fmt: skip
    open_ = [c for c in drawn if not (c._destroyed or c.winfo_toplevel()._destroyed)]
    return (open_ or drawn or [None])[-1]


def render(code: str, out_png: str, width: int, height: int) -> None:
    if _MISSING:
        raise RenderFailure("crash", _MISSING[0])
    import time
    import turtle

    import _tkstub

    _tkstub.reset()
    time.sleep = _sleep
    terminated = "Terminator: turtle graphics used after the window was closed (bye())"
    run_script(code, _tkstub.mainloop,  # timers still queued when the program ends
               ((turtle.Terminator, terminated),), ends=(_tkstub.TimeIsUp,))  # fmt: skip
    canvas = _window_canvas(turtle)
    if canvas is None:
        raise RenderFailure(EMPTY, "nothing was drawn")
    if canvas.point_count() > MAX_POINTS:
        raise RenderFailure(TOO_LARGE, f"the drawing has more than {MAX_POINTS} points")
    svg = canvas.to_svg(width, height)
    if len(svg) > MAX_SVG_BYTES:
        raise RenderFailure(TOO_LARGE, "the drawing is too large")
    if _EXTERNAL.search(svg) or "<!" in svg:
        raise RenderFailure(BLOCKED, "the drawing refers to something outside it")
    surface = _rasterise(svg, width, height)
    data = bytes(surface.cairo.get_data())
    if data == data[:4] * (len(data) // 4):
        raise RenderFailure(EMPTY, "the image is a single flat colour")
    surface.cairo.write_to_png(out_png)

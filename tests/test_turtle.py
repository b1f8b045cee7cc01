"""Python turtle: the stand-in for tkinter and its SVG (in this process), and drawings,
failures and hostile code through the jailed pool.

The unit tests import the standard library's turtle afresh on renderers/_tkstub.py (as
the worker's preload does) and put the real modules back afterwards.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from vad.render import Limits, RenderPool, RenderStatus

S = RenderStatus
RENDERERS = Path(__file__).resolve().parent.parent / "renderers"
SECRET = "sk-turtle-hostile-0123456789"


# -- the stand-in, in this process ----------------------------------------------------


def _tk_modules() -> list[str]:
    return [m for m in sys.modules if m in ("turtle", "tkinter", "_tkinter") or
            m.startswith("tkinter.")]  # fmt: skip


@pytest.fixture
def stub() -> Iterator[tuple[ModuleType, ModuleType, ModuleType]]:
    """(turtle on the stand-in, _tkstub, pyturtle); the real modules come back after."""
    saved = {name: sys.modules.pop(name) for name in _tk_modules()}
    sys.path.insert(0, str(RENDERERS))
    try:
        import _tkstub
        import pyturtle

        _tkstub.install()
        _tkstub.reset()
        yield importlib.import_module("turtle"), _tkstub, pyturtle
    finally:
        for name in _tk_modules():
            del sys.modules[name]
        sys.modules.update(saved)
        sys.path.remove(str(RENDERERS))


def _canvas(tk: ModuleType):  # the canvas turtle drew on
    (canvas,) = tk.CANVASES
    return canvas


def _png(pyturtle: ModuleType, svg: str, w: int, h: int, path: Path) -> np.ndarray:
    pyturtle._rasterise(svg, w, h).cairo.write_to_png(str(path))
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def test_forward_100_maps_to_the_centre_right_of_a_400x400_window(stub, tmp_path) -> None:
    turtle, tk, pyturtle = stub
    turtle.setup(400, 400)
    turtle.hideturtle()
    turtle.pensize(4)
    turtle.forward(100)
    canvas = _canvas(tk)
    assert canvas.window() == (-200, -200, 400, 400)  # origin at the window's centre
    svg = canvas.to_svg(400, 400)
    assert 'viewBox="-200 -200 400 400"' in svg
    assert re.search(r'<polyline points="0,0 100,0" fill="none" stroke="#000000" '
                     r'stroke-width="4"', svg), svg  # fmt: skip
    rgb = _png(pyturtle, svg, 400, 400, tmp_path / "f.png")
    assert (rgb[200, 205:295] < 60).all()  # black from the centre to 3/4 of the width
    assert (rgb[200, 100:195] == 255).all() and (rgb[200, 305:] == 255).all()
    assert (rgb[190, 200:300] == 255).all()  # y up: nothing above or below the line


def test_the_default_window_is_half_by_three_quarters_of_a_full_hd_screen(stub) -> None:
    turtle, tk, _ = stub
    screen = turtle.Screen()
    assert (tk.SCREEN_WIDTH, tk.SCREEN_HEIGHT) == (1920, 1080)
    assert (screen.window_width(), screen.window_height()) == (960, 810)
    assert _canvas(tk).window() == (-480, -405, 960, 810)
    screen.setup(width=1.0, height=1.0)
    assert _canvas(tk).window() == (-960, -540, 1920, 1080)


def test_y_grows_upwards_and_left_turns_counterclockwise(stub) -> None:
    turtle, tk, _ = stub
    turtle.setup(400, 400)
    turtle.speed(0)
    turtle.left(90)
    turtle.forward(50)  # up the screen: canvas y is -50
    turtle.setheading(180)
    turtle.forward(30)
    line = [c for c in _canvas(tk).find_all() if _canvas(tk).type(c) == "line"]
    coords = [_canvas(tk).coords(i) for i in line]
    assert [0.0, 0.0, 0.0, -50.0, -30.0, -50.0] in [[round(v, 6) for v in c] for c in coords]


def test_setworldcoordinates_frames_the_world_as_tk_does(stub) -> None:
    turtle, tk, _ = stub
    turtle.setup(400, 400)
    turtle.setworldcoordinates(0, 0, 100, 100)
    turtle.hideturtle()
    turtle.penup()
    turtle.goto(50, 50)
    turtle.dot(10, "red")
    # The world is 380 x 380 canvas pixels (the window less 20), kept in the window by
    # Tk's confine: its lower left corner 20 pixels in from the left and the bottom.
    assert _canvas(tk).window() == (-20, -380, 400, 400)
    assert '<circle cx="190" cy="-190" r="5" fill="#ff0000"/>' in _canvas(tk).to_svg(100, 100)


def test_colours_are_tks(stub) -> None:
    turtle, tk, _ = stub
    assert tk.parse_color("Light Blue") == tk.parse_color("lightblue") == (173, 216, 230)
    assert tk.parse_color("green") == (0, 255, 0)  # X11's green, not the web's
    assert tk.parse_color("crimson") == (220, 20, 60)
    assert tk.parse_color("#fff") == (240, 240, 240)  # X11: the digits are the high bits
    assert tk.parse_color("#123456789abc") == (0x12, 0x56, 0x9A)
    turtle.colormode(255)
    turtle.pencolor(255, 128, 0)
    assert turtle.pencolor() == (255, 128, 0)
    with pytest.raises(turtle.TurtleGraphicsError, match="bad color string"):
        turtle.fillcolor("reddish")


def test_fills_dots_stamps_and_text_in_the_svg(stub) -> None:
    turtle, tk, _ = stub
    turtle.setup(400, 400)
    turtle.color("blue", "yellow")
    turtle.begin_fill()
    turtle.circle(50, steps=4)  # a diamond: turtle's own circle geometry
    turtle.end_fill()
    turtle.dot(20, "red")
    turtle.stamp()
    turtle.penup()
    turtle.goto(-100, 100)
    turtle.write("Hi & <bye>", align="center", font=("Courier", 24, "bold"))
    svg = _canvas(tk).to_svg(200, 200)
    (fill,) = re.findall(r'<polygon points="([^"]+)" fill="#ffff00" fill-rule="evenodd" '
                         r'stroke="none"', svg)  # fmt: skip
    assert fill == "0,0 50,-50 0,-100 -50,-50 0,0"
    assert '<circle cx="0" cy="0" r="10" fill="#ff0000"/>' in svg
    assert svg.count('fill="#ffff00"') == 3  # the fill, the stamp and the turtle itself
    text = re.search(r"<text [^>]*>Hi &amp; &lt;bye&gt;</text>", svg)
    assert text, svg
    for attr in ('x="-101"', 'font-family="Courier"', 'font-size="32"', 'font-weight="bold"',
                 'fill="#0000ff"', 'text-anchor="middle"'):  # fmt: skip
        assert attr in text.group(0)


def test_turtles_own_shapes_are_drawn_but_are_not_a_drawing(stub) -> None:
    turtle, tk, pyturtle = stub
    pen = turtle.Turtle()
    canvas = _canvas(tk)
    cursors = pyturtle._cursors(turtle)[id(canvas)]
    assert canvas.drawn_items(cursors) == 0 and canvas.drawn_items() == 1
    pen.forward(10)
    assert canvas.drawn_items(cursors) == 1
    pen.hideturtle()
    assert canvas.drawn_items() == 1
    ball = turtle.Turtle(shape="circle")  # a turtle shaped as something is a drawing: a ball
    assert canvas.drawn_items(pyturtle._cursors(turtle)[id(canvas)]) == 2
    ball.hideturtle()
    assert canvas.drawn_items(pyturtle._cursors(turtle)[id(canvas)]) == 1


def test_tracer_0_without_update_leaves_the_last_stretch_off_the_canvas(stub) -> None:
    turtle, tk, _ = stub
    turtle.tracer(0)
    turtle.forward(100)
    assert _canvas(tk).drawn_items() == 0  # as on screen: turtle has not drawn it yet
    turtle.update()
    assert _canvas(tk).drawn_items() == 2  # the line and the turtle


def test_animation_frames_are_skipped_and_the_canvas_ends_the_same(stub) -> None:
    turtle, tk, pyturtle = stub

    def draw() -> str:
        pen = turtle.Turtle()
        pen.speed(1)  # the slowest: many hops and steps
        pen.color("red", "blue")
        pen.begin_fill()
        pen.circle(60)
        pen.end_fill()
        pen.left(30)
        pen.forward(150)
        pen.stamp()
        return _canvas(tk).to_svg(100, 100)

    animated = draw()
    turtle.clearscreen()
    raw = turtle.RawTurtle
    raw._goto = pyturtle._without_animation(raw._goto)  # as the worker's preload does
    raw._rotate = pyturtle._without_animation(raw._rotate)
    assert draw() == animated


def test_timers_run_in_virtual_time(stub, capsys) -> None:
    turtle, tk, _ = stub
    screen = turtle.Screen()
    order = []
    screen.ontimer(lambda: order.append("late"), 5000)
    screen.ontimer(lambda: order.append("soon"), 10)
    screen.ontimer(lambda: 1 / 0, 20)  # printed, as Tk does, and the loop goes on
    started = time.monotonic()
    screen.getcanvas().after(10_000)  # would sleep ten seconds
    turtle.done()
    assert order == ["soon", "late"] and time.monotonic() - started < 1
    assert tk.LOOP.now == 5000
    assert "ZeroDivisionError" in capsys.readouterr().err


def test_the_canvas_accepts_postscript_and_writes_nothing(stub, tmp_path) -> None:
    turtle, _, _ = stub
    target = tmp_path / "drawing.eps"
    assert turtle.getscreen().getcanvas().postscript(file=str(target)) == ""
    assert not target.exists()


# -- through the jailed pool ----------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    os.environ["VAD_HOSTILE_SECRET"] = SECRET
    try:
        with RenderPool(size=1, limits=Limits(timeout_s=5, cpu_s=4, memory_bytes=1 << 30)) as p:
            yield p
    finally:
        del os.environ["VAD_HOSTILE_SECRET"]


def _render(pool: RenderPool, code: str, path: Path, size: int = 200):
    result = pool.render("turtle", code, size, size, path)
    text = f"{result.reason}\n{result.stderr_tail}"
    assert SECRET not in text and "root:x:0:0" not in text
    return result


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def _near(rgb: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.abs(rgb - np.array(colour)).sum(axis=-1) < 60


RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)  # Tk's (X11) green
SQUARE = """
import turtle
screen = turtle.Screen()
screen.setup(400, 400)
t = turtle.Turtle()
t.hideturtle()
t.color("red")
t.begin_fill()
for _ in range(4):
    t.forward(100)
    t.left(90)
t.end_fill()
turtle.done()
"""


@pytest.mark.slow
def test_a_red_square_lands_where_turtle_put_it(pool: RenderPool, tmp_path: Path) -> None:
    result = _render(pool, SQUARE, tmp_path / "s.png")
    assert result.ok, result
    red = _near(_rgb(tmp_path / "s.png"), RED)
    # (0, 0)-(100, 100) in a 400 x 400 window: x 100..150, y 50..100 of a 200 x 200 image
    assert red[52:98, 102:148].all()
    assert not red[:, :98].any() and not red[102:].any() and not red[:48].any()


@pytest.mark.parametrize(
    "code",
    [
        "from turtle import *\nsetup(400, 400)\nspeed(0)\ncolor('blue')\npensize(6)\n"
        "circle(50)\nhideturtle()\ndone()\n",
        "import turtle\nt = turtle.Turtle()\nscreen = turtle.Screen()\nscreen.setup(400, 400)\n"
        "screen.tracer(0)\nt.pencolor('blue')\nt.pensize(6)\nt.circle(50)\nt.hideturtle()\n"
        "screen.update()\nscreen.exitonclick()\n",
        "import turtle\nturtle.setup(400, 400)\nturtle.colormode(255)\nturtle.pencolor(0, 0, 255)"
        "\nturtle.width(6)\nturtle.ht()\nturtle.circle(50, 360, 60)\nturtle.mainloop()\n",
    ],
    ids=["from-import-star", "tracer-0-update", "colormode-255"],
)
def test_a_circle_of_radius_50_above_the_origin(
    pool: RenderPool, tmp_path: Path, code: str
) -> None:
    result = _render(pool, code, tmp_path / "c.png")
    assert result.ok, result
    blue = _near(_rgb(tmp_path / "c.png"), BLUE)
    # centre (0, 50): image (100, 75); radius 50 is 25 pixels
    for y, x in ((100, 100), (50, 100), (75, 75), (75, 125)):
        assert blue[y - 2 : y + 3, x - 2 : x + 3].any(), (y, x)
    assert not blue[75, 85:115].any() and not blue[110:].any()


def test_setup_sets_the_visible_area(pool: RenderPool, tmp_path: Path) -> None:
    small = SQUARE.replace("setup(400, 400)", "setup(200, 200)")
    assert _render(pool, small, tmp_path / "small.png").ok
    red = _near(_rgb(tmp_path / "small.png"), RED)
    assert red[2:98, 102:198].all() and not red[:, :98].any()  # the top right quarter
    wide = SQUARE.replace("setup(400, 400)", "setup(800, 400)")
    assert _render(pool, wide, tmp_path / "wide.png").ok
    rgb = _rgb(tmp_path / "wide.png")
    assert (rgb[:48] == 255).all() and (rgb[152:] == 255).all()  # letterboxed on white
    red = _near(rgb, RED)
    assert red[77:98, 102:123].all() and red.sum() < 30 * 30


def test_setworldcoordinates_frames_the_drawing(pool: RenderPool, tmp_path: Path) -> None:
    code = (
        "import turtle\nscreen = turtle.Screen()\nscreen.setup(400, 400)\n"
        "screen.setworldcoordinates(0, 0, 100, 100)\nt = turtle.Turtle()\nt.hideturtle()\n"
        "t.penup()\nt.fillcolor('green')\nt.begin_fill()\n"
        "for p in [(0, 0), (50, 0), (50, 50), (0, 50)]:\n    t.goto(p)\nt.end_fill()\n"
    )
    assert _render(pool, code, tmp_path / "w.png").ok
    green = _near(_rgb(tmp_path / "w.png"), GREEN)
    # the world's (0, 0)-(50, 50): x 10..105, y 95..190 of the 200 x 200 image
    assert green[97:188, 12:103].all()
    assert not green[:93].any() and not green[:, 107:].any() and not green[:, :8].any()


def test_write_puts_text_on_the_window(pool: RenderPool, tmp_path: Path) -> None:
    code = (
        "import turtle\nturtle.setup(400, 400)\nturtle.hideturtle()\nturtle.penup()\n"
        "turtle.goto(0, -20)\nturtle.color('blue')\n"
        "turtle.write('TURTLE', align='center', font=('Arial', 40, 'bold'))\nturtle.done()\n"
    )
    assert _render(pool, code, tmp_path / "t.png").ok
    blue = _near(_rgb(tmp_path / "t.png"), BLUE)
    rows, cols = np.nonzero(blue)
    assert blue.sum() > 200
    assert rows.min() > 60 and rows.max() < 112  # above the anchor (y -20: image row 110)
    assert abs((cols.min() + cols.max()) / 2 - 100) < 6  # centred on x 0


def test_bgcolor_fills_the_window(pool: RenderPool, tmp_path: Path) -> None:
    code = (
        "import turtle\nscreen = turtle.Screen()\nscreen.setup(400, 300)\n"
        "screen.bgcolor('blue')\nt = turtle.Turtle()\nt.hideturtle()\nt.dot(40, 'white')\n"
    )
    assert _render(pool, code, tmp_path / "b.png").ok
    rgb = _rgb(tmp_path / "b.png")
    blue = _near(rgb, BLUE)
    assert blue[26:174].sum() > 0.9 * 148 * 200  # the window: 400 x 300 scaled to 200 x 150
    assert (rgb[:24] == 255).all() and (rgb[176:] == 255).all()  # white around it
    assert (rgb[100, 100] == 255).all()  # the dot


def test_an_ontimer_animation_runs_to_its_end(pool: RenderPool, tmp_path: Path) -> None:
    code = (
        "import turtle\nscreen = turtle.Screen()\nscreen.setup(400, 400)\nt = turtle.Turtle()\n"
        "t.hideturtle()\nt.color('red')\nt.pensize(10)\nsteps = []\n"
        "def step():\n    t.forward(20)\n    steps.append(1)\n"
        "    if len(steps) < 5:\n        screen.ontimer(step, 500)\n"
        "screen.ontimer(step, 500)\nimport time\ntime.sleep(30)\nturtle.done()\n"
    )
    result = _render(pool, code, tmp_path / "a.png")
    assert result.ok, result
    red = _near(_rgb(tmp_path / "a.png"), RED)
    assert red[100, 102:148].all() and not red[100, 155:].any()  # 5 x 20 = 100: x 100..150


def test_a_clock_ticking_forever_is_shown_a_minute_in(pool: RenderPool, tmp_path: Path) -> None:
    """A timer that schedules itself forever (turtledemo's clock): the loop stops a
    minute into virtual time and the window is drawn as it is then."""
    code = (
        "import turtle\nscreen = turtle.Screen()\nscreen.setup(400, 400)\nt = turtle.Turtle()\n"
        "t.hideturtle()\nt.color('red')\nt.pensize(10)\nticks = []\n"
        "def tick():\n    ticks.append(1)\n    if len(ticks) == 3:\n        t.forward(50)\n"
        "    screen.ontimer(tick, 100)\n"
        "tick()\nturtle.mainloop()\n"
    )
    result = _render(pool, code, tmp_path / "clock.png")
    assert result.ok, result
    red = _near(_rgb(tmp_path / "clock.png"), RED)
    assert red[100, 102:123].all() and not red[100, 130:].any()  # 50 of 400: 25 px


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("import turtle\nt = turtle.Turtle()\nturtle.done()\n", S.EMPTY_IMAGE, "nothing"),
        ("import turtle\nturtle.bgcolor('red')\n", S.EMPTY_IMAGE, "nothing"),
        ("x = 1\n", S.EMPTY_IMAGE, "nothing"),
        ("import turtle\nturtle.forward(100\n", S.SYNTAX_ERROR, "SyntaxError"),
        ("import turtle\nturtle.forward(100)\nx = 1 / 0\n", S.RUNTIME_ERROR, "ZeroDivisionError"),
        ("import turtle\nturtle.color('reddish')\n", S.RUNTIME_ERROR, "bad color string"),
        ("import turtle\nturtle.forward(10)\nturtle.bye()\nturtle.forward(10)\n",
         S.RUNTIME_ERROR, "Terminator"),
        ("import turtle\nturtle.forward(10)\nraise SystemExit('bye')\n", S.RUNTIME_ERROR,
         "SystemExit: bye"),
    ],
    ids=["turtle-only", "bgcolor-only", "no-turtle", "syntax", "zero-division", "bad-colour",
         "terminator", "system-exit"],
)  # fmt: skip
def test_failures_are_typed(
    pool: RenderPool, tmp_path: Path, code: str, status: RenderStatus, reason: str
) -> None:
    result = _render(pool, code, tmp_path / "x.png")
    assert result.status is status, result
    assert reason in result.reason
    assert result.image is None and not (tmp_path / "x.png").exists()


PS_FILE = "/tmp/vad-turtle-owned.eps"
GOOD = "from turtle import *\ncolor('red')\nbegin_fill()\ncircle(40)\nend_fill()\n"
DRAW = "\nimport turtle\nturtle.forward(100)\n"
HOSTILE = {
    "os-system": ("import os\nos.system('cat /etc/passwd')" + DRAW, {S.BLOCKED}),
    "subprocess": ("import subprocess\nprint(subprocess.run(['env'], capture_output=True))"
                   + DRAW, {S.BLOCKED}),
    "read-passwd": ("import turtle\nturtle.write(open('/etc/passwd').read())" + DRAW,
                    {S.BLOCKED}),
    "read-environ": ("import turtle\nturtle.write(open('/proc/self/environ').read())" + DRAW,
                     {S.BLOCKED}),
    "write-outside": ("open('/tmp/owned', 'w').write('x')" + DRAW, {S.BLOCKED}),
    "socket-connect": ("import socket\nsocket.create_connection(('127.0.0.1', 6000), 1)"
                       + DRAW, {S.BLOCKED}),
    "ontimer-forever": ("import turtle\ns = turtle.Screen()\n"
                        "def tick():\n    turtle.forward(1)\n    s.ontimer(tick, 10)\n"
                        "tick()\nturtle.done()\n", {S.OK}),  # drawn as it stands a minute in
    "forward-forever": ("import turtle\nt = turtle.Turtle()\nwhile True:\n    t.forward(1)\n",
                        {S.TIMEOUT}),
    "many-segments": ("import turtle\nturtle.tracer(0)\nfor i in range(10**7):\n"
                      "    turtle.forward(1)\n    turtle.left(1)\nturtle.update()\n",
                      {S.TIMEOUT, S.MEMORY, S.TOO_LARGE}),
    "huge-line": ("import turtle\ncv = turtle.getcanvas()\ncv.create_line(*range(10**6))\n",
                  {S.TOO_LARGE}),
    "huge-text": ("import turtle\nturtle.write('W' * 10**8)\n", {S.TOO_LARGE, S.MEMORY}),
    "huge-coordinates": ("import turtle\nturtle.goto(1e300, 1e300)\nturtle.goto(-1e300, 5)\n"
                         "turtle.forward(float('inf'))\n", {S.OK, S.RUNTIME_ERROR}),
    "postscript-file": ("import turtle\nturtle.forward(100)\n"
                        f"turtle.Screen().getcanvas().postscript(file={PS_FILE!r})\n"
                        f"turtle.getscreen().getcanvas().postscript(file={PS_FILE!r})\n",
                        {S.OK}),
    "import-_tkinter": ("import _tkinter" + DRAW, {S.RUNTIME_ERROR}),
    "display-env": ("import os\nos.environ['DISPLAY'] = ':0'" + DRAW, {S.BLOCKED}),
    "real-tk-display": ("import sys\nsys.modules.pop('_tkinter', None)\nimport _tkinter\n"
                        "_tkinter.create(':0', 'x', 'Tk', False, True, True, False, None)" + DRAW,
                        {S.RUNTIME_ERROR}),  # no display (or no _tkinter) in the jail
    "real-tkinter": ("import sys\nfor name in ['tkinter', '_tkinter', 'tkinter.constants']:\n"
                     "    sys.modules.pop(name, None)\nimport tkinter\ntkinter.Tk()" + DRAW,
                     {S.RUNTIME_ERROR}),
    "patched-writer": ("import tkinter, turtle\nturtle.forward(50)\n"
                       "tkinter.Canvas.to_svg = lambda self, w, h: '<svg xmlns=\"http://www.w3.org/"
                       "2000/svg\"><image href=\"file:///etc/passwd\" width=\"9\" height=\"9\"/>"
                       "</svg>'\n", {S.BLOCKED}),
    "href-in-text": ("import turtle\nturtle.write('<image href=\"file:///etc/passwd\"/>', "
                     "font=('Arial', 20))\n", {S.OK}),
    "x11-socket": ("import socket\ns = socket.socket(socket.AF_UNIX)\n"
                   "s.connect('/tmp/.X11-unix/X0')" + DRAW, {S.BLOCKED}),
    "print-env": ("import os, turtle\nturtle.write(str(dict(os.environ)))\n"
                  "raise SystemExit(str(dict(os.environ)))", {S.RUNTIME_ERROR}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.slow
def test_hostile_turtle_code_is_contained(pool: RenderPool, tmp_path: Path, case: str) -> None:
    code, expected = HOSTILE[case]
    result = _render(pool, code, tmp_path / "out.png")
    assert result.status in expected, result
    assert not Path("/tmp/owned").exists() and not Path(PS_FILE).exists()
    follow = _render(pool, GOOD, tmp_path / "next.png")
    assert follow.status is S.OK, follow


def test_seconds_per_jailed_render(pool: RenderPool, tmp_path: Path) -> None:
    from vad.concepts import load_concepts
    from vad.languages import reference_program

    codes = [reference_program(c, "turtle") for c in load_concepts(["shapes"], limit=8, seed=1)]
    codes += [SQUARE, GOOD]
    assert _render(pool, GOOD, tmp_path / "warm.png").ok
    started = time.monotonic()
    for i, code in enumerate(codes):
        assert _render(pool, code, tmp_path / f"{i}.png", 224).ok
    per = (time.monotonic() - started) / len(codes)
    print(f"\nturtle: {per:.3f} s per jailed 224 x 224 render ({len(codes)} drawings)")

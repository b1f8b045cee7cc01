"""A stand-in for tkinter under the standard library's turtle: no Tcl, no display.

:func:`install` puts this module in ``sys.modules`` as ``tkinter`` (with
``tkinter.simpledialog``, ``tkinter.messagebox`` and ``tkinter.constants``) and blocks
``_tkinter``, before turtle is imported. turtle's own geometry and state machine then
run unchanged, and every item it makes lands in a :class:`Canvas`, which records it:
kind, coordinates, options (fill, outline, width, font, ...), z-order, and every
later ``coords``/``itemconfigure``/``delete``/``tag_raise`` change. When the program
ends, :meth:`Canvas.to_svg` writes the visible window as SVG.

The window: the screen is SCREEN_WIDTH x SCREEN_HEIGHT (Full HD, the most common
desktop), so turtle's default window (``_CFG``: half the screen's width, three
quarters of its height) is 960 x 810, as on a typical desktop. ``setup(w, h)`` sets the
window; the canvas fills it. Which part of the canvas shows follows Tk: the view is
moved by ``xview_moveto``/``yview_moveto`` and kept inside the scroll region as Tk's
``confine`` does, so turtle's origin is at the window's centre and
``setworldcoordinates`` frames the world as Tk would (its lower left corner 20 pixels
in, turtle asking for a scroll region 20 pixels smaller than the window).

Time is virtual: ``after(ms)`` returns at once; ``after(ms, fn)``/``after_idle(fn)``
queue ``fn``, and :func:`mainloop` runs the queue in time order until it is empty
(or the window is destroyed, or the next callback is due past a minute of virtual
time). An exception in a callback is printed, as Tk does, and the loop goes on;
SystemExit ends it. Events (keys, clicks) never happen.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import os
import re
import sys
import traceback
import types
from collections.abc import Callable, Iterable
from typing import Any, ClassVar
from xml.sax.saxutils import escape, quoteattr

from _tkcolors import COLORS

SCREEN_WIDTH, SCREEN_HEIGHT = 1920, 1080
TkVersion = TclVersion = 8.6
wantobjects = 1
NO = FALSE = OFF = 0
YES = TRUE = ON = 1
MAX_COORD = 1e6  # canvas coordinates are clamped to this (cairo's fixed point overflows)
POINTS_PER_PIXEL = 96 / 72  # Tk's scaling on a 96 dpi X11 screen: font sizes in points
_MAX_FONT_PX = 2000.0
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_CONSTANTS = str.split(
    "n s e w nw sw ne se ns ew nsew center none x y both left top right bottom raised sunken "
    "flat ridge groove solid horizontal vertical numeric char word baseline inside outside "
    "sel sel_first sel_last end insert current anchor all normal disabled active hidden "
    "cascade checkbutton command radiobutton separator single browse multiple extended "
    "dotbox underline pieslice chord arc first last butt projecting round bevel miter "
    "moveto scroll units pages"
)
globals().update({name.upper(): name for name in _CONSTANTS})  # tkinter.constants
__all__ = [name.upper() for name in _CONSTANTS] + str.split(
    "NO FALSE OFF YES TRUE ON TkVersion TclVersion TclError Tk Toplevel Misc Widget Frame "
    "Canvas Scrollbar Button Label Entry Text Menu Scale Checkbutton Radiobutton Listbox "
    "LabelFrame PanedWindow Spinbox Message Menubutton OptionMenu PhotoImage Variable "
    "StringVar IntVar DoubleVar BooleanVar mainloop"
)


class TclError(Exception):
    pass


def __getattr__(name: str) -> Any:
    """tkinter's other widgets (inert)."""
    if name[:1].isupper():
        return Widget
    raise AttributeError(f"module 'tkinter' has no attribute {name!r}")


# -- colours ---------------------------------------------------------------------------


def parse_color(color: object) -> tuple[int, int, int]:
    """A Tk colour as 8-bit (r, g, b); TclError if Tk would not know it."""
    if not isinstance(color, str):
        raise TclError(f'unknown color name "{color}"')
    return _parse_color(str.__str__(color))


@functools.lru_cache(maxsize=1024)
def _parse_color(color: str) -> tuple[int, int, int]:
    text = color.strip()
    if text.startswith("#"):
        digits = text[1:]
        if len(digits) in (3, 6, 9, 12) and all(c in "0123456789abcdefABCDEF" for c in digits):
            n = len(digits) // 3
            # X11: fewer than 16 bits per channel are its most significant bits
            return tuple(int(digits[i * n : (i + 1) * n].ljust(4, "0")[:2], 16) for i in range(3))  # type: ignore[return-value]
        raise TclError(f'invalid color name "{color}"')
    found = COLORS.get(text.replace(" ", "").lower())
    if found is None:
        raise TclError(f'unknown color name "{color}"')
    return int(found[0:2], 16), int(found[2:4], 16), int(found[4:6], 16)


def svg_color(color: object) -> str | None:
    """The SVG colour of a Tk colour option; None for "" (nothing drawn)."""
    if color in ("", None):
        return None
    r, g, b = parse_color(color)
    return f"#{r:02x}{g:02x}{b:02x}"


# -- the event loop (virtual time) -----------------------------------------------------


class _Loop:
    def __init__(self) -> None:
        self.now = 0.0
        self.queue: list[tuple[float, int, str, Callable[..., Any], tuple]] = []
        self.cancelled: set[str] = set()
        self.counter = itertools.count(1)
        self.quit = False
        self.closed = False  # every window was destroyed: mainloop returns at once


LOOP = _Loop()
CANVASES: list[Canvas] = []
_ROOTS: list[Tk] = []
_IDS = itertools.count(1)


def reset() -> None:
    """Forget every window, canvas and timer (a fresh program)."""
    global LOOP
    LOOP = _Loop()
    CANVASES.clear()
    _ROOTS.clear()


def _schedule(ms: object, func: Callable[..., Any] | None, args: tuple) -> str | None:
    if func is None:
        return None  # after(ms) alone would sleep: time is virtual, it returns at once
    try:
        delay = max(0.0, float(ms))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TclError(f'expected integer but got "{ms}"') from None
    n = next(LOOP.counter)
    ident = f"after#{n}"
    heapq.heappush(LOOP.queue, (LOOP.now + delay, n, ident, func, args))
    return ident


# Virtual milliseconds a mainloop runs timers for: a program animated by timers forever
# (a ticking clock) is shown as it is a minute into its time, as its window would be.
VIRTUAL_LIMIT_MS = 60_000.0
FRAME_MS = 1000.0 / 60  # what one explicit screen update() stands for (a frame)


class TimeIsUp(BaseException):
    """Raised by a screen update() past VIRTUAL_LIMIT_MS: a program that animates in a
    loop of its own forever (``while True: ...; update()``) ends there, its window as it
    stands (the renderer takes it as the program's end, not a failure)."""


def frame() -> None:
    """One explicit screen update(): a frame of virtual time, the timers due by then."""
    loop = LOOP
    loop.now += FRAME_MS
    while loop.queue and loop.queue[0][0] <= loop.now and not loop.quit:
        _, _, ident, func, args = heapq.heappop(loop.queue)
        if ident in loop.cancelled:
            loop.cancelled.discard(ident)
            continue
        func(*args)
    if loop.now > VIRTUAL_LIMIT_MS:
        raise TimeIsUp


def mainloop(n: int = 0) -> None:
    """Run queued callbacks in virtual-time order until none is left (or quit), or the
    next is due past VIRTUAL_LIMIT_MS."""
    loop = LOOP
    loop.quit = False
    while loop.queue and not loop.quit and not loop.closed:
        if loop.queue[0][0] > VIRTUAL_LIMIT_MS:
            return
        due, _, ident, func, args = heapq.heappop(loop.queue)
        if ident in loop.cancelled:
            loop.cancelled.discard(ident)
            continue
        loop.now = max(loop.now, due)
        try:
            func(*args)
        except Exception as exc:
            if type(exc).__name__ == "RenderFailure" or isinstance(exc, MemoryError):
                raise
            sys.stderr.write("Exception in Tkinter callback\n")
            traceback.print_exc()


class _App:
    """What ``widget.tk`` is: the Tcl interpreter's few methods that turtle calls."""

    def mainloop(self, n: int = 0) -> None:
        mainloop(n)

    def quit(self) -> None:
        LOOP.quit = True

    def call(self, *args: object) -> str:
        return ""

    eval = call

    def getboolean(self, value: object) -> bool:
        return bool(value)


_APP = _App()


# -- widgets ---------------------------------------------------------------------------

_ALIASES = {"bg": "background", "fg": "foreground", "bd": "borderwidth"}


def _flatten(values: Iterable[Any]) -> list[float]:
    """Coordinates as floats (nested sequences and "x y" strings flattened), clamped."""
    values = list(values)
    try:  # the usual case, turtle's: numbers only
        out = [float(v) for v in values]
        total = sum(out)  # NaN or infinite if any is
        if math.isfinite(total) and (not out or -MAX_COORD <= min(out) <= max(out) <= MAX_COORD):
            return out
    except (TypeError, ValueError):
        pass
    return _flatten_slowly(values)


def _flatten_slowly(values: Iterable[Any]) -> list[float]:
    out: list[float] = []
    for value in values:
        if isinstance(value, str) and " " in value.strip():
            value = value.split()
        if isinstance(value, list | tuple):
            out.extend(_flatten_slowly(value))
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise TclError(f'expected floating-point number but got "{value}"') from None
            if math.isnan(number):
                raise TclError(f'expected floating-point number but got "{value}"')
            out.append(min(MAX_COORD, max(-MAX_COORD, number)))
    return out


def _default_root() -> Tk:
    for root in reversed(_ROOTS):
        if not root._destroyed:
            return root
    return Tk()


class Misc:
    """Everything a widget answers; methods no drawing needs do nothing."""

    _defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, master: Misc | None = None, cnf: dict | None = None, **kw: Any) -> None:
        self.master = master if master is not None or isinstance(self, Tk) else _default_root()
        self.children: dict[str, Misc] = {}
        self._options: dict[str, Any] = dict(self._defaults)
        self._bindings: dict[str, list[Callable[..., Any]]] = {}
        self._managed = False
        self._destroyed = False
        self.configure(cnf, **kw)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _nothing  # winfo_*, wm_*, grid_*, ...: accepted, no effect

    # options
    def configure(self, cnf: dict | None = None, **kw: Any) -> dict | None:
        options = {**(cnf or {}), **kw}
        if not options:
            return dict(self._options)
        for key, value in options.items():
            if value is None:
                continue  # tkinter leaves out options given as None
            key = _ALIASES.get(key, key)
            if key in ("background", "foreground"):
                parse_color(value)
            self._set_option(key, value)
        return None

    config = configure

    def _set_option(self, key: str, value: Any) -> None:
        self._options[key] = value

    def cget(self, key: str) -> Any:
        return self._options.get(_ALIASES.get(key, key), "")

    __getitem__ = cget

    def __setitem__(self, key: str, value: Any) -> None:
        self.configure({key: value})

    def keys(self) -> list[str]:
        return list(self._options)

    # geometry
    def winfo_toplevel(self) -> Misc:
        widget = self
        while widget.master is not None and not isinstance(widget, Tk | Toplevel):
            widget = widget.master
        return widget

    def _size(self) -> tuple[int, int]:
        top = self.winfo_toplevel()
        if self._managed and top is not self and getattr(top, "_geometry", None):
            return top._geometry  # type: ignore[attr-defined]
        return (_pixels(self._options.get("width")), _pixels(self._options.get("height")))

    def winfo_width(self) -> int:
        return self._size()[0]

    def winfo_height(self) -> int:
        return self._size()[1]

    winfo_reqwidth = winfo_width
    winfo_reqheight = winfo_height

    def winfo_screenwidth(self) -> int:
        return SCREEN_WIDTH

    def winfo_screenheight(self) -> int:
        return SCREEN_HEIGHT

    def winfo_rgb(self, color: str) -> tuple[int, int, int]:
        r, g, b = parse_color(color)
        return r * 257, g * 257, b * 257

    def winfo_exists(self) -> int:
        return 0 if self._destroyed else 1

    def winfo_rootx(self) -> int:
        return 0

    winfo_rooty = winfo_x = winfo_y = winfo_rootx

    @property
    def tk(self) -> _App:
        return _APP

    # the event loop
    def after(self, ms: object, func: Callable[..., Any] | None = None, *args: Any) -> str | None:
        return _schedule(ms, func, args)

    def after_idle(self, func: Callable[..., Any], *args: Any) -> str | None:
        return _schedule(0, func, args)

    def after_cancel(self, ident: str) -> None:
        if ident:
            LOOP.cancelled.add(ident)

    def mainloop(self, n: int = 0) -> None:
        mainloop(n)

    def quit(self) -> None:
        LOOP.quit = True

    def update(self) -> None:
        pass

    update_idletasks = update

    # events that never come
    def bind(self, sequence: str | None = None, func: Any = None, add: Any = None) -> str:
        if sequence and func is not None:
            handlers = self._bindings.setdefault(sequence, [])
            if not add:
                handlers.clear()
            handlers.append(func)
        return f"bind{next(_IDS)}"

    def unbind(self, sequence: str, funcid: str | None = None) -> None:
        self._bindings.pop(sequence, None)

    def _fire(self, sequence: str, event: object) -> None:
        for handler in list(self._bindings.get(sequence, ())):
            handler(event)

    # geometry managers: the widget now fills its window
    def pack(self, cnf: dict | None = None, **kw: Any) -> None:
        self._managed = True

    grid = place = pack_configure = grid_configure = pack

    def pack_forget(self) -> None:
        self._managed = False

    grid_forget = place_forget = pack_forget

    def destroy(self) -> None:
        self._destroyed = True


def _nothing(*args: Any, **kw: Any) -> None:
    return None


def _pixels(value: object, default: int = 1) -> int:
    """A Tk screen distance ("400", 400.0, "10c", "2i") in pixels."""
    if value in (None, ""):
        return default
    text = str(value).strip()
    units = {"c": 96 / 2.54, "m": 96 / 25.4, "i": 96.0, "p": 96 / 72}
    scale = units.get(text[-1:], 1.0)
    try:
        number = float(text[:-1] if text[-1:] in units else text)
    except ValueError:
        return default
    if not math.isfinite(number):
        return default
    return max(1, min(1 << 16, int(number * scale)))


class Tk(Misc):
    """A window that never opens: its geometry is the visible area."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(None)
        self._geometry: tuple[int, int] | None = None
        self._title = "tk"
        _ROOTS.append(self)
        LOOP.closed = False

    def geometry(self, new: str | None = None) -> str | None:
        if new is None:
            w, h = self._geometry or (200, 200)
            return f"{w}x{h}+0+0"
        match = re.match(r"\s*=?(-?\d+)x(-?\d+)", str(new))
        if match:
            w, h = (max(1, min(1 << 16, int(v))) for v in match.groups())
            if self._geometry != (w, h):
                self._geometry = (w, h)
                self._fire("<Configure>", types.SimpleNamespace(width=w, height=h, widget=self))
        return None

    wm_geometry = geometry

    def _size(self) -> tuple[int, int]:
        return self._geometry or (200, 200)

    def title(self, text: str | None = None) -> str | None:
        if text is None:
            return self._title
        self._title = str(text)
        return None

    wm_title = title

    def destroy(self) -> None:
        super().destroy()
        if not any(not root._destroyed for root in _ROOTS):
            LOOP.closed = True  # no window is left: the event loop ends


class Toplevel(Tk):
    pass


class Widget(Misc):
    pass


class Frame(Widget):
    pass


Button = Label = Entry = Text = Menu = Scale = Checkbutton = Radiobutton = Listbox = Widget
LabelFrame = PanedWindow = Spinbox = Message = Menubutton = OptionMenu = Widget


class Scrollbar(Widget):
    def set(self, *args: Any) -> None:
        pass

    def get(self) -> tuple[float, float]:
        return (0.0, 1.0)


class Variable:
    _default: Any = ""

    def __init__(self, master: Any = None, value: Any = None, name: str | None = None) -> None:
        self._value = self._default if value is None else value

    def get(self) -> Any:
        return self._value

    def set(self, value: Any) -> None:
        self._value = value

    def trace_add(self, *args: Any) -> str:
        return ""


class StringVar(Variable):
    pass


class IntVar(Variable):
    _default = 0


class DoubleVar(Variable):
    _default = 0.0


class BooleanVar(Variable):
    _default = False


class PhotoImage:
    """Images are not drawn: a blank image (turtle's "blank" shape) or a missing file."""

    def __init__(self, name: str | None = None, cnf: dict | None = None, master: Any = None,
                 **kw: Any) -> None:  # fmt: skip
        options = {**(cnf or {}), **kw}
        path = options.get("file")
        if path is not None:
            if not os.path.isfile(path):
                raise TclError(f'couldn\'t open "{path}": no such file or directory')
            raise TclError(f'couldn\'t read image "{path}": images are not supported here')
        self._w = _pixels(options.get("width"), 0)
        self._h = _pixels(options.get("height"), 0)

    def blank(self) -> None:
        pass

    def width(self) -> int:
        return self._w

    def height(self) -> int:
        return self._h

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _nothing


# -- the canvas ------------------------------------------------------------------------

_ITEM_DEFAULTS: dict[str, dict[str, Any]] = {
    "line": {"fill": "black", "width": 1.0, "capstyle": "butt", "joinstyle": "round"},
    "polygon": {"fill": "black", "outline": "", "width": 1.0, "joinstyle": "round"},
    "oval": {"fill": "", "outline": "black", "width": 1.0},
    "rectangle": {"fill": "", "outline": "black", "width": 1.0},
    "arc": {"fill": "", "outline": "black", "width": 1.0},
    "text": {"fill": "black", "text": "", "font": "TkDefaultFont", "anchor": "center",
             "angle": 0.0},
    "image": {"image": "", "anchor": "center"},
}  # fmt: skip
_NCOORDS = {"line": (4, None), "polygon": (4, None), "oval": (4, 4), "rectangle": (4, 4),
            "arc": (4, 4), "text": (2, 2), "image": (2, 2)}  # fmt: skip
_COLOR_OPTIONS = ("fill", "outline", "activefill", "activeoutline", "disabledfill")


class _Item:
    __slots__ = ("coords", "kind", "options", "tags", "z")

    def __init__(self, kind: str, coords: list[float], options: dict, z: int) -> None:
        self.kind, self.coords, self.options, self.z = kind, coords, options, z
        self.tags: tuple[str, ...] = ()


class Canvas(Widget):
    """Records items; :meth:`to_svg` draws the visible window."""

    _defaults: ClassVar[dict[str, Any]] = {"width": "378", "height": "265", "background": "white",
                 "scrollregion": "", "confine": 1}  # fmt: skip

    def __init__(self, master: Misc | None = None, cnf: dict | None = None, **kw: Any) -> None:
        self._items: dict[int, _Item] = {}
        self._view = [0.0, 0.0]  # canvas coordinates of the window's top left corner
        self._top = 0
        self._bottom = 0
        self._next = itertools.count(1)
        super().__init__(master, cnf, **kw)
        CANVASES.append(self)

    def _set_option(self, key: str, value: Any) -> None:
        self._options[key] = value
        if key == "scrollregion":
            self._confine()

    # the view: Tk's xview moveto and confine (tkCanvas.c: CanvasSetOrigin)
    def _region(self) -> list[float] | None:
        raw = self._options.get("scrollregion")
        if raw in ("", None, ()):
            return None
        try:
            region = _flatten([raw])
        except TclError:
            return None
        return region if len(region) == 4 else None

    def _confine(self) -> None:
        region = self._region()
        if region is None or not self._options.get("confine", 1):
            return
        size = self._size()
        for axis in (0, 1):
            lo, hi = region[axis], region[axis + 2]
            origin = self._view[axis]
            before = origin - lo
            after = hi - (origin + size[axis])
            if before < 0 < after:
                origin += -before if after > -before else after
            elif after < 0 < before:
                origin -= -after if before > -after else before
            self._view[axis] = origin

    def _moveto(self, axis: int, fraction: object) -> None:
        region = self._region()
        if region is None:
            return
        lo, hi = region[axis], region[axis + 2]
        self._view[axis] = lo + math.floor(float(fraction) * (hi - lo) + 0.5)  # type: ignore[arg-type]
        self._confine()

    def xview_moveto(self, fraction: object) -> None:
        self._moveto(0, fraction)

    def yview_moveto(self, fraction: object) -> None:
        self._moveto(1, fraction)

    def xview(self, *args: Any) -> tuple[float, float] | None:
        if len(args) == 2 and args[0] == "moveto":
            self._moveto(0, args[1])
        return None if args else (0.0, 1.0)

    def yview(self, *args: Any) -> tuple[float, float] | None:
        if len(args) == 2 and args[0] == "moveto":
            self._moveto(1, args[1])
        return None if args else (0.0, 1.0)

    def canvasx(self, x: float, gridspacing: object = None) -> float:
        return float(x) + self._view[0]

    def canvasy(self, y: float, gridspacing: object = None) -> float:
        return float(y) + self._view[1]

    def window(self) -> tuple[float, float, int, int]:
        """The visible area: (x, y) of its top left corner in canvas coordinates, w, h."""
        w, h = self._size()
        return self._view[0], self._view[1], w, h

    # items
    def _find(self, tag_or_id: object) -> list[int]:
        if isinstance(tag_or_id, int) or (isinstance(tag_or_id, str) and tag_or_id.isdigit()):
            ident = int(tag_or_id)
            return [ident] if ident in self._items else []
        if tag_or_id == "all":
            return list(self._items)
        if isinstance(tag_or_id, list | tuple):
            return [i for t in tag_or_id for i in self._find(t)]
        return [i for i, item in self._items.items() if tag_or_id in item.tags]

    def _create(self, kind: str, args: tuple, kw: dict) -> int:
        if args and isinstance(args[-1], dict):
            kw = {**args[-1], **kw}
            args = args[:-1]
        coords = _flatten(args)
        self._check_count(kind, coords)
        self._top += 1
        item = _Item(kind, coords, dict(_ITEM_DEFAULTS[kind]), self._top)
        ident = next(self._next)
        self._items[ident] = item
        self._configure_item(item, kw)
        return ident

    @staticmethod
    def _check_count(kind: str, coords: list[float]) -> None:
        least, most = _NCOORDS[kind]
        if len(coords) < least or (most is not None and len(coords) != most) or len(coords) % 2:
            raise TclError(f"wrong # coordinates: expected at least {least}, got {len(coords)}")

    def _configure_item(self, item: _Item, options: dict) -> None:
        for key, value in options.items():
            if value is None:
                continue
            if key in _COLOR_OPTIONS and value != "":
                parse_color(value)
            if key == "tags":
                item.tags = tuple(value.split() if isinstance(value, str) else map(str, value))
            else:
                item.options[key] = value

    def create_line(self, *args: Any, **kw: Any) -> int:
        return self._create("line", args, kw)

    def create_polygon(self, *args: Any, **kw: Any) -> int:
        return self._create("polygon", args, kw)

    def create_oval(self, *args: Any, **kw: Any) -> int:
        return self._create("oval", args, kw)

    def create_rectangle(self, *args: Any, **kw: Any) -> int:
        return self._create("rectangle", args, kw)

    def create_arc(self, *args: Any, **kw: Any) -> int:
        return self._create("arc", args, kw)

    def create_text(self, *args: Any, **kw: Any) -> int:
        return self._create("text", args, kw)

    def create_image(self, *args: Any, **kw: Any) -> int:
        return self._create("image", args, kw)

    def coords(self, tag_or_id: object, *args: Any) -> list[float] | None:
        found = self._find(tag_or_id)
        if not args:
            return list(self._items[found[0]].coords) if found else []
        coords = _flatten(args)
        for ident in found[:1]:
            item = self._items[ident]
            self._check_count(item.kind, coords)
            item.coords = coords
        return None

    def itemconfigure(self, tag_or_id: object, cnf: dict | None = None, **kw: Any) -> Any:
        options = {**(cnf or {}), **kw}
        found = self._find(tag_or_id)
        if not options:
            return dict(self._items[found[0]].options) if found else {}
        for ident in found:
            self._configure_item(self._items[ident], options)
        return None

    itemconfig = itemconfigure

    def itemcget(self, tag_or_id: object, option: str) -> Any:
        found = self._find(tag_or_id)
        return self._items[found[0]].options.get(option, "") if found else ""

    def type(self, tag_or_id: object) -> str | None:
        found = self._find(tag_or_id)
        return self._items[found[0]].kind if found else None

    def delete(self, *tags_or_ids: object) -> None:
        for tag in tags_or_ids:
            for ident in self._find(tag):
                self._items.pop(ident, None)

    def tag_raise(self, tag_or_id: object, above: object = None) -> None:
        for ident in sorted(self._find(tag_or_id), key=lambda i: self._items[i].z):
            self._top += 1
            self._items[ident].z = self._top

    def tag_lower(self, tag_or_id: object, below: object = None) -> None:
        for ident in sorted(self._find(tag_or_id), key=lambda i: -self._items[i].z):
            self._bottom -= 1
            self._items[ident].z = self._bottom

    lift = tkraise = tag_raise
    lower = tag_lower

    def find_all(self) -> tuple[int, ...]:
        return tuple(sorted(self._items, key=lambda i: self._items[i].z))

    def find_withtag(self, tag_or_id: object) -> tuple[int, ...]:
        return tuple(sorted(self._find(tag_or_id), key=lambda i: self._items[i].z))

    def gettags(self, tag_or_id: object) -> tuple[str, ...]:
        found = self._find(tag_or_id)
        return self._items[found[0]].tags if found else ()

    def move(self, tag_or_id: object, dx: float, dy: float) -> None:
        for ident in self._find(tag_or_id):
            item = self._items[ident]
            item.coords = _flatten(
                v + (dx if i % 2 == 0 else dy) for i, v in enumerate(item.coords)
            )

    def scale(self, tag_or_id: object, x0: float, y0: float, xs: float, ys: float) -> None:
        for ident in self._find(tag_or_id):
            item = self._items[ident]
            item.coords = _flatten(
                (x0 + (v - x0) * xs) if i % 2 == 0 else (y0 + (v - y0) * ys)
                for i, v in enumerate(item.coords)
            )

    def bbox(self, *tags_or_ids: object) -> tuple[int, int, int, int] | None:
        boxes = [_item_box(self._items[i]) for t in tags_or_ids for i in self._find(t)]
        if not boxes:
            return None
        return (
            math.floor(min(b[0] for b in boxes)),
            math.floor(min(b[1] for b in boxes)),
            math.ceil(max(b[2] for b in boxes)),
            math.ceil(max(b[3] for b in boxes)),
        )

    def postscript(self, cnf: dict | None = None, **kw: Any) -> str:
        return ""  # no file is written, wherever the code asks for one

    def tag_bind(self, *args: Any, **kw: Any) -> str:
        return f"bind{next(_IDS)}"

    def tag_unbind(self, *args: Any, **kw: Any) -> None:
        pass

    # -- drawing -----------------------------------------------------------------------
    def drawn_items(self, exclude: Iterable[int] = ()) -> int:
        """How many items show something, not counting the ``exclude`` ids (turtles)."""
        skip = set(exclude)
        return sum(1 for ident, item in self._items.items() if ident not in skip and _visible(item))

    def point_count(self) -> int:
        return sum(len(item.coords) // 2 for item in self._items.values())

    def to_svg(self, width: int, height: int) -> str:
        """The visible window as an SVG document of width x height (aspect kept)."""
        x, y, w, h = self.window()
        view = f"{_num(x)} {_num(y)} {w} {h}"
        bg = svg_color(self._options.get("background")) or "#ffffff"
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="{view}" preserveAspectRatio="xMidYMid meet">',
            f'<defs><clipPath id="window"><rect x="{_num(x)}" y="{_num(y)}" width="{w}" '
            f'height="{h}"/></clipPath></defs>',
            '<g clip-path="url(#window)">',
            f'<rect x="{_num(x)}" y="{_num(y)}" width="{w}" height="{h}" fill="{bg}"/>',
        ]
        for item in sorted(self._items.values(), key=lambda it: it.z):
            if _visible(item):
                parts.append(_item_svg(item))
        parts.append("</g></svg>")
        return "\n".join(part for part in parts if part)


# -- items as SVG ----------------------------------------------------------------------


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _points(coords: list[float]) -> str:
    return " ".join(f"{_num(coords[i])},{_num(coords[i + 1])}" for i in range(0, len(coords), 2))


def _width(item: _Item) -> float:
    value = item.options.get("width", 1.0)
    try:
        width = float(str(value).rstrip("p")) if not isinstance(value, int | float) else value
    except ValueError:
        width = 1.0
    return max(1.0, min(float(width), 1e5)) if math.isfinite(width) else 1.0


def _visible(item: _Item) -> bool:
    options = item.options
    if options.get("state") == "hidden":
        return False
    if item.kind == "text":
        return bool(str(options.get("text", ""))) and options.get("fill", "") != ""
    if item.kind == "image":
        return False  # images are not drawn (turtle's only ones are blank)
    if item.kind == "line":
        return options.get("fill", "") != ""
    return options.get("fill", "") != "" or options.get("outline", "") != ""


def _font(spec: object) -> tuple[str, float, bool, bool]:
    """(family, size in pixels, bold, italic) of a Tk font description."""
    family, size, styles = "DejaVu Sans", -12.0, []
    if isinstance(spec, str):
        match = re.match(r"\s*\{([^}]*)\}\s*(.*)", spec)
        parts = [match.group(1), *match.group(2).split()] if match else spec.split()
        if parts and parts[0] in ("TkDefaultFont", "TkTextFont", "TkFixedFont"):
            parts = parts[1:]
        spec = parts
    if isinstance(spec, list | tuple):
        if spec:
            family = str(spec[0]) or family
        if len(spec) > 1:
            try:
                size = float(spec[1])
            except (TypeError, ValueError):
                styles.append(str(spec[1]))
        for extra in spec[2:]:
            styles.extend(str(extra).lower().split())
    if not math.isfinite(size):
        size = -12.0
    pixels = -size if size < 0 else size * POINTS_PER_PIXEL if size > 0 else 12.0
    pixels = max(1.0, min(pixels, _MAX_FONT_PX))
    return family, pixels, "bold" in styles, "italic" in styles


_QUOTES = {'"': "&quot;", "'": "&apos;"}
_ASCENT, _DESCENT = 0.93, 0.24  # of a font's size in pixels (DejaVu Sans, Liberation Sans)


def _text_box(item: _Item) -> tuple[float, float, float, float]:
    _, px, bold, _ = _font(item.options.get("font"))
    lines = str(item.options.get("text", "")).split("\n")
    w = max(len(line) for line in lines) * px * (0.62 if bold else 0.56)
    h = len(lines) * px * (_ASCENT + _DESCENT)
    x, y = item.coords[0], item.coords[1]
    anchor = str(item.options.get("anchor", "center"))
    left = x if "w" in anchor else x - w if "e" in anchor else x - w / 2
    top = y if anchor.startswith("n") else y - h if anchor.startswith("s") else y - h / 2
    return left, top, left + w, top + h


def _item_box(item: _Item) -> tuple[float, float, float, float]:
    if item.kind == "text":
        return _text_box(item)
    xs, ys = item.coords[0::2], item.coords[1::2]
    pad = _width(item) / 2 if item.kind != "image" else 0.0
    return min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad


def _stroke(color: object, item: _Item, cap: str = "butt") -> str:
    value = svg_color(color)
    if value is None:
        return ' stroke="none"'
    join = {"miter": "miter", "bevel": "bevel"}.get(str(item.options.get("joinstyle")), "round")
    return (
        f' stroke="{value}" stroke-width="{_num(_width(item))}" stroke-linejoin="{join}"'
        f' stroke-linecap="{cap}"'
    )


def _item_svg(item: _Item) -> str:
    o, c = item.options, item.coords
    kind = item.kind
    if kind == "line":
        cap = {"round": "round", "projecting": "square"}.get(str(o.get("capstyle")), "butt")
        if all(c[i] == c[0] and c[i + 1] == c[1] for i in range(0, len(c), 2)):
            # zero length: turtle's dot(); a round cap is a disc
            if cap != "round":
                return ""
            return (
                f'<circle cx="{_num(c[0])}" cy="{_num(c[1])}" r="{_num(_width(item) / 2)}" '
                f'fill="{svg_color(o.get("fill"))}"/>'
            )
        return f'<polyline points="{_points(c)}" fill="none"{_stroke(o.get("fill"), item, cap)}/>'
    fill = svg_color(o.get("fill")) or "none"
    if kind == "polygon":
        return (
            f'<polygon points="{_points(c)}" fill="{fill}" fill-rule="evenodd"'
            f"{_stroke(o.get('outline'), item)}/>"
        )
    if kind in ("oval", "rectangle", "arc"):
        x0, x1 = sorted((c[0], c[2]))
        y0, y1 = sorted((c[1], c[3]))
        stroke = _stroke(o.get("outline"), item)
        if kind == "rectangle":
            return (
                f'<rect x="{_num(x0)}" y="{_num(y0)}" width="{_num(x1 - x0)}" '
                f'height="{_num(y1 - y0)}" fill="{fill}"{stroke}/>'
            )
        if kind == "oval":
            return (
                f'<ellipse cx="{_num((x0 + x1) / 2)}" cy="{_num((y0 + y1) / 2)}" '
                f'rx="{_num((x1 - x0) / 2)}" ry="{_num((y1 - y0) / 2)}" fill="{fill}"{stroke}/>'
            )
        return _arc_svg(item, x0, y0, x1, y1, fill, stroke)
    if kind == "text":
        return _text_svg(item)
    return ""


def _arc_svg(
    item: _Item, x0: float, y0: float, x1: float, y1: float, fill: str, stroke: str
) -> str:
    o = item.options
    try:
        start = float(o.get("start", 0.0))
        extent = float(o.get("extent", 90.0))
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(start) and math.isfinite(extent)):
        return ""
    extent = max(-359.99, min(359.99, extent))
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    steps = max(2, int(abs(extent) / 5) + 1)
    pts = []
    for i in range(steps + 1):
        angle = math.radians(start + extent * i / steps)
        pts.append((cx + rx * math.cos(angle), cy - ry * math.sin(angle)))
    style = str(o.get("style", "pieslice"))
    if style == "arc":
        flat = [v for p in pts for v in p]
        return f'<polyline points="{_points(flat)}" fill="none"{stroke}/>'
    if style != "chord":
        pts = [(cx, cy), *pts]
    flat = [v for p in pts for v in p]
    return f'<polygon points="{_points(flat)}" fill="{fill}"{stroke}/>'


def _text_svg(item: _Item) -> str:
    o = item.options
    family, px, bold, italic = _font(o.get("font"))
    text = _INVALID_XML.sub("", str(o.get("text", "")))
    top = _text_box(item)[1]
    anchor = str(o.get("anchor", "center"))
    x = item.coords[0]
    if "w" in anchor:
        where = "start"
    elif "e" in anchor:
        where = "end"
    else:
        where = "middle"
    attrs = (
        f' font-family={quoteattr(_INVALID_XML.sub("", family))} font-size="{_num(px)}"'
        f' fill="{svg_color(o.get("fill"))}" text-anchor="{where}"'
    )
    if bold:
        attrs += ' font-weight="bold"'
    if italic:
        attrs += ' font-style="italic"'
    try:
        angle = float(o.get("angle", 0.0))
    except (TypeError, ValueError):
        angle = 0.0
    if angle and math.isfinite(angle):
        attrs += f' transform="rotate({_num(-angle)} {_num(x)} {_num(item.coords[1])})"'
    lines = []
    for i, line in enumerate(text.split("\n")):
        if line:
            baseline = top + px * (_ASCENT + i * (_ASCENT + _DESCENT))
            body = escape(line, _QUOTES)
            lines.append(f'<text x="{_num(x)}" y="{_num(baseline)}"{attrs}>{body}</text>')
    return "\n".join(lines)


# -- installing ------------------------------------------------------------------------


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def install() -> None:
    """Be ``tkinter`` for every later import; make the real ``_tkinter`` unreachable."""
    this = sys.modules[__name__]
    ask = _nothing
    sys.modules["tkinter"] = this
    sys.modules["tkinter.constants"] = this
    this.simpledialog = _module(  # type: ignore[attr-defined]
        "tkinter.simpledialog", askstring=ask, askinteger=ask, askfloat=ask
    )
    this.messagebox = _module(  # type: ignore[attr-defined]
        "tkinter.messagebox", showinfo=ask, showwarning=ask, showerror=ask, askyesno=ask,
        askokcancel=ask, askquestion=ask,
    )  # fmt: skip
    sys.modules["tkinter.simpledialog"] = this.simpledialog  # type: ignore[attr-defined]
    sys.modules["tkinter.messagebox"] = this.messagebox  # type: ignore[attr-defined]
    sys.modules["_tkinter"] = None  # type: ignore[assignment]

"""`vad bench programs`: real programs per language, drawn by vad and by the language's
own toolchain as written.

Each program of a corpus (tests/data/programs/<language>/, whole documents, gallery
scripts and sketches of the kind people write; for turtle, the drawing programs of
CPython's own ``turtledemo``) goes two ways:

- **vad**: as a model's reply (one fenced block) through the chat extraction, the
  language's repair and the jailed render pool, exactly as ``vad draw`` would;
- **the toolchain, as written**, outside the jail: ``pdflatex -no-shell-escape`` with
  ``openin_any=p`` (TikZ), CPython with matplotlib's Agg backend (the current figure
  saved, as a notebook would show it), Chromium for SVG files and for p5.js and
  Processing.js sketches on a page of their own (animations run for a few seconds of
  virtual time; an uncaught error or a blank canvas is a failure), and CPython's own
  turtle on Tk on a virtual display (Xvfb; the window read when the program ends or
  enters its main loop, or 20 seconds in if it never does).

Reported per language: how many programs each way renders, and what share of those the
toolchain renders vad renders too (the goal is 95%), with the reason for every program
vad fails and the toolchain does not.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vad._paths import checkout
from vad.errors import VadError
from vad.extract import extract_chat
from vad.languages import canonical, get_language
from vad.languages._sketch import js_dir
from vad.render import Limits, RenderPool

GOAL = 0.95  # vad renders at least this share of what the toolchain renders
ALL = ("tikz", "matplotlib", "svg", "turtle", "p5", "processing")
SUFFIXES = {"tikz": ".tex", "matplotlib": ".py", "svg": ".svg", "p5": ".js",
            "processing": ".pde", "turtle": ".py"}  # fmt: skip
FENCES = {"tikz": "latex", "matplotlib": "python", "svg": "svg", "p5": "javascript",
          "processing": "java", "turtle": "python"}  # fmt: skip
# turtledemo's programs that draw by themselves (the others wait for clicks and keys,
# or drive Tk directly)
INTERACTIVE = {"colormixer", "nim", "paint", "two_canvases", "__init__", "__main__"}
TOOL_TIMEOUT_S = 60.0
CANVAS = 400  # the browser's window: the sketches' usual canvas


@dataclass
class Program:
    language: str
    name: str
    code: str
    vad: str = ""  # the render status
    vad_reason: str = ""
    tool: str | None = None  # "" rendered, a reason when not, None: no toolchain
    notes: list[str] = field(default_factory=list)


def corpus_dir() -> Path:
    root = checkout()
    if root is None:
        raise VadError("the program corpora are in a checkout (tests/data/programs): "
                       "pass --corpus DIR")  # fmt: skip
    return root / "tests" / "data" / "programs"


def languages_of(names: list[str], root: Path | None) -> tuple[str, ...]:
    """The languages to check: ``names`` (aliases and any case allowed, each once), else
    all six, or, for a corpus of one's own, those it has a folder for."""
    if names:
        return tuple(dict.fromkeys(canonical(n.strip().lower()) for n in names if n.strip()))
    if root is None:
        return ALL
    found = tuple(lang for lang in ALL if (root / lang).is_dir())
    if not found:
        raise VadError(f"{root} has no folder of any language ({', '.join(ALL)}): a corpus "
                       "holds one folder per language, as tests/data/programs")  # fmt: skip
    return found


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")  # a byte-order mark, as editors leave it
    except UnicodeDecodeError as exc:
        raise VadError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): "
                       "save it as UTF-8, or take it out of the corpus") from None  # fmt: skip


def load_corpus(language: str, root: Path | None = None) -> list[Program]:
    """The programs of ``language``: files of ``root/<language>`` with its suffix (turtle
    without a root: turtledemo's drawing programs from this Python's standard library)."""
    if language == "turtle" and root is None:
        spec = importlib.util.find_spec("turtledemo")
        if spec is None or not spec.submodule_search_locations:
            raise VadError("this Python has no turtledemo: the turtle corpus is CPython's own")
        folder = Path(next(iter(spec.submodule_search_locations)))
        files = [p for p in sorted(folder.glob("*.py")) if p.stem not in INTERACTIVE]
    else:
        folder = (root or corpus_dir()) / language
        if not folder.is_dir():
            raise VadError(f"no folder {folder}: --corpus names a folder that holds one folder "
                           f"per language ({language}/, ...), as tests/data/programs")  # fmt: skip
        suffix = SUFFIXES[language]
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() == suffix and p.is_file())
        if not files:
            raise VadError(f"no {language} programs in {folder}: it holds no *{suffix} file")
    return [Program(language, p.stem, _read(p)) for p in files]


# -- the toolchains, as written, outside the jail -----------------------------------------


def _flat(png: Path) -> bool:
    with Image.open(png) as img:
        pixels = np.asarray(img.convert("RGB"))
    return bool((pixels == pixels[0, 0]).all())


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A toolchain's run, in a session of its own: on a timeout or an interrupt the whole
    group goes (a browser's helpers, xvfb-run's X server), not its first process alone."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=TOOL_TIMEOUT_S)
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, -9, "", f"timed out after {TOOL_TIMEOUT_S} s")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def toolchain_tikz(code: str, work: Path) -> str:
    (work / "doc.tex").write_text(code, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "openin_any": "p",
           "openout_any": "p", "shell_escape": "f"}  # fmt: skip
    done = _run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode",
                 "-halt-on-error", "doc.tex"], work, env)  # fmt: skip
    if done.returncode == 0 and (work / "doc.pdf").is_file():
        return ""
    log = (work / "doc.log").read_text(errors="replace") if (work / "doc.log").is_file() else ""
    errors = [line for line in log.splitlines() if line.startswith("!")]
    return (errors[0] if errors else done.stderr[-200:] or "no PDF").strip()


_MPL = """
import runpy, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.show = lambda *a, **k: None
runpy.run_path(sys.argv[1], run_name="__main__")
if plt.get_fignums():
    plt.gcf().savefig("shown.png")
"""


def _matplotlib(code: str, work: Path) -> str:
    (work / "script.py").write_text(code, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": str(work / ".mpl")}  # fmt: skip
    done = _run([sys.executable, "-c", _MPL, "script.py"], work, env)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["failed"])[-1][:300]
    images = [p for p in work.glob("*.png") if not _flat(p)]
    return "" if images else "no figure with anything drawn"


def chromium() -> list[str] | None:
    """Chromium's headless shell (else the browser, headless), as the sketch languages use."""
    for path, flags in (("/usr/lib/chromium/chromium-headless-shell", []),
                        (shutil.which("chromium-headless-shell") or "", []),
                        (shutil.which("chromium") or "", ["--headless"])):  # fmt: skip
        if path and os.access(path, os.X_OK):
            return [path, *flags]
    return None


def _screenshot(page: Path, work: Path) -> str:
    """Chromium shows ``page`` for a few seconds of virtual time and saves what it shows."""
    browser = chromium()
    if browser is None:
        return "no Chromium: apt-get install chromium-headless-shell"
    argv = [*browser, "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--allow-file-access-from-files", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={work / 'profile'}", "--virtual-time-budget=3000",
            f"--window-size={CANVAS},{CANVAS}", f"--screenshot={work / 'shot.png'}",
            page.as_uri()]  # fmt: skip
    done = _run(argv, work, {"PATH": "/usr/bin:/bin", "HOME": str(work)})
    uncaught = [line for line in done.stderr.splitlines() if "Uncaught" in line]
    if uncaught:
        return uncaught[0].split("Uncaught", 1)[1].strip()[:300]
    shot = work / "shot.png"
    if not shot.is_file():
        return f"no screenshot (exit {done.returncode})"
    return "a blank page" if _flat(shot) else ""


def _svg(code: str, work: Path) -> str:
    try:
        ET.fromstring(code.encode("utf-8"))
    except ET.ParseError as exc:  # Chromium shows its own error page instead
        return f"XML parse error: {exc}"
    page = work / "drawing.svg"
    page.write_text(code, encoding="utf-8")
    return _screenshot(page, work)


def _page(work: Path, library: str, body: str) -> Path:
    page = work / "sketch.html"
    script = (js_dir() / library).as_uri()
    page.write_text(f'<!doctype html><html><head><meta charset="utf-8"><script src="{script}">'
                    f'</script></head><body style="margin:0;background:#fff">{body}</body></html>',
                    encoding="utf-8")  # fmt: skip
    return page


def _p5(code: str, work: Path) -> str:
    (work / "sketch.js").write_text(code, encoding="utf-8")
    return _screenshot(_page(work, "p5/lib/p5.min.js", '<script src="sketch.js"></script>'), work)


def _processing(code: str, work: Path) -> str:
    body = ('<canvas id="sketch"></canvas><script type="application/processing" '
            f'data-processing-target="sketch">{code}</script>')  # fmt: skip
    return _screenshot(_page(work, "processing-js/processing.min.js", body), work)


# Real turtle on real Tk, on a virtual display: the program runs as __main__ and the
# window's canvas is read when it ends or calls mainloop()/done() (its final picture),
# or SHOWN_S seconds in if it never gets there. Drawn: items that show something (a
# line or polygon of two points or more with a colour, text, an oval, ...) other than
# the turtles' own shapes.
_TURTLE = """
import runpy, sys, turtle
SHOWN_MS = int(sys.argv[2])
def look():
    canvas = turtle.getcanvas()
    shapes = set()
    for t in turtle.Screen().turtles():
        image = getattr(t, "turtle", None)  # the default arrow is no drawing (as in vad)
        if image is not None and image.shapeIndex == "classic":
            shapes.update(image._item if isinstance(image._item, list) else [image._item])
    def shows(i):
        if i in shapes or canvas.itemcget(i, "state") == "hidden":
            return False
        kind = canvas.type(i)
        if kind in ("line", "polygon"):  # turtle keeps empty and one-point items about
            points = canvas.coords(i)
            colour = canvas.itemcget(i, "fill") or (
                kind == "polygon" and canvas.itemcget(i, "outline"))
            return bool(colour) and len(set(zip(points[::2], points[1::2]))) >= 2
        if kind in ("text", "image"):  # (the screen's background picture: "" until set)
            return bool(canvas.itemcget(i, kind).strip())
        return True
    drawn = [i for i in canvas.find_all() if shows(i)]
    sys.stdout.write("drawn %d\\n" % len(drawn))
    sys.stdout.flush()
    import os
    os._exit(0 if drawn else 3)
turtle.getcanvas().after(SHOWN_MS, look)  # a program that never ends: as it stands then
turtle.mainloop = turtle.done = turtle.Screen().mainloop = look  # its end: its final state
runpy.run_path(sys.argv[1], run_name="__main__")
look()
"""
SHOWN_S = 20  # seconds of a turtle program's own time before its window is read (a job's timeout)


def _system_python_with_tk() -> str | None:
    for python in ("/usr/bin/python3",):
        found = subprocess.run([python, "-c", "import tkinter"], capture_output=True)
        if found.returncode == 0:
            return python
    return None


def _turtle(code: str, work: Path) -> str:
    python, xvfb = _system_python_with_tk(), shutil.which("xvfb-run")
    if python is None or xvfb is None:
        return "no toolchain: apt-get install python3-tk xvfb"
    (work / "program.py").write_text(code, encoding="utf-8")
    done = _run([xvfb, "-a", python, "-c", _TURTLE, "program.py", str(SHOWN_S * 1000)], work,
                {"PATH": "/usr/bin:/bin", "HOME": str(work)})  # fmt: skip
    if done.returncode == 0:
        return ""
    if done.returncode == 3:
        return "nothing drawn"
    return (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:300]


TOOLCHAINS: dict[str, Callable[[str, Path], str]] = {
    "tikz": toolchain_tikz, "matplotlib": _matplotlib, "svg": _svg, "p5": _p5,
    "processing": _processing, "turtle": _turtle,
}  # fmt: skip


# -- the check ------------------------------------------------------------------------------


def check(
    languages: tuple[str, ...],
    root: Path | None = None,
    size: int = 224,
    say: Callable[[str], None] = lambda line: None,
    limits: Limits | None = None,
) -> list[Program]:
    """Every program of each language both ways; the programs with their outcomes
    (``say`` hears where it is; ``limits``: the pool's, default the jail's own)."""
    programs = [p for lang in languages for p in load_corpus(lang, root)]
    with tempfile.TemporaryDirectory(prefix="vad-programs-") as tmp:
        base = Path(tmp)
        for i, program in enumerate(programs):
            if i == 0 or programs[i - 1].language != program.language:
                count = sum(p.language == program.language for p in programs)
                say(f"{program.language}: {count} programs with its own toolchain")
            tool = TOOLCHAINS.get(program.language)
            if tool is not None:
                work = base / f"tool-{i}"
                work.mkdir()
                program.tool = tool(program.code, work)
        say(f"{len(programs)} programs through vad (extraction, repair, the jailed renderer)")
        with RenderPool(limits=limits) as pool, ThreadPoolExecutor(pool.size) as threads:

            def draw(i: int, program: Program) -> None:
                fence = FENCES[program.language]
                found = extract_chat(f"```{fence}\n{program.code}\n```\n", program.language)
                program.notes = found.notes
                if found.code is None:
                    program.vad, program.vad_reason = "no_code", "; ".join(found.notes)
                    return
                result = pool.render(program.language, found.code, size, size,
                                     base / f"vad-{i}.png")  # fmt: skip
                program.vad, program.vad_reason = str(result.status), result.reason

            list(threads.map(draw, range(len(programs)), programs))
    return programs


def summarize(programs: list[Program]) -> list[dict[str, Any]]:
    rows = []
    for lang in dict.fromkeys(p.language for p in programs):
        mine = [p for p in programs if p.language == lang]
        tooled = mine[0].tool is not None
        tool_ok = [p for p in mine if p.tool == ""]
        both = [p for p in tool_ok if p.vad == "ok"]
        share = len(both) / len(tool_ok) if tool_ok else None
        rows.append({
            "language": get_language(lang).display, "programs": len(mine),
            "toolchain": len(tool_ok) if tooled else None,
            "vad": sum(p.vad == "ok" for p in mine), "share": share,
            "met": share is not None and share >= GOAL,
            "vad_only_fails": [p for p in tool_ok if p.vad != "ok"],
            "tool_only_fails": [p for p in mine if p.vad == "ok" and p.tool],
            "both_fail": [p for p in mine if p.vad != "ok" and p.tool],
            "vad_fails": [p for p in mine if p.vad != "ok"],
        })  # fmt: skip
    return rows


def format_programs(rows: list[dict[str, Any]]) -> str:
    lines = ["| language | programs | toolchain renders | vad renders | "
             "vad renders, of what the toolchain renders | goal |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        tool = "—" if r["toolchain"] is None else str(r["toolchain"])
        share = "—" if r["share"] is None else f"{r['share']:.0%}"
        if r["toolchain"] is None:
            goal = "no toolchain here"
        elif r["share"] is None:
            goal = "**not met**: the toolchain rendered none"
        else:
            goal = f">= {GOAL:.0%}: {'met' if r['met'] else '**not met**'}"
        lines.append(f"| {r['language']} | {r['programs']} | {tool} | {r['vad']} | {share} | "
                     f"{goal} |")  # fmt: skip
    for r in rows:
        fails = r["vad_fails"] if r["toolchain"] is None else r["vad_only_fails"]
        if fails:
            lines.append(
                f"\n{r['language']}: vad does not render"
                + ("" if r["toolchain"] is None else " (the toolchain does)")
            )
            lines += [f"- {p.name}: {p.vad}: {p.vad_reason[:200]}" for p in fails]
        if r["tool_only_fails"]:
            lines.append(f"\n{r['language']}: the toolchain does not render (vad does)")
            lines += [f"- {p.name}: {p.tool[:200]}" for p in r["tool_only_fails"]]
        if r["both_fail"]:
            lines.append(f"\n{r['language']}: neither renders")
            lines += [f"- {p.name}: vad {p.vad}: {p.vad_reason[:120]}; toolchain: {p.tool[:120]}"
                      for p in r["both_fail"]]  # fmt: skip
    return "\n".join(lines)

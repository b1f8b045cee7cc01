"""TikZ: a tikzpicture compiled by pdflatex against a fixed preamble, or a whole
document compiled as written (renderers/tikz.py). The preamble is dumped once into a
format file (vad/languages/_texformat.py) that every job loads: the language's
``prepare_host`` finds or builds it when a pool that serves TikZ starts."""

from __future__ import annotations

import re

from vad.concepts.reference import HEX, PLAIN, STROKE, Style, polygon, rgb
from vad.languages import _texformat
from vad.languages.base import HostFiles, Language, Prim, register_language

BEGIN, END = r"\begin{tikzpicture}", r"\end{tikzpicture}"
MARKERS = (BEGIN, "\\draw", "\\fill", "\\node", "\\documentclass")


CLASS = re.compile(r"^[ \t]*\\documentclass\b", re.M)
PREAMBLE_COMMANDS = re.compile(
    r"\\(usepackage|usetikzlibrary|usepgfplotslibrary|tikzset|tikzstyle|pgfplotsset"
    r"|definecolor|colorlet|newcommand|renewcommand|providecommand|def|newlength"
    r"|setlength|tdplotsetmaincoords)\b"
)
DOCUMENT_CLASS = "\\documentclass[tikz,border=4pt]{standalone}\n"


def _plain_form(code: str, notes: list[str]) -> str:
    """``\\tikzpicture ... \\endtikzpicture`` (or a mismatched ``\\end{tikzpicture}``) as
    the environment."""
    code = re.sub(r"\\tikzpicture\b", lambda _: BEGIN, code, count=1)
    code = re.sub(r"\\endtikzpicture\b", lambda _: END, code, count=1)
    notes.append("read plain \\tikzpicture as \\begin{tikzpicture}")
    return code


def _standalone(preamble: str, picture: str) -> str:
    return f"{DOCUMENT_CLASS}{preamble.strip()}\n\\begin{{document}}\n{picture}\n\\end{{document}}"


_ENV = re.compile(r"\\(begin|end)\s*\{([^}]*)\}")


def _close_environments(body: str, notes: list[str]) -> str:
    """A body cut off inside environments (a picture in a figure, an axis, a circuit):
    cut after its last complete statement and close what is open, innermost first."""
    open_: list[tuple[str, int]] = []
    closed_at = -1  # where the last \end{...} that closed something ends
    for match in _ENV.finditer(body):
        if match.group(1) == "begin":
            open_.append((match.group(2), match.end()))
        elif open_ and open_[-1][0] == match.group(2):
            open_.pop()
            closed_at = match.end() - 1
    if not open_:
        return body.rstrip()
    cut = max(body.rfind(";"), closed_at, open_[-1][1] - 1)  # a TikZ statement ends in ";"
    body = body[: cut + 1].rstrip()
    notes.append(f"closed {len(open_)} environment(s) of a truncated document")
    return body + "".join(f"\n\\end{{{name}}}" for name, _ in reversed(open_))


def _document(code: str, notes: list[str]) -> str:
    """A whole document, kept as written from its ``\\documentclass`` on (and the
    commands before it: \\PassOptionsToPackage...); a truncated one is closed."""
    start = CLASS.search(code).start()  # type: ignore[union-attr]
    before = [ln for ln in code[:start].splitlines() if ln.strip()]
    kept = [ln for ln in before if ln.lstrip().startswith(("\\", "%"))]
    if len(kept) < len(before):
        notes.append("dropped text before \\documentclass")
    code = "".join(f"{ln}\n" for ln in kept) + code[start:]
    if BEGIN not in code and re.search(r"\\tikzpicture\b", code):
        code = _plain_form(code, notes)
    end = code.find("\\end{document}")
    if end >= 0:
        if code[end + len("\\end{document}") :].strip():
            notes.append("dropped text after \\end{document}")
        return code[: end + len("\\end{document}")]
    begin = code.find("\\begin{document}")
    if begin < 0:
        picture = min((i for i in (code.find(BEGIN), code.find("\\begin{circuitikz}")) if i >= 0),
                      default=-1)  # fmt: skip
        if picture < 0:
            notes.append("closed a document that ended in its preamble")
            return code.rstrip() + "\n\\begin{document}\n\\end{document}"
        notes.append("began the document before its first picture")
        code, begin = code[:picture] + "\\begin{document}\n" + code[picture:], picture
    head, body = code[:begin], code[begin + len("\\begin{document}") :]
    body = _close_environments(body, notes)
    return f"{head}\\begin{{document}}{body}\n\\end{{document}}"


def repair(code: str, notes: list[str]) -> str | None:
    """A whole document (it has a ``\\documentclass``) as written; else one tikzpicture:
    taken out of a document body, given a document when preamble commands (packages,
    libraries, colours, styles) come before it, wrapped around bare commands, or closed
    after its last complete statement when truncated."""
    code = code.lstrip("\ufeff")  # a byte-order mark, as editors save it
    if CLASS.search(code):
        return _document(code, notes)
    doc = re.search(r"\\begin\{document\}(.*?)(\\end\{document\}|$)", code, re.S)
    if doc:
        before = code[: doc.start()]
        code = doc.group(1)
        notes.append("took the body of a LaTeX document")
        if PREAMBLE_COMMANDS.search(before):
            picture = repair(code, notes)
            if picture is None:
                return None
            notes.append("kept its preamble in a standalone document")
            return _standalone(before, picture)
    if BEGIN not in code and re.search(r"\\tikzpicture\b", code):
        code = _plain_form(code, notes)
    start = code.find(BEGIN)
    if start < 0:
        if not any(marker in code for marker in MARKERS):
            return None
        notes.append("wrapped commands in a tikzpicture")
        return f"{BEGIN}\n{code.strip()}\n{END}"
    before = code[:start]
    if PREAMBLE_COMMANDS.search(before):  # \usepackage, \usetikzlibrary, \tikzset...
        picture = repair(code[start:], notes)
        notes.append("made a standalone document of the preamble commands before it")
        return _standalone(before, picture or "")
    if before.strip():
        notes.append("dropped text before \\begin{tikzpicture}")
    code = code[start:]
    end = code.find(END)
    if end >= 0:
        if code[end + len(END) :].strip():
            notes.append("dropped text after \\end{tikzpicture}")
        return code[: end + len(END)]
    body = code[len(BEGIN) :]
    cut = body.rfind(";")
    body = body[: cut + 1] if cut >= 0 else ""
    notes.append("closed a truncated tikzpicture")
    return f"{BEGIN}{body}\n{END}"


def strip_hints(code: str) -> str:
    return "\n".join(re.sub(r"(?<!\\)%.*$", "", line) for line in code.splitlines())


def _colour(hex_colour: str) -> str:
    red, green, blue = rgb(hex_colour)
    return f"{{rgb,255:red,{red};green,{green};blue,{blue}}}"


def reference(prims: list[Prim], scale: float = 5.0, style: Style = PLAIN) -> str:
    lines = [BEGIN, f"\\useasboundingbox (0,0) rectangle ({scale},{scale});"]
    if style.background:  # past the bounding box too: the standalone page's border
        lines.append(f"\\fill[color={_colour(style.background)}] "
                     f"(-1,-1) rectangle ({scale + 1:g},{scale + 1:g});")  # fmt: skip
    draw = f"\\draw[line width={STROKE * scale:g}cm," if style.outline else "\\fill["
    for shape, color, cx, cy, r in prims:
        col = _colour(HEX[color])
        x, y, rr = cx * scale, (1 - cy) * scale, r * scale
        if shape == "circle":
            lines.append(f"{draw}color={col}] ({x:.2f},{y:.2f}) circle ({rr:.2f});")
        elif shape == "ellipse":
            turn = f", rotate around={{{style.angle:g}:({x:.2f},{y:.2f})}}" if style.angle else ""
            lines.append(
                f"{draw}color={col}{turn}] ({x:.2f},{y:.2f}) ellipse ({rr:.2f} and {rr * 0.6:.2f});"
            )
        else:
            pts = " -- ".join(
                f"({px * scale:.2f},{(1 - py) * scale:.2f})"
                for px, py in polygon(shape, cx, cy, r, style.angle) or []
            )
            lines.append(f"{draw}color={col}] {pts} -- cycle;")
    return "\n".join([*lines, END])


def prepare_host(use_format: bool | None = None) -> HostFiles:
    """The preamble's format file, found or built (vad/languages/_texformat.py): bound
    read-only, alone, at JAIL_PATH and named to the renderer by $VAD_TEX_FORMAT.
    Nothing when it cannot be had, or ``use_format`` is False (None: $VAD_TIKZ_FORMAT
    says): the jobs then compile the whole preamble."""
    fmt = _texformat.tikz_format(use_format)
    if fmt is None:
        return HostFiles()
    return HostFiles({str(fmt): _texformat.JAIL_PATH},
                     {_texformat.RENDERER_VAR: _texformat.JAIL_PATH})  # fmt: skip


_DRAW = "\\draw (0,0) -- (1,1);"
TIKZ = register_language(Language(
    name="tikz", display="TikZ", module="tikz", suffix=".tex",
    aliases=("latex",), fences=("latex", "tex", "tikz"), markers=MARKERS,
    repair=repair, strip_hints=strip_hints, reference=reference, comment=("%", ""),
    jail_paths=("/etc/texmf", "/var/lib/texmf", "/usr/share/texmf"),
    sees_python=False, prepare_host=prepare_host,
    probes={  # no network in TeX; \write18 is its only way to run a program
        "read_outside": f"{BEGIN}\\node {{\\input{{@SECRET_FILE@}}}};{END}",
        "write_outside": f"{BEGIN}\\immediate\\openout5=@OUTSIDE_DIR@/written "
                         f"\\immediate\\write5{{x}}{_DRAW}{END}",
        "endless_loop": f"{BEGIN}{_DRAW}\\def\\x{{\\x}}\\x{END}",
        # draws only if the shell ran: the file it makes in the job's folder exists
        "fork": f"{BEGIN}\\immediate\\write18{{touch @OUTSIDE_DIR@/written; touch ran}}"
                f"\\IfFileExists{{ran}}{{{_DRAW}}}{{}}{END}",
    },
    bench_target="jailed <= 1.3x raw time",
))  # fmt: skip

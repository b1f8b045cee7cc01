"""TikZ renderer: pdflatex (no shell escape, paranoid file access) then pdftoppm.

Two kinds of code. A bare tikzpicture (what most drawing code is) goes into a
standalone document with a fixed preamble (``HEAD``). A whole document (it has a
``\\documentclass``) is compiled as written, its class and preamble kept: the
libraries it loads, its colours, styles and commands; for a class other than
standalone, the ``preview`` package (loaded just before ``\\begin{document}``) crops
the output to the document's pictures, one page each, and the image is the largest of
them, without the title, text or caption around it. Packages come from an allowlist (``PACKAGES``,
the ones a drawing uses and scripts/install.sh installs); one off the list is
``blocked`` with its name, so a model is told what is missing rather than failing
on a file TeX cannot find. The list is scope, not security.

The boundary is the engine and the jail, never a filter on the code's words: pdflatex
runs with ``-no-shell-escape`` (``\\write18`` runs nothing), ``openin_any=p`` and
``openout_any=p`` (no absolute paths, no parent folders, no dot files), in a folder of
its own inside the job's (``TEX_DIR``: what the renderer judges the run by is out of
its reach), with no format switch on a first line (``-no-parse-first-line``); the job
sees its own folder, ``/usr``, the TeX tree and the few system files every job sees
(its supervisor hides the Python install), so a file TeX can still read by other
means (``\\pdfobj file{}`` ignores openin_any) holds nothing of the host's
(tests/test_attack_findings.py, tests/test_tikz_documents.py).

When ``VAD_TEX_FORMAT`` names a format file (the preamble ``HEAD`` dumped once by the
host, bound read-only into the jail), pdflatex loads it for a bare tikzpicture instead
of reading the preamble, and the document keeps one comment line per preamble line so
that line numbers are the same. A format that does not load (pdflatex stops before
opening its log, or dies of a signal that is not one of the job's limits) is reported
in the job's log and the job compiles the whole preamble instead.
"""

from __future__ import annotations

import os
import re
import signal
import sys

from _protocol import (
    BLOCKED,
    MEMORY,
    RUNTIME,
    SYNTAX,
    TIMEOUT,
    TOO_LARGE,
    RenderFailure,
    fit_png,
    run_program,
)

VERSION = "tikz-5"
HEAD = r"""\documentclass[tikz,border=4pt]{standalone}
\usetikzlibrary{arrows.meta,calc,positioning,shapes.geometric,shapes.misc,shapes.symbols,
  decorations.pathmorphing,decorations.markings,patterns,shadows,fit,backgrounds,
  intersections,through}
"""  # the host dumps exactly this text into the format (vad/render/texformat.py)
BEGIN, END = "\\begin{document}\n", "\n\\end{document}\n"
PREAMBLE = HEAD + BEGIN
FORMAT_VAR = "VAD_TEX_FORMAT"
# Packages a document may load: drawing, colour, mathematics and units, fonts, layout.
_PACKAGE_NAMES = """
tikz pgf pgfplots pgfplotstable circuitikz tikz-3dplot tikz-cd tikzscale forest tkz-euclide
tkz-base tkz-graph tkz-berge pgf-pie smartdiagram chemfig mhchem pgfgantt tikzpeople
tikzsymbols tikzlings karnaugh-map bchart xcolor color graphicx graphics colortbl
amsmath amssymb amsfonts amsthm mathtools bm physics siunitx units nicefrac cancel
esint upgreek stmaryrd wasysym marvosym textcomp gensymb xfrac fontenc inputenc lmodern
helvet times mathptmx courier palatino babel
microtype geometry varwidth standalone preview calc ifthen xifthen etoolbox xparse
xstring fp xfp pgfmath xkeyval keyval array booktabs tabularx multirow multicol caption
subcaption subfig float wrapfig xspace enumitem verbatim hyperref url transparent eso-pic
lipsum blindtext kantlipsum natbib cleveref listings csquotes fancyhdr setspace parskip
titlesec ragged2e adjustbox tcolorbox xurl environ trimspaces pgfornament todonotes
tikzducks
"""
_CLASS_NAMES = "standalone article report book amsart amsbook scrartcl scrreprt scrbook minimal"
PACKAGES, CLASSES = frozenset(_PACKAGE_NAMES.split()), frozenset(_CLASS_NAMES.split())
# (each whitespace run is consumed once: no backtracking over a long one)
_CLASS = re.compile(r"\\documentclass\s*(?:\[[^\]]*\]\s*)?\{([^}]*)\}")
_PACKAGE = re.compile(r"\\(?:usepackage|RequirePackage)\s*(?:\[[^\]]*\]\s*)?\{([^}]*)\}")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
# Crops a document of another class to its pictures, one page each (after the document's
# own packages, so that an environment it defines, circuitikz, already exists).
CROP = (
    "\\usepackage[active,tightpage]{preview}\\PreviewEnvironment{tikzpicture}"
    "\\ifdefined\\circuitikz\\PreviewEnvironment{circuitikz}\\fi"
    "\\ifdefined\\forest\\PreviewEnvironment{forest}\\fi"
    "\\setlength\\PreviewBorder{4pt}\n"
)
ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": ".",
    "LANG": "C.UTF-8",
    "openin_any": "p",
    "openout_any": "p",
    "shell_escape": "f",
    "MKTEXTFM": "0",
    "MKTEXPK": "0",
    "MKTEXMF": "0",
    "MKTEXFMT": "0",
    "TEXMFVAR": ".texmf-var",
    # pdfTeX fills tens of MB of arrays on every run (most from the format): huge pages
    # make that a few hundred page faults instead of thousands (glibc 2.35+; else ignored)
    "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
    # the log's lines unwrapped, so that an error is read whole
    "max_print_line": "10000",
    "error_line": "254",
    "half_error_line": "238",
}


def preload() -> None:
    """Import now whatever a job uses: its supervisor hides the Python install from TikZ
    jobs (so that TeX finds nothing of it), and nothing can be imported after that."""
    import select  # noqa: F401  (run_program)
    import subprocess  # noqa: F401

    from PIL import Image, ImageColor, PngImagePlugin  # noqa: F401  (fit_png, is_blank)

    Image.preinit()


_REFUSED = re.compile(
    r"Not (?:reading from|writing to) (?!/dev/null ).*\((?:openin|openout)_any = p\)"
)


def _refused() -> str:
    """The engine's refusal of a file (openin_any/openout_any), from pdflatex's errors."""
    try:
        with open("tex.err", encoding="utf-8", errors="replace") as fh:
            found = _REFUSED.search(fh.read(1 << 20))
    except OSError:
        return ""
    return found.group(0)[:300] if found else ""


def _error(log: str) -> str:
    """TeX's first error and the line it was reading (``l.12 \\draw (0,0) -- ...``)."""
    lines = log.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.startswith("!")), None)
    if first is None:
        return log[-300:].strip()
    where = next((ln for ln in lines[first + 1 : first + 30] if re.match(r"l\.\d+ ", ln)), "")
    return (lines[first].strip() + (f" ({where.strip()[:200]})" if where else ""))[:500]


def document(code: str, with_format: bool) -> str:
    """The file pdflatex compiles for a bare picture: the preamble then the code, or,
    for a format that holds the preamble, a comment line in place of each preamble line."""
    head = "%\n" * HEAD.count("\n") if with_format else HEAD
    return head + BEGIN + code + END


def _uncommented(text: str) -> str:
    """The text with its comments blanked out (same length: positions still match)."""
    return re.sub(r"(?<!\\)%[^\n]*", lambda m: " " * len(m.group()), text)


def whole_document(code: str) -> str | None:
    """The file pdflatex compiles for a whole document (None: the code is a bare
    picture): as written, with the cropping package before ``\\begin{document}`` unless
    the class is standalone (which crops by itself). Raises ``blocked`` for a class or
    a package off the lists."""
    head = _uncommented(code)
    classes = [name.strip() for name in _CLASS.findall(head)]
    if not classes:
        return None
    for name in classes:  # every one the text names (one may sit in a false \if)
        if name not in CLASSES:
            raise RenderFailure(BLOCKED, f"document class {name!r} is not available "
                                f"(classes: {', '.join(sorted(CLASSES))})")  # fmt: skip
    named = [n.strip() for names in _PACKAGE.findall(head) for n in names.split(",")]
    off = [name for name in named if name and name not in PACKAGES]  # (a decoy \begin{document})
    if off:
        listed = ", ".join(repr(name) for name in dict.fromkeys(off))
        raise RenderFailure(BLOCKED, f"package{'s' if len(set(off)) > 1 else ''} {listed} "
                            "not on the list a drawing may load: remove it (the list: "
                            "renderers/tikz.py PACKAGES)")  # fmt: skip
    begin = _BEGIN_DOCUMENT.search(head)
    if begin is None or classes[-1] == "standalone":
        return code
    return code[: begin.start()] + CROP + code[begin.start() :]


# TeX runs in a folder of its own inside the job's: openout_any=p keeps its writes there
# (no "..", no absolute path), so the files the renderer reads to judge the run (the
# engine's refusals in tex.err, the job's log, the PNG) are out of the code's reach.
TEX_DIR = "tex"


def _pdflatex(code: str, fmt: str, text: str | None = None) -> int:
    """Write tex/doc.tex (``text``, or the bare picture ``code`` in its document) and
    compile it there (with the format file ``fmt`` unless empty)."""
    os.makedirs(TEX_DIR, exist_ok=True)
    with open(os.path.join(TEX_DIR, "doc.tex"), "w", encoding="utf-8") as fh:
        fh.write(text if text is not None else document(code, bool(fmt)))
    done = run_program(
        ["pdflatex", "-no-shell-escape", "-no-parse-first-line", "-interaction=nonstopmode",
         "-halt-on-error", *([f"-fmt={fmt}"] if fmt else []), "doc.tex"],
        ENV, float(os.environ.get("VAD_TEX_TIMEOUT", "60")), errors="tex.err", cwd=TEX_DIR,
    )  # fmt: skip
    if done is None:
        raise RenderFailure(TIMEOUT, "pdflatex did not finish")
    return done


_LIMIT_SIGNALS = (signal.SIGXCPU, signal.SIGKILL, signal.SIGXFSZ)  # the job's limits


def _compile(code: str) -> int:
    """pdflatex on the code: with the host's format when there is one that loads. One
    that stops pdflatex before it opens its log did not load; one that crashes it (a
    signal other than the job's limits: a damaged format) is not the code's doing
    either. Then the job compiles the whole preamble (a crash there is the code's)."""
    fmt = os.environ.get(FORMAT_VAR, "")
    if fmt and os.path.isfile(fmt):
        done = _pdflatex(code, fmt)
        crashed = done < 0 and -done not in _LIMIT_SIGNALS
        logged = os.path.exists(os.path.join(TEX_DIR, "doc.log"))
        if done == 0 or (done < 0 and not crashed) or (done > 0 and logged):
            return done
        why = f"pdflatex died of signal {-done}" if crashed else "pdflatex stopped before its log"
        print(f"the TeX format {fmt} did not load ({why}): compiled with the whole preamble",
              file=sys.stderr)  # fmt: skip
    return _pdflatex(code, "")


def _largest_page(pdf: str) -> str:
    """A document's picture: its largest page (a document may hold a small picture in a
    heading and its figure further on); the first of equals."""
    run_program(["pdfinfo", "-f", "1", "-l", "100", pdf], ENV, 30.0, errors="", out="pages.txt")
    try:
        with open("pages.txt", encoding="utf-8", errors="replace") as fh:
            sizes = re.findall(r"^Page +(\d+) size: +([\d.]+) x ([\d.]+)", fh.read(1 << 20), re.M)
    except OSError:
        return "1"
    if not sizes:
        return "1"
    return max(sizes, key=lambda s: (float(s[1]) * float(s[2]), -int(s[0])))[0]


def render(code: str, out_png: str, width: int, height: int) -> None:
    text = whole_document(code)
    done = _compile(code) if text is None else _pdflatex(code, "", text)
    log, pdf = "", os.path.join(TEX_DIR, "doc.pdf")
    if os.path.exists(os.path.join(TEX_DIR, "doc.log")):
        with open(os.path.join(TEX_DIR, "doc.log"), encoding="utf-8", errors="replace") as fh:
            log = fh.read()
    if done < 0:  # killed: CPU limit (SIGXCPU/SIGKILL) or file size limit, or a crash
        if -done == signal.SIGXFSZ:
            raise RenderFailure(TOO_LARGE, "pdflatex hit the file size limit")
        if -done not in _LIMIT_SIGNALS:
            raise RenderFailure(RUNTIME, f"pdflatex died of signal {-done}")
        raise RenderFailure(TIMEOUT, f"pdflatex killed by signal {-done}")
    if done != 0 or not os.path.exists(pdf):
        refused = _refused()  # the engine's own words, where the code cannot write
        if refused:
            raise RenderFailure(BLOCKED, refused)
        if "TeX capacity exceeded" in log:  # (the log is the code's to write into too)
            raise RenderFailure(MEMORY, _error(log))
        raise RenderFailure(SYNTAX, _error(log) or "pdflatex produced no PDF")
    side, page = max(width, height), "1" if text is None else _largest_page(pdf)
    done = run_program(
        ["pdftoppm", "-png", "-singlefile", "-f", page, "-l", page, "-scale-to", str(side),
         pdf, "page"],
        ENV, 30.0,
    )  # fmt: skip
    if done is None:
        raise RenderFailure(TIMEOUT, "pdftoppm did not finish")
    if done < 0:  # the CPU limit (SIGXCPU, then SIGKILL) or the file size limit
        if -done == signal.SIGXFSZ:
            raise RenderFailure(TOO_LARGE, "pdftoppm hit the file size limit")
        raise RenderFailure(TIMEOUT, f"pdftoppm killed by signal {-done}")
    if done != 0 or not os.path.exists("page.png"):
        raise RenderFailure(SYNTAX, f"pdftoppm could not rasterise the PDF ({done})")
    os.replace("page.png", out_png)
    fit_png(out_png, width, height)

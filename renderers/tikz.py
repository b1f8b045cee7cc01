"""TikZ renderer: pdflatex (no shell escape, paranoid file access) then pdftoppm.

The code (a tikzpicture) goes into a standalone document with a fixed preamble. TeX
primitives that read or write files or run commands are refused before compiling;
the engine is configured to refuse them as well (openin_any=p, openout_any=p,
-no-shell-escape), and the jail has no files worth reading. The jail is the boundary:
the filter goes by name, and LaTeX reaches any command by name without ``csname``
(``UseName{pdfobj}``, ``begin{input}``); and the ``file`` keyword of ``pdfobj`` ignores
openin_any, so TeX can draw the bytes of any file the jail shows (see
tests/test_attack_findings.py).

When ``VAD_TEX_FORMAT`` names a format file (the preamble ``HEAD`` dumped once by the
host, bound read-only into the jail), pdflatex loads it instead of reading the
preamble, and the document keeps one comment line per preamble line so that line
numbers are the same. A format that does not load (pdflatex stops before opening its
log) is reported in the job's log and the job compiles the whole preamble instead.
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

VERSION = "tikz-4"
HEAD = r"""\documentclass[tikz,border=4pt]{standalone}
\usetikzlibrary{arrows.meta,calc,positioning,shapes.geometric,shapes.misc,shapes.symbols,
  decorations.pathmorphing,decorations.markings,patterns,shadows,fit,backgrounds,
  intersections,through}
"""  # the host dumps exactly this text into the format (vad/render/texformat.py)
BEGIN, END = "\\begin{document}\n", "\n\\end{document}\n"
PREAMBLE = HEAD + BEGIN
FORMAT_VAR = "VAD_TEX_FORMAT"
_FORBIDDEN = re.compile(
    r"\\(write18|immediate|write|openin|openout|read|readline|input|include|InputIfFileExists"
    r"|usepackage|RequirePackage|documentclass|directlua|special|catcode|csname|endinput"
    r"|scantokens|everyeof|outer|pdfximage|pdfobj|openout)(?![A-Za-z])"
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
}


def preload() -> None:
    """Import now whatever a job uses: its supervisor hides the Python install from TikZ
    jobs (so that TeX finds nothing of it), and nothing can be imported after that."""
    import select  # noqa: F401  (run_program)
    import subprocess  # noqa: F401

    from PIL import Image, ImageColor, PngImagePlugin  # noqa: F401  (fit_png, is_blank)

    Image.preinit()


def _error(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.startswith("!")]
    return (lines[0] if lines else log[-300:]).strip()[:500]


def document(code: str, with_format: bool) -> str:
    """The file pdflatex compiles: the preamble then the code, or, for a format that
    holds the preamble, a comment line in place of each preamble line."""
    head = "%\n" * HEAD.count("\n") if with_format else HEAD
    return head + BEGIN + code + END


def _pdflatex(code: str, fmt: str) -> int:
    """Write doc.tex and compile it (with the format file ``fmt`` unless empty)."""
    with open("doc.tex", "w", encoding="utf-8") as fh:
        fh.write(document(code, bool(fmt)))
    done = run_program(
        ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
         *([f"-fmt={fmt}"] if fmt else []), "doc.tex"],
        ENV, float(os.environ.get("VAD_TEX_TIMEOUT", "60")),
    )  # fmt: skip
    if done is None:
        raise RenderFailure(TIMEOUT, "pdflatex did not finish")
    return done


_LIMIT_SIGNALS = (signal.SIGXCPU, signal.SIGKILL, signal.SIGXFSZ)  # the job's limits


def _compile(code: str) -> int:
    """pdflatex on the code: with the host's format when there is one that loads (one
    that stops pdflatex, or crashes it, before it opens its log does not)."""
    fmt = os.environ.get(FORMAT_VAR, "")
    if fmt and os.path.isfile(fmt):
        done = _pdflatex(code, fmt)
        if done == 0 or -done in _LIMIT_SIGNALS or os.path.exists("doc.log"):
            return done
        print(f"the TeX format {fmt} did not load: compiled with the whole preamble",
              file=sys.stderr)  # fmt: skip
    return _pdflatex(code, "")


def render(code: str, out_png: str, width: int, height: int) -> None:
    if "^^" in code:  # TeX's ^^5c is a backslash: it would hide any primitive below
        raise RenderFailure(BLOCKED, "TeX's ^^ character notation is not allowed in drawing code")
    match = _FORBIDDEN.search(code)
    if match:
        raise RenderFailure(BLOCKED, f"{match.group(0)} is not allowed in drawing code")
    done = _compile(code)
    log = ""
    if os.path.exists("doc.log"):
        with open("doc.log", encoding="utf-8", errors="replace") as fh:
            log = fh.read()
    if done < 0:  # killed: CPU limit (SIGXCPU/SIGKILL) or file size limit, or a crash
        if -done == signal.SIGXFSZ:
            raise RenderFailure(TOO_LARGE, "pdflatex hit the file size limit")
        if -done not in _LIMIT_SIGNALS:
            raise RenderFailure(RUNTIME, f"pdflatex died of signal {-done}")
        raise RenderFailure(TIMEOUT, f"pdflatex killed by signal {-done}")
    if done != 0 or not os.path.exists("doc.pdf"):
        if "TeX capacity exceeded" in log:
            raise RenderFailure(MEMORY, _error(log))
        if "openin_any" in log or "openout_any" in log or "not allowed" in log:
            raise RenderFailure(BLOCKED, _error(log))
        raise RenderFailure(SYNTAX, _error(log) or "pdflatex produced no PDF")
    side = max(width, height)
    done = run_program(
        ["pdftoppm", "-png", "-singlefile", "-f", "1", "-l", "1", "-scale-to", str(side),
         "doc.pdf", "page"],
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

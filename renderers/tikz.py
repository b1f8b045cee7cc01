"""TikZ renderer: pdflatex (no shell escape, paranoid file access) then pdftoppm.

The code (a tikzpicture) goes into a standalone document with a fixed preamble. TeX
primitives that read or write files or run commands are refused before compiling;
the engine is configured to refuse them as well (openin_any=p, openout_any=p,
-no-shell-escape), and the jail has no files worth reading.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

from _protocol import BLOCKED, MEMORY, SYNTAX, TIMEOUT, TOO_LARGE, RenderFailure, fit_png

VERSION = "tikz-3"
PREAMBLE = r"""\documentclass[tikz,border=4pt]{standalone}
\usetikzlibrary{arrows.meta,calc,positioning,shapes.geometric,shapes.misc,shapes.symbols,
  decorations.pathmorphing,decorations.markings,patterns,shadows,fit,backgrounds,
  intersections,through}
\begin{document}
"""
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
    "TEXMFVAR": ".texmf-var",
}


def preload() -> None:
    pass


def _error(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.startswith("!")]
    return (lines[0] if lines else log[-300:]).strip()[:500]


def render(code: str, out_png: str, width: int, height: int) -> None:
    if "^^" in code:  # TeX's ^^5c is a backslash: it would hide any primitive below
        raise RenderFailure(BLOCKED, "TeX's ^^ character notation is not allowed in drawing code")
    match = _FORBIDDEN.search(code)
    if match:
        raise RenderFailure(BLOCKED, f"{match.group(0)} is not allowed in drawing code")
    with open("doc.tex", "w", encoding="utf-8") as fh:
        fh.write(PREAMBLE + code + "\n\\end{document}\n")
    try:
        done = subprocess.run(
            ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
             "doc.tex"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=ENV, timeout=float(os.environ.get("VAD_TEX_TIMEOUT", "60")), check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RenderFailure(TIMEOUT, "pdflatex did not finish") from None
    log = ""
    if os.path.exists("doc.log"):
        with open("doc.log", encoding="utf-8", errors="replace") as fh:
            log = fh.read()
    if done.returncode < 0:  # killed: CPU limit (SIGXCPU/SIGKILL) or file size limit
        if -done.returncode == signal.SIGXFSZ:
            raise RenderFailure(TOO_LARGE, "pdflatex hit the file size limit")
        raise RenderFailure(TIMEOUT, f"pdflatex killed by signal {-done.returncode}")
    if done.returncode != 0 or not os.path.exists("doc.pdf"):
        if "TeX capacity exceeded" in log:
            raise RenderFailure(MEMORY, _error(log))
        if "openin_any" in log or "openout_any" in log or "not allowed" in log:
            raise RenderFailure(BLOCKED, _error(log))
        raise RenderFailure(SYNTAX, _error(log) or "pdflatex produced no PDF")
    side = max(width, height)
    try:
        done = subprocess.run(
            ["pdftoppm", "-png", "-singlefile", "-f", "1", "-l", "1", "-scale-to", str(side),
             "doc.pdf", "page"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=ENV, timeout=30, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RenderFailure(TIMEOUT, "pdftoppm did not finish") from None
    if done.returncode < 0:  # the CPU limit (SIGXCPU, then SIGKILL) or the file size limit
        if -done.returncode == signal.SIGXFSZ:
            raise RenderFailure(TOO_LARGE, "pdftoppm hit the file size limit")
        raise RenderFailure(TIMEOUT, f"pdftoppm killed by signal {-done.returncode}")
    if done.returncode != 0 or not os.path.exists("page.png"):
        raise RenderFailure(SYNTAX, f"pdftoppm could not rasterise the PDF ({done.returncode})")
    os.replace("page.png", out_png)
    fit_png(out_png, width, height)

"""Whole TikZ documents: their class, packages, libraries, colours, styles and commands
kept (renderers/tikz.py), packages from an allowlist, the jail as the boundary."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad.extract import extract_chat
from vad.languages import get_language
from vad.render import Limits, RenderPool, RenderResult, RenderStatus, texformat

needs_tex = pytest.mark.skipif(texformat.tex_identity() is None, reason="no TeX")
CORPUS = Path(__file__).parent / "data" / "programs" / "tikz"

MULTIPART = r"""\documentclass[tikz,border=3mm]{standalone}
\usetikzlibrary{shapes.multipart,positioning,arrows.meta}
\definecolor{classbg}{RGB}{255,244,214}
\colorlet{edge}{blue!60!black}
\tikzset{cls/.style={rectangle split, rectangle split parts=3, draw=edge, thick,
  fill=classbg, align=left, font=\small}}
\newcommand{\member}[2]{#1: \texttt{#2}}
\begin{document}
\begin{tikzpicture}
\node[cls] (a) {Animal \nodepart{second} \member{name}{str} \nodepart{third} speak()};
\node[cls, right=2cm of a] (d) {Dog \nodepart{second} \member{breed}{str}
  \nodepart{third} fetch()};
\draw[-{Triangle[open]}, edge] (d) -- (a);
\end{tikzpicture}
\end{document}
"""

ARTICLE = r"""\documentclass[11pt]{article}
\usepackage[dvipsnames]{xcolor}
\usepackage{tikz}
\title{Lab report}\author{A. Student}
\begin{document}
\maketitle
\section{Setup}
The apparatus is shown in Figure~\ref{fig:a}.
\begin{figure}[h]
\centering
\begin{tikzpicture}
\fill[ForestGreen] (0,0) rectangle (4,4);
\fill[BrickRed] (2,2) circle (1.5);
\end{tikzpicture}
\caption{The apparatus.}\label{fig:a}
\end{figure}
More text after the figure.
\end{document}
"""


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    with RenderPool(size=2, limits=Limits(timeout_s=30, cpu_s=25)) as p:
        yield p


def _draw(pool: RenderPool, reply: str, dest: Path) -> RenderResult:
    found = extract_chat(reply, "tikz")
    assert found.code is not None, found
    return pool.render("tikz", found.code, 224, 224, dest)


def _ink(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("L")) < 200


# -- repair: what the extraction keeps (no TeX) ---------------------------------------


def test_a_document_is_kept_as_written() -> None:
    notes: list[str] = []
    code = get_language("tikz").repair("Here:\n" + MULTIPART + "\nEnjoy!", notes)
    assert code == MULTIPART.strip()
    assert notes == ["dropped text before \\documentclass", "dropped text after \\end{document}"]


def test_a_truncated_document_is_closed() -> None:
    notes: list[str] = []
    cut = MULTIPART[: MULTIPART.index("\\draw[-{Triangle")] + "\\draw (a) -- (d"
    code = get_language("tikz").repair(cut, notes)
    assert code is not None and code.endswith("\\end{tikzpicture}\n\\end{document}")
    assert "\\draw (a) -- (d" not in code
    assert "closed 1 environment(s) of a truncated document" in notes


def test_preamble_commands_before_a_picture_make_a_document() -> None:
    notes: list[str] = []
    reply = (
        "\\usetikzlibrary{shapes.multipart}\n\\definecolor{c}{RGB}{1,2,3}\n"
        "\\begin{tikzpicture}\\node[rectangle split, fill=c] {a};\\end{tikzpicture}"
    )
    code = get_language("tikz").repair(reply, notes)
    assert code is not None and code.startswith("\\documentclass[tikz,border=4pt]{standalone}")
    assert "\\definecolor{c}" in code and code.endswith("\\end{tikzpicture}\n\\end{document}")
    # the same picture without them stays a bare picture (the fast path, the format)
    bare = get_language("tikz").repair(reply[reply.index("\\begin") :], [])
    assert bare is not None and bare.startswith("\\begin{tikzpicture}")


# -- rendered in the jail ----------------------------------------------------------------


@needs_tex
@pytest.mark.parametrize(
    "name",
    ["01-dfa-divisible-by-three", "04-rc-lowpass-filter", "08-spherical-coordinates",
     "14-groupplots-elementary-functions", "21-snake-lemma-tikzcd", "36-projectile-motion"],
)  # fmt: skip
@pytest.mark.slow
def test_documents_with_their_packages_render(pool: RenderPool, tmp_path: Path, name: str) -> None:
    """automata, circuitikz, tikz-3dplot, pgfplots groupplots, tikz-cd in an article,
    physics + siunitx + pgfplots: each a real document's own preamble."""
    code = (CORPUS / f"{name}.tex").read_text()
    result = _draw(pool, f"```latex\n{code}\n```", tmp_path / "d.png")
    assert result.ok, result
    assert _ink(tmp_path / "d.png").mean() > 0.005


@needs_tex
def test_colours_styles_and_commands_of_the_preamble_are_used(
    pool: RenderPool, tmp_path: Path
) -> None:
    result = _draw(pool, MULTIPART, tmp_path / "m.png")
    assert result.ok, result
    with Image.open(tmp_path / "m.png") as img:
        rgb = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int)
    # classbg (255,244,214) fills the class boxes
    assert (np.abs(rgb - [255, 244, 214]).sum(axis=1) < 12).mean() > 0.05


@needs_tex
def test_an_article_is_cropped_to_its_picture(pool: RenderPool, tmp_path: Path) -> None:
    """\\maketitle, \\section, text and \\caption around the figure: the image is the
    picture alone (the preview package crops the document to it)."""
    result = _draw(pool, ARTICLE, tmp_path / "a.png")
    assert result.ok, result
    with Image.open(tmp_path / "a.png") as img:
        rgb = np.asarray(img.convert("RGB")).astype(int)
    green = (np.abs(rgb - [34, 139, 34]).sum(axis=2) < 90).mean()  # dvipsnames ForestGreen
    assert green > 0.3, green  # the square fills the picture, no page of text around it


@needs_tex
@pytest.mark.parametrize(
    ("preamble", "reason"),
    [("\\usepackage{minted}", "package 'minted' not on the list"),
     ("\\usepackage{amsmath,pythontex}", "package 'pythontex' not on the list"),
     ("\\RequirePackage[foo]{shellesc}", "package 'shellesc' not on the list"),
     ("\\usepackage{minted}\\usepackage{pythontex,amsmath,minted}",
      "packages 'minted', 'pythontex' not on the list")],
)  # fmt: skip
def test_a_package_off_the_list_is_blocked_by_name(
    pool: RenderPool, tmp_path: Path, preamble: str, reason: str
) -> None:
    code = MULTIPART.replace("\\definecolor", preamble + "\n\\definecolor")
    result = pool.render("tikz", code, 224, 224, tmp_path / "x.png")
    assert result.status is RenderStatus.BLOCKED and result.reason.startswith(reason), result
    assert result.reason.endswith("remove it (the list: renderers/tikz.py PACKAGES)")


@needs_tex
def test_a_class_off_the_list_is_blocked_and_comments_do_not_count(
    pool: RenderPool, tmp_path: Path
) -> None:
    beamer = MULTIPART.replace("[tikz,border=3mm]{standalone}", "{beamer}")
    result = pool.render("tikz", beamer, 224, 224, tmp_path / "b.png")
    assert result.status is RenderStatus.BLOCKED
    assert result.reason.startswith("document class 'beamer' is not available")
    commented = MULTIPART.replace("\\definecolor", "% \\usepackage{minted}\n\\definecolor")
    assert pool.render("tikz", commented, 224, 224, tmp_path / "c.png").ok


# -- what the code cannot choose -----------------------------------------------------------
PICTURE = "\\begin{tikzpicture}\\draw (0,0) -- (1,1);"


@needs_tex
def test_tex_cannot_forge_the_engines_refusal_or_the_jobs_log(
    pool: RenderPool, tmp_path: Path
) -> None:
    """TeX runs in a folder of its own: the files the renderer judges by (the engine's
    refusals, the job's log) are out of its reach (openout_any=p: no "..")."""
    forged = (PICTURE + "\\immediate\\openout5=tex.err \\immediate\\write5{Not writing to "
              "ANYTHING (openout_any = p)}\\immediate\\closeout5 \\undefinedcs"
              "\\end{tikzpicture}")  # fmt: skip
    result = pool.render("tikz", forged, 64, 64, tmp_path / "f.png")
    assert result.status is RenderStatus.SYNTAX_ERROR, result
    assert result.reason.startswith("! Undefined control sequence. (l.")  # TeX's, with its line
    for target in ("log.txt", "../log.txt", "../tex.err"):
        code = (PICTURE + f"\\immediate\\openout5={target} \\immediate\\write5{{FORGED LINE}}"
                "\\immediate\\closeout5 \\end{tikzpicture}")  # fmt: skip
        result = pool.render("tikz", code, 64, 64, tmp_path / "l.png")
        assert "FORGED" not in result.stderr_tail + result.reason, (target, result)


@needs_tex
def test_the_lists_read_the_whole_text_and_the_first_line_is_no_switch(
    pool: RenderPool, tmp_path: Path
) -> None:
    decoy = ("\\documentclass{standalone}\\usepackage{tikz}\n\\iffalse\\begin{document}\\fi\n"
             "\\usepackage{shellesc}\n\\begin{document}\\tikz\\draw (0,0)--(1,1);"
             "\\end{document}")  # fmt: skip
    result = pool.render("tikz", decoy, 64, 64, tmp_path / "d.png")
    assert result.status is RenderStatus.BLOCKED and "'shellesc'" in result.reason
    two = ("\\iffalse\\documentclass{article}\\fi\\documentclass{beamer}\\usepackage{tikz}\n"
           "\\begin{document}\\tikz\\draw (0,0)--(1,1);\\end{document}")  # fmt: skip
    result = pool.render("tikz", two, 64, 64, tmp_path / "b.png")
    assert result.status is RenderStatus.BLOCKED and "'beamer'" in result.reason
    first = ("%&nosuchformat\n\\documentclass{standalone}\\usepackage{tikz}\n"
             "\\begin{document}\\tikz\\draw (0,0)--(1,1);\\end{document}")  # fmt: skip
    assert pool.render("tikz", first, 64, 64, tmp_path / "p.png").ok  # not a format switch


@needs_tex
def test_a_long_run_of_spaces_is_no_work_for_the_lists(pool: RenderPool, tmp_path: Path) -> None:
    code = "\\documentclass{" + " " * 200_000 + "\n\\usepackage " + " " * 200_000
    result = pool.render("tikz", code, 64, 64, tmp_path / "s.png")
    assert result.status is RenderStatus.SYNTAX_ERROR, result  # compiled, not timed out


@needs_tex
@pytest.mark.slow
def test_documents_as_editors_and_truncation_leave_them(pool: RenderPool, tmp_path: Path) -> None:
    """A byte-order mark; \\PassOptionsToPackage before the class; a reply cut inside a
    picture inside a figure; a document with no \\begin{document}: each renders."""
    passed = ("\\PassOptionsToPackage{dvipsnames}{xcolor}\n" + ARTICLE.replace(
        "\\usepackage[dvipsnames]{xcolor}\n", ""))  # fmt: skip
    cut = ARTICLE[: ARTICLE.index("\\fill[BrickRed]")] + "\\fill[BrickRed] (2,2) cir"
    no_begin = ("\\documentclass[tikz]{standalone}\n\\usetikzlibrary{calc}\n\\begin{tikzpicture}"
                "\\fill[red] (0,0) circle (2);\\end{tikzpicture}\n")  # fmt: skip
    for name, doc in {"bom": "\ufeff" + MULTIPART, "passed": passed, "cut": cut,
                      "no-begin": no_begin}.items():  # fmt: skip
        result = _draw(pool, f"```latex\n{doc}\n```", tmp_path / f"{name}.png")
        assert result.ok, (name, result)
        assert _ink(tmp_path / f"{name}.png").mean() > 0.01, name


@needs_tex
@pytest.mark.slow
def test_the_documents_largest_picture_is_taken(pool: RenderPool, tmp_path: Path) -> None:
    """A small picture in a heading, the figure further on (and forest, whose inner
    pictures are not pages of their own): the image is the main picture."""
    logo = "\\section{Setup} A logo: \\tikz\\fill (0,0) circle (1pt);"
    heading = ARTICLE.replace("\\section{Setup}", logo)
    result = _draw(pool, heading, tmp_path / "h.png")
    assert result.ok, result
    with Image.open(tmp_path / "h.png") as img:
        rgb = np.asarray(img.convert("RGB")).astype(int)
    assert (np.abs(rgb - [34, 139, 34]).sum(axis=2) < 90).mean() > 0.3  # the green square
    forest = ("\\documentclass{article}\n\\usepackage{forest}\n\\begin{document}\nA tree:\n"
              "\\begin{forest}[S [NP [D [the]] [N [cat]]] [VP [V [sat]]]]\\end{forest}\n"
              "\\end{document}")  # fmt: skip
    result = _draw(pool, forest, tmp_path / "f.png")
    assert result.ok, result
    assert _ink(tmp_path / "f.png").mean() > 0.01


@needs_tex
def test_a_tex_error_names_its_line(pool: RenderPool, tmp_path: Path) -> None:
    code = MULTIPART.replace("\\draw[-{Triangle", "\\undefinedthing\n\\draw[-{Triangle")
    result = pool.render("tikz", code, 64, 64, tmp_path / "e.png")
    assert result.status is RenderStatus.SYNTAX_ERROR
    assert re.match(r"! Undefined control sequence\. \(l\.\d+ \\undefinedthing", result.reason), (
        result.reason
    )

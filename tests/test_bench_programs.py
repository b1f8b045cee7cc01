"""`vad bench programs`: real programs per language, vad against the language's own
toolchain run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from vad.bench_programs import (
    GOAL,
    Program,
    check,
    format_programs,
    languages_of,
    load_corpus,
    summarize,
    toolchain_tikz,
)
from vad.errors import VadError
from vad.render import Limits, texformat


def test_a_corpus_of_ones_own_is_read_with_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(VadError, match=r"has no folder of any language"):
        languages_of([], tmp_path)
    (tmp_path / "svg").mkdir()
    assert languages_of([], tmp_path) == ("svg",)  # the languages it has folders for
    assert languages_of(["SVG", "latex", "svg,"[:-1], " tikz "], None) == ("svg", "tikz")
    with pytest.raises(VadError, match=r"no svg programs in .*: it holds no \*\.svg file"):
        load_corpus("svg", tmp_path)
    with pytest.raises(VadError, match=r"no folder .*/tikz: --corpus names a folder"):
        load_corpus("tikz", tmp_path)
    (tmp_path / "svg" / "a.SVG").write_bytes(b"\xef\xbb\xbf<svg/>")  # a BOM, upper case
    (tmp_path / "svg" / "notes.txt").write_text("not a program")
    assert [(p.name, p.code) for p in load_corpus("svg", tmp_path)] == [("a", "<svg/>")]
    (tmp_path / "svg" / "b.svg").write_bytes(b"<svg>caf\xe9</svg>")
    with pytest.raises(VadError, match=r"b\.svg is not UTF-8 text .*save it as UTF-8"):
        load_corpus("svg", tmp_path)


def test_the_share_counts_only_what_the_toolchain_renders() -> None:
    programs = [
        Program("svg", "a", "", vad="ok", tool=""),
        Program("svg", "b", "", vad="syntax_error", vad_reason="bad", tool=""),
        Program("svg", "c", "", vad="ok", tool="XML parse error"),  # vad only
        Program("svg", "d", "", vad="runtime_error", tool="a blank page"),  # neither
        Program("turtle", "t", "", vad="timeout", vad_reason="killed after 20 s"),
    ]
    svg, turtle = summarize(programs)
    assert [p.name for p in svg["both_fail"]] == ["d"]
    assert (svg["programs"], svg["toolchain"], svg["vad"]) == (4, 2, 2)
    assert svg["share"] == 0.5 and not svg["met"]
    assert [p.name for p in svg["vad_only_fails"]] == ["b"]
    assert [p.name for p in svg["tool_only_fails"]] == ["c"]
    assert turtle["toolchain"] is None and turtle["share"] is None
    table = format_programs([svg, turtle])
    assert "| SVG | 4 | 2 | 2 | 50% | >= 95%: **not met** |" in table
    assert "- b: syntax_error: bad" in table and "- t: timeout: killed after 20 s" in table
    assert "- d: vad runtime_error: ; toolchain: a blank page" in table
    # a toolchain that rendered none: no share, and not met (never "no toolchain here")
    (none,) = summarize([Program("tikz", "x", "", vad="ok", tool="! Undefined control")])
    assert none["share"] is None and not none["met"]
    assert "**not met**: the toolchain rendered none" in format_programs([none])


@pytest.mark.skipif(texformat.tex_identity() is None, reason="no TeX")
def test_the_tikz_toolchain_reports_the_error(tmp_path: Path) -> None:
    broken = "\\documentclass{article}\\begin{document}\\undefinedthing\\end{document}"
    assert toolchain_tikz(broken, tmp_path) == "! Undefined control sequence."
    good = "\\documentclass{standalone}\\usepackage{tikz}\\begin{document}" \
        "\\tikz\\draw (0,0) -- (1,1);\\end{document}"  # fmt: skip
    (tmp_path / "ok").mkdir()
    assert toolchain_tikz(good, tmp_path / "ok") == ""


@pytest.mark.slow
def test_vad_renders_what_each_toolchain_renders() -> None:
    """The whole corpus of every language (tests/data/programs; turtledemo for turtle):
    vad renders at least 95% of what the language's own toolchain renders as written.
    What is measured is extraction, repair and rendering, not speed: the jobs get three
    times the jail's time, as a busy CI machine slows the longest turtle programs
    (penrose, round_dance: about 20 s of a 20 s limit there) past it."""
    slow_machine = Limits(timeout_s=60.0, cpu_s=60)
    rows = summarize(check(("tikz", "matplotlib", "svg", "p5", "processing", "turtle"),
                           limits=slow_machine))  # fmt: skip
    table = format_programs(rows)
    for row in rows:
        if row["toolchain"] is None:  # turtle: only endless animations and empty endings
            assert all(p.vad in ("timeout", "empty_image") for p in row["vad_fails"]), table
            assert row["vad"] >= row["programs"] - 3, table
        else:
            assert row["toolchain"] >= 0.9 * row["programs"], table  # a corpus that runs
            assert row["share"] >= GOAL, table

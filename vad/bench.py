"""`vad bench render`: images per second per core, sandboxed vs unsandboxed, one run.

The corpus is the reference drawings of shape concepts (valid programs in every
language). "raw" is the renderer's own work with no worker and no jail: cairosvg in
this process, matplotlib exec + savefig in this process, pdflatex + pdftoppm as plain
subprocesses. "warm, no jail" and "warm, jailed" go through one pool worker (one
core). Each is timed ``repeat`` times over the corpus and the best time is kept.

For p5 and Processing, "raw" is Chromium as a plain subprocess on the renderer's own
page (renderers/_browser.py); jailed, each job starts a jail of its own.

TikZ is measured twice in the same run: every job compiling the whole preamble
($VAD_TIKZ_FORMAT=0, as before the preamble format existed) and every job loading the
preamble's format file (vad/render/texformat.py); the second row's target compares
the two.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vad._paths import project_dir
from vad.concepts import load_concepts
from vad.concepts.reference import reference_program
from vad.render import RenderPool, get_renderer
from vad.render.jail import JS_VAR, js_dir
from vad.render.texformat import SWITCH, tikz_format

TARGETS = {
    "svg": "jailed <= 1.5x raw time",
    "matplotlib": ">= 20 images/s per core jailed",
    "tikz": "jailed <= 1.3x raw time",
    "p5": "none (measured)",
    "processing": "none (measured)",
}
FORMAT_TARGET = 3.0  # jailed TikZ images/s with the format over without it, same run


def _raw_svg(codes: list[str], out: Path) -> None:
    import cairosvg

    for i, code in enumerate(codes):
        cairosvg.svg2png(bytestring=code.encode(), write_to=str(out / f"{i}.png"),
                         output_width=224, output_height=224, background_color="white",
                         unsafe=False)  # fmt: skip


def _raw_matplotlib(codes: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for i, code in enumerate(codes):
        exec(compile(code, "drawing.py", "exec"), {"__name__": "__main__"})
        fig = plt.gcf()
        fig.set_size_inches(2.24, 2.24)
        fig.savefig(out / f"{i}.png", dpi=100, facecolor="white")
        plt.close("all")


def _raw_tikz(codes: list[str], out: Path) -> None:
    sys.path.insert(0, str(project_dir("renderers")))
    import tikz  # the same preamble and document as the jailed renderer

    fmt = tikz_format()  # None when $VAD_TIKZ_FORMAT=0 (or no format can be had)
    for i, code in enumerate(codes):
        job = out / str(i)
        job.mkdir()
        (job / "doc.tex").write_text(tikz.document(code, fmt is not None))
        subprocess.run(
            ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode",
             *([f"-fmt={fmt}"] if fmt else []), "doc.tex"],
            cwd=job, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True,
        )  # fmt: skip
        subprocess.run(["pdftoppm", "-png", "-singlefile", "-scale-to", "224", "doc.pdf", "page"],
                       cwd=job, check=True)  # fmt: skip


def _raw_sketch(lang: str) -> Callable[[list[str], Path], None]:
    def run(codes: list[str], out: Path) -> None:
        sys.path.insert(0, str(project_dir("renderers")))
        module = importlib.import_module(get_renderer(lang).module)
        before = os.environ.get(JS_VAR)
        os.environ[JS_VAR] = str(js_dir())  # the folder the pool binds into the jail
        try:
            module.preload()
        finally:
            if before is None:
                os.environ.pop(JS_VAR)
            else:
                os.environ[JS_VAR] = before
        for i, code in enumerate(codes):
            (out / str(i)).mkdir()
            with contextlib.chdir(out / str(i)):  # the page and Chromium's profile
                module.render(code, "out.png", 224, 224)

    return run


RAW = {"svg": _raw_svg, "matplotlib": _raw_matplotlib, "tikz": _raw_tikz,
       "p5": _raw_sketch("p5"), "processing": _raw_sketch("processing")}  # fmt: skip


@contextlib.contextmanager
def _format_switch(on: bool | None) -> Iterator[None]:
    """Set $VAD_TIKZ_FORMAT while a pool starts or a raw pass runs (None: leave it)."""
    before = os.environ.get(SWITCH)
    if on is not None:
        os.environ[SWITCH] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SWITCH, None)
        else:
            os.environ[SWITCH] = before


def _pool_rates(
    codes: list[str],
    lang: str,
    sandbox: bool,
    out: Path,
    repeat: int,
    variants: tuple[bool | None, ...],
) -> list[tuple[float, int]]:
    """Best time of ``repeat`` passes over the corpus through one warm worker per
    variant, the variants' passes taking turns (so a change of load hits them alike)."""
    with contextlib.ExitStack() as stack:
        pools = []
        for k, on in enumerate(variants):
            with _format_switch(on):  # the pool reads the switch when it starts
                pool = stack.enter_context(RenderPool(size=1, sandbox=sandbox))
                pool.render(lang, codes[0], 224, 224, out / f"warmup{k}.png")  # start it
            pools.append(pool)
        times: list[list[float]] = [[] for _ in variants]
        oks = [0] * len(variants)
        for _ in range(repeat):
            for k, pool in enumerate(pools):
                started = time.perf_counter()
                oks[k] = sum(pool.render(lang, code, 224, 224, out / f"{k}-{i}.png").ok
                             for i, code in enumerate(codes))  # fmt: skip
                times[k].append(time.perf_counter() - started)
        return [(min(t), ok) for t, ok in zip(times, oks, strict=True)]


def _raw_rates(
    codes: list[str], lang: str, out: Path, repeat: int, variants: tuple[bool | None, ...]
) -> list[float]:
    """Best time of ``repeat`` raw passes per variant, the variants taking turns."""
    for k, on in enumerate(variants):
        (out / f"warmup{k}").mkdir()
        with _format_switch(on):
            RAW[lang](codes[:2], out / f"warmup{k}")  # imports and caches, as the pool's
    times: list[list[float]] = [[] for _ in variants]
    for r in range(repeat):
        for k, on in enumerate(variants):
            (out / f"{k}-{r}").mkdir()
            with _format_switch(on):
                started = time.perf_counter()
                RAW[lang](codes, out / f"{k}-{r}")
                times[k].append(time.perf_counter() - started)
    return [min(t) for t in times]


def _measure(
    codes: list[str], lang: str, repeat: int, variants: tuple[bool | None, ...]
) -> list[dict[str, Any]]:
    """One row per variant: the corpus raw, warm without jail and warm in the jail."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for sub in ("raw", "warm", "jail"):
            (base / sub).mkdir()
        raws = _raw_rates(codes, lang, base / "raw", repeat, variants)
        warms = _pool_rates(codes, lang, False, base / "warm", repeat, variants)
        jails = _pool_rates(codes, lang, True, base / "jail", repeat, variants)
    rows = []
    for on, raw_s, (warm_s, _), (jail_s, jail_ok) in zip(variants, raws, warms, jails, strict=True):
        rows.append({
            "language": lang, "programs": len(codes), "ok": jail_ok,
            "raw_per_s": len(codes) / raw_s, "warm_per_s": len(codes) / warm_s,
            "jailed_per_s": len(codes) / jail_s, "jailed_vs_raw": jail_s / raw_s,
            "target": TARGETS[lang],
            **({} if on is None else {"variant": "format" if on else "no format"}),
        })  # fmt: skip
    return rows


def render_benchmark(
    n: int = 60,
    languages: tuple[str, ...] = ("svg", "matplotlib", "tikz"),
    repeat: int = 3,
    tikz_formats: tuple[bool, ...] = (False, True),
) -> list[dict[str, Any]]:
    """Time the same corpus raw, warm without jail, and warm in the jail (best of N);
    TikZ once per entry of ``tikz_formats`` (without, then with the preamble format),
    their passes taking turns in one run."""
    concepts = load_concepts(["shapes"], limit=n, seed=7)
    rows = []
    for lang in languages:
        codes = [reference_program(c, lang) for c in concepts]
        variants: tuple[bool | None, ...] = tikz_formats if lang == "tikz" else (None,)
        rows += _measure(codes, lang, repeat, variants)
    plain = [r for r in rows if r.get("variant") == "no format"]
    for row in rows:
        if row.get("variant") == "format" and plain:
            row["format_speedup"] = row["jailed_per_s"] / plain[0]["jailed_per_s"]
            met = "met" if row["format_speedup"] >= FORMAT_TARGET else "**not met**"
            row["target"] = (
                f">= {FORMAT_TARGET:g}x jailed img/s of no format: "
                f"{row['format_speedup']:.2f}x, {met}"
            )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| language | programs | rendered ok | raw img/s | warm, no jail img/s | "
        "warm, jailed img/s | jailed time / raw time | target |"
    )
    lines = [header, "|" + "---|" * 8]
    for r in rows:
        name = r["language"] + (f", {r['variant']}" if r.get("variant") else "")
        lines.append(
            f"| {name} | {r['programs']} | {r['ok']} | {r['raw_per_s']:.1f} | "
            f"{r['warm_per_s']:.1f} | {r['jailed_per_s']:.1f} | {r['jailed_vs_raw']:.2f}x | "
            f"{r['target']} |"
        )
    cores = os.cpu_count()
    lines.append(
        f"\nOne worker (one core) per measurement, best of the repeats; "
        f"this machine has {cores} cores."
    )
    return "\n".join(lines)

"""`vad bench render`: images per second per core, sandboxed vs unsandboxed, one run.

The corpus is the reference drawings of shape concepts (valid programs in every
language). "raw" is the renderer's own work with no worker and no jail: cairosvg in
this process, matplotlib exec + savefig in this process, pdflatex + pdftoppm as plain
subprocesses. "warm, no jail" and "warm, jailed" go through one pool worker (one
core). Each is timed ``repeat`` times over the corpus and the best time is kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vad._paths import project_dir
from vad.concepts import load_concepts
from vad.concepts.reference import reference_program
from vad.render import RenderPool

TARGETS = {
    "svg": "jailed <= 1.5x raw time",
    "matplotlib": ">= 20 images/s per core jailed",
    "tikz": "jailed <= 1.3x raw time",
}


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
    import tikz  # the same preamble as the jailed renderer

    for i, code in enumerate(codes):
        job = out / str(i)
        job.mkdir()
        (job / "doc.tex").write_text(tikz.PREAMBLE + code + "\n\\end{document}\n")
        subprocess.run(
            ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "doc.tex"],
            cwd=job,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        subprocess.run(["pdftoppm", "-png", "-singlefile", "-scale-to", "224", "doc.pdf", "page"],
                       cwd=job, check=True)  # fmt: skip


RAW = {"svg": _raw_svg, "matplotlib": _raw_matplotlib, "tikz": _raw_tikz}


def _pool_rate(
    codes: list[str], lang: str, sandbox: bool, out: Path, repeat: int
) -> tuple[float, int]:
    """Best time of ``repeat`` passes over the corpus through one warm worker."""
    with RenderPool(size=1, sandbox=sandbox) as pool:
        pool.render(lang, codes[0], 224, 224, out / "warmup.png")  # start the worker
        times, ok = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            ok = sum(pool.render(lang, code, 224, 224, out / f"{i}.png").ok
                     for i, code in enumerate(codes))  # fmt: skip
            times.append(time.perf_counter() - started)
        return min(times), ok


def _raw_rate(codes: list[str], lang: str, out: Path, repeat: int) -> float:
    (out / "warmup").mkdir()
    RAW[lang](codes[:2], out / "warmup")  # imports and caches, as the pool's warm-up
    times = []
    for r in range(repeat):
        (out / str(r)).mkdir()
        started = time.perf_counter()
        RAW[lang](codes, out / str(r))
        times.append(time.perf_counter() - started)
    return min(times)


def render_benchmark(
    n: int = 60,
    languages: tuple[str, ...] = ("svg", "matplotlib", "tikz"),
    repeat: int = 3,
) -> list[dict[str, Any]]:
    """Time the same corpus raw, warm without jail, and warm in the jail (best of N)."""
    concepts = load_concepts(["shapes"], limit=n, seed=7)
    rows = []
    for lang in languages:
        codes = [reference_program(c, lang) for c in concepts]
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            for sub in ("raw", "warm", "jail"):
                (base / sub).mkdir()
            raw_s = _raw_rate(codes, lang, base / "raw", repeat)
            warm_s, _ = _pool_rate(codes, lang, False, base / "warm", repeat)
            jail_s, jail_ok = _pool_rate(codes, lang, True, base / "jail", repeat)
        rows.append({
            "language": lang, "programs": len(codes), "ok": jail_ok,
            "raw_per_s": len(codes) / raw_s, "warm_per_s": len(codes) / warm_s,
            "jailed_per_s": len(codes) / jail_s, "jailed_vs_raw": jail_s / raw_s,
            "target": TARGETS[lang],
        })  # fmt: skip
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| language | programs | rendered ok | raw img/s | warm, no jail img/s | "
        "warm, jailed img/s | jailed time / raw time | target |"
    )
    lines = [header, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['language']} | {r['programs']} | {r['ok']} | {r['raw_per_s']:.1f} | "
            f"{r['warm_per_s']:.1f} | {r['jailed_per_s']:.1f} | {r['jailed_vs_raw']:.2f}x | "
            f"{r['target']} |"
        )
    cores = os.cpu_count()
    lines.append(
        f"\nOne worker (one core) per measurement, best of the repeats; "
        f"this machine has {cores} cores."
    )
    return "\n".join(lines)

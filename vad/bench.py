"""`vad bench render`: images per second per core, sandboxed vs unsandboxed, one run.

The corpus is the reference drawings of shape concepts (valid programs in every
language). "in-process" is the rendering library itself: the language's module of
renderers/ called in one plain process, program after program, nothing forked (for the
languages whose renderer keeps no state between programs: SVG, matplotlib, TikZ).
"raw" is the same module with each program in a child forked for it, as the worker
runs its jobs: no jail and no protocol, the most any design that gives every program a
fresh process can reach ("raw / in-process" is that ceiling). "warm, no jail" and "warm,
jailed" go through one pool worker. Each is timed ``repeat`` times over the corpus and
the best time is kept. Unless told otherwise, the whole measurement (this process, the
pool's workers and jails, the raw renderers) runs on one CPU, so that a ratio compares
the work each way does, not how much of it overlaps on other cores.

TikZ is measured twice in the same run: every job compiling the whole preamble (no
format, as before the preamble format existed) and every job loading the preamble's
format file (vad/languages/_texformat.py), whatever $VAD_TIKZ_FORMAT says: the pools and
raw renderers are given what the tikz language's ``prepare_host`` prepares for each
(``use_format``); the second row's target compares the two.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vad._paths import project_dir
from vad.concepts import load_concepts
from vad.languages import get_language, language_names, reference_program, tikz
from vad.languages.base import HostFiles
from vad.render import RenderPool

FORMAT_TARGET = 3.0  # jailed TikZ images/s with the format over without it, same run
INPROC_TARGET = 0.5  # jailed images/s over the library in-process, same run (svg, matplotlib)
INPROC_TARGETED = ("svg", "matplotlib")


# "raw": the language's renderer module itself (renderers/<module>.py), in one plain
# process with no worker protocol and no jail: preload() once, then render() each
# program in a child forked for it (renderers keep no state between jobs: turtle's
# screen, matplotlib's figures), in a folder of its own; "in-process" (argv[4]) calls
# render() in the process itself. The host sends "pass N" lines and reads back the
# seconds taken and the programs that failed.
_RAW_SCRIPT = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
module = __import__(sys.argv[2])
module.preload()
codes, out, inproc = json.loads(sys.stdin.readline()), sys.argv[3], sys.argv[4] == "1"
for line in sys.stdin:
    folder = os.path.join(out, line.split()[1])
    started, failed = time.perf_counter(), 0
    for i, code in enumerate(codes):
        os.makedirs(os.path.join(folder, str(i)))
        if inproc:
            os.chdir(os.path.join(folder, str(i)))
            try:
                module.render(code, "out.png", 224, 224)
            except Exception:
                failed += 1
            continue
        pid = os.fork()
        if pid == 0:  # each program in a fresh child, as the worker runs its jobs
            os.chdir(os.path.join(folder, str(i)))
            try:
                module.render(code, "out.png", 224, 224)
                os._exit(0)
            except BaseException:
                os._exit(1)
        failed += os.waitpid(pid, 0)[1] != 0
    print(time.perf_counter() - started, failed, flush=True)
"""


def _host_files(lang: str, tex_format: bool | None) -> HostFiles:
    """What ``lang``'s jobs get of the host: what its ``prepare_host`` prepares; for a
    TikZ variant (``tex_format`` not None), the preamble's format or none."""
    if tex_format is not None:
        return tikz.prepare_host(use_format=tex_format)
    prepare = get_language(lang).prepare_host
    return prepare() if prepare is not None else HostFiles()


class _RawRenderer:
    """One plain process running a language's renderer module over the corpus."""

    def __init__(
        self, lang: str, codes: list[str], out: Path, tex_format: bool | None, inproc: bool
    ) -> None:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(out),
               "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(out / "mpl")}  # fmt: skip
        # what the pool shows its jail (the format, the JavaScript libraries), unjailed
        env.update(_host_files(lang, tex_format).present().unjailed_env())
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _RAW_SCRIPT, str(project_dir("renderers")),
             get_language(lang).module, str(out), "1" if inproc else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=out,
        )  # fmt: skip
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(codes) + "\n")
        self.passes = 0

    def timed_pass(self) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"pass {self.passes}\n")
        self.proc.stdin.flush()
        self.passes += 1
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[1] != "0":
            raise RuntimeError(f"the raw renderer failed on {line[1:] or 'every'} program(s) "
                               "of the corpus: run `vad doctor`")  # fmt: skip
        return float(line[0])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


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
            given = {lang: _host_files(lang, on)}
            pool = stack.enter_context(RenderPool(size=1, sandbox=sandbox, host_files=given))
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


IN_PROCESS = ("svg", "matplotlib", "tikz")  # renderers that keep no state between programs


def _raw_rates(
    codes: list[str],
    lang: str,
    out: Path,
    repeat: int,
    variants: tuple[bool | None, ...],
    inproc: bool = False,
) -> list[float]:
    """Best time of ``repeat`` raw (or in-process) passes per variant, the variants
    taking turns (a warm-up pass first: imports and caches, as the pool's)."""
    runners = []
    for k, on in enumerate(variants):
        (out / str(k)).mkdir()
        runners.append(_RawRenderer(lang, codes, out / str(k), on, inproc))
    try:
        for runner in runners:
            runner.timed_pass()
        times: list[list[float]] = [[] for _ in variants]
        for _ in range(repeat):
            for k, runner in enumerate(runners):
                times[k].append(runner.timed_pass())
    finally:
        for runner in runners:
            runner.close()
    return [min(t) for t in times]


def _measure(
    codes: list[str], lang: str, repeat: int, variants: tuple[bool | None, ...]
) -> list[dict[str, Any]]:
    """One row per variant: the corpus raw, warm without jail and warm in the jail."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for sub in ("inproc", "raw", "warm", "jail"):
            (base / sub).mkdir()
        inprocs: list[float | None] = [None] * len(variants)
        if lang in IN_PROCESS:
            inprocs = list(_raw_rates(codes, lang, base / "inproc", repeat, variants, True))
        raws = _raw_rates(codes, lang, base / "raw", repeat, variants)
        warms = _pool_rates(codes, lang, False, base / "warm", repeat, variants)
        jails = _pool_rates(codes, lang, True, base / "jail", repeat, variants)
    rows = []
    for on, in_s, raw_s, (warm_s, _), (jail_s, jail_ok) in zip(
        variants, inprocs, raws, warms, jails, strict=True
    ):
        rows.append({
            "language": lang, "programs": len(codes), "ok": jail_ok,
            "inproc_per_s": len(codes) / in_s if in_s else None,
            "jailed_vs_inproc": in_s / jail_s if in_s else None,
            "raw_vs_inproc": in_s / raw_s if in_s else None,
            "raw_per_s": len(codes) / raw_s, "warm_per_s": len(codes) / warm_s,
            "jailed_per_s": len(codes) / jail_s, "jailed_vs_raw": jail_s / raw_s,
            "target": get_language(lang).bench_target,
            **({} if on is None else {"variant": "format" if on else "no format"}),
        })  # fmt: skip
    return rows


@contextlib.contextmanager
def _one_cpu(on: bool) -> Iterator[int | None]:
    """Run on one CPU (the first this process may use) while measuring; every process
    started meanwhile inherits it. Yields the CPU, or None when not pinned."""
    before = os.sched_getaffinity(0)
    cpu = min(before) if on else None
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def render_benchmark(
    n: int = 60,
    languages: tuple[str, ...] | None = None,
    repeat: int = 3,
    tikz_formats: tuple[bool, ...] = (False, True),
    one_cpu: bool = True,
) -> list[dict[str, Any]]:
    """Time the same corpus raw, warm without jail, and warm in the jail (best of N);
    TikZ once per entry of ``tikz_formats`` (without, then with the preamble format),
    their passes taking turns in one run; on one CPU unless ``one_cpu`` is False."""
    concepts = load_concepts(["shapes"], limit=n, seed=7)
    rows = []
    with _one_cpu(one_cpu) as cpu:
        for lang in languages or language_names():
            codes = [reference_program(c, lang) for c in concepts]
            variants: tuple[bool | None, ...] = tikz_formats if lang == "tikz" else (None,)
            rows += _measure(codes, lang, repeat, variants)
    for row in rows:
        row["cpu"] = cpu
        if row["language"] in INPROC_TARGETED and row.get("jailed_vs_inproc"):
            met = "met" if row["jailed_vs_inproc"] >= INPROC_TARGET else "**not met**"
            row["target"] = (f">= {INPROC_TARGET:g}x in-process img/s jailed: "
                             f"{row['jailed_vs_inproc']:.2f}x, {met}")  # fmt: skip
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
        "| language | programs | rendered ok | in-process img/s | raw img/s | "
        "warm, no jail img/s | warm, jailed img/s | raw / in-process | "
        "jailed / in-process | jailed time / raw time | target |"
    )
    lines = [header, "|" + "---|" * 11]

    def ratio(value: float | None) -> str:
        return f"{value:.2f}" if value else "—"

    for r in rows:
        name = r["language"] + (f", {r['variant']}" if r.get("variant") else "")
        inproc = f"{r['inproc_per_s']:.1f}" if r.get("inproc_per_s") else "—"
        lines.append(
            f"| {name} | {r['programs']} | {r['ok']} | {inproc} | {r['raw_per_s']:.1f} | "
            f"{r['warm_per_s']:.1f} | {r['jailed_per_s']:.1f} | "
            f"{ratio(r.get('raw_vs_inproc'))} | {ratio(r.get('jailed_vs_inproc'))} | "
            f"{r['jailed_vs_raw']:.2f}x | {r['target']} |"
        )
    cpu = rows[0].get("cpu") if rows else None
    where = (f"everything on CPU {cpu}" if cpu is not None
             else f"not pinned: this machine has {os.cpu_count()} cores")  # fmt: skip
    lines.append(
        f'\nOne worker per measurement, best of the repeats; {where}. "raw" forks a '
        "child per program (no jail, no protocol): raw / in-process is the most a fresh "
        "process per program reaches."
    )
    return "\n".join(lines)

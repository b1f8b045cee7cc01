"""`vad bench site`: how long the leaderboard's site takes to build, and how large it is,
at 1k, 10k and 100k samples, on synthetic runs.

For each size, finished run folders are made in a scratch folder: ``RUNS`` runs of
``MODELS`` models each, the samples split evenly among them, as a draw run writes them
(the real prompts as sent, a reply with a fenced block of a few hundred characters of
code in svg, tikz, matplotlib or p5, the extraction, the render's record, the shapes
verifier's verdict on shape concepts; about 70% ``ok`` with a 224x224 PNG, the rest
``syntax_error`` (cut-off code) or ``no_code``). Only a few hundred distinct PNGs are
made (more than a Parquet row group holds, so the dataset does not shrink by folding
repeats), but each drawing is a file of its own, since the build copies each.

Then ``build_leaderboard`` runs over them in a fresh Python process (so each size's peak
RSS is its own: that process's ``ru_maxrss``, imports included, as ``vad leaderboard``
would have) and the site is measured: seconds, total size and files, and the size of
the sample pages' data (``data/``), the image copies (``images/``), the dataset
(``dataset/``) and the HTML pages. The build's phases are timed by wrapping, in that
process only, the functions the build calls (exclusive times: an image copied while a
page is made counts as ``images``, not as the page).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from string import Template
from typing import Any

from vad.errors import VadError

SIZES = (1_000, 10_000, 100_000)
RUNS = 2
MODELS = (("openai/gpt-4o-mini", "anthropic/claude-3-5-haiku"),
          ("openai/gpt-4.1-nano", "openrouter/qwen/qwen-2.5-coder-32b"))  # per run  # fmt: skip
LANGUAGES = ("svg", "tikz", "matplotlib", "p5")
SAMPLES = 2  # per concept and language
# distinct PNGs, used in turn: more than a dataset row group (vad.leaderboard.publish
# ROW_GROUP) holds, so Parquet's dictionary and compression cannot fold repeats together
DISTINCT_PNGS = 256
STATUSES = (("ok", 0.70), ("syntax_error", 0.18), ("no_code", 0.12))
OBJECTS = ("house", "bicycle", "cat", "tree", "sailboat", "umbrella", "teapot", "rocket",
           "lighthouse", "snowman", "guitar", "car")  # fmt: skip
# phases of a build, in the order shown (see _timed_build)
PHASES = ("load", "tables", "pages", "images", "highlight", "sample data", "dataset", "rest")

_CODE = {
    "svg": Template("""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 224 224">
  <rect width="224" height="224" fill="white"/>
  <!-- $caption -->
  <circle cx="$x" cy="$y" r="$r" fill="$color" stroke="black" stroke-width="2"/>
  <polygon points="$x,$y0 $x1,$y1 $x2,$y1" fill="$color" opacity="0.8"/>
  <line x1="10" y1="214" x2="214" y2="214" stroke="gray" stroke-width="1"/>
</svg>"""),
    "tikz": Template(r"""\begin{tikzpicture}[x=1pt,y=1pt]
  % $caption
  \draw[white] (0,0) rectangle (224,224);
  \fill[$color] ($x,$y) circle ($r);
  \draw[thick,$color!70!black] ($x,$y0) -- ($x1,$y1) -- ($x2,$y1) -- cycle;
  \draw[gray] (10,10) -- (214,10);
\end{tikzpicture}"""),
    "matplotlib": Template("""import matplotlib.pyplot as plt
from matplotlib.patches import Circle, Polygon

# $caption
fig, ax = plt.subplots(figsize=(2.24, 2.24), dpi=100)
ax.set_xlim(0, 224)
ax.set_ylim(0, 224)
ax.set_aspect("equal")
ax.axis("off")
ax.add_patch(Circle(($x, $y), $r, color="$color"))
ax.add_patch(Polygon([[$x, $y0], [$x1, $y1], [$x2, $y1]], color="$color", alpha=0.8))
ax.plot([10, 214], [10, 10], color="gray", linewidth=1)"""),
    "p5": Template("""function setup() {
  createCanvas(224, 224);
  noLoop();
}

function draw() {
  // $caption
  background(255);
  fill("$color");
  stroke(0);
  strokeWeight(2);
  circle($x, $y, $d);
  triangle($x, $y0, $x1, $y1, $x2, $y1);
  stroke(128);
  line(10, 214, 214, 214);
}"""),
}
_FENCES = {"svg": "svg", "tikz": "latex", "matplotlib": "python", "p5": "javascript"}
_SYNTAX = {
    "svg": "XML syntax error: unclosed token: line 6, column 2",
    "tikz": "! Paragraph ended before \\tikz@cc@parse was complete.",
    "matplotlib": "SyntaxError: '(' was never closed (line 11)",
    "p5": "SyntaxError: Unexpected end of input",
}


# ---------------------------------------------------------------- synthetic runs


def pngs(count: int = DISTINCT_PNGS, size: int = 224) -> list[bytes]:
    """``count`` distinct real PNGs of a run's size: one antialiased shape on white, about
    as large as a renderer's drawing of a shape concept (1 to 6 KB, 3 KB on average;
    a real render of a shape concept at 224x224 is 3 to 4 KB)."""
    from PIL import Image, ImageDraw

    colours = ("red", "blue", "green", "orange", "purple", "black", "pink", "brown")
    out = []
    for i in range(count):
        big = 2 * size  # drawn at twice the size and scaled down: antialiased edges
        img = Image.new("RGB", (big, big), "white")
        draw, colour = ImageDraw.Draw(img), colours[i % len(colours)]
        pad, kind = big // 8 + big // 64 * ((i // 32) % 8), (i // 8) % 4
        if kind == 0:
            draw.ellipse((pad, pad + big // 16, big - pad, big - pad), fill=colour)
        else:
            draw.regular_polygon((big / 2, big / 2, big / 2 - pad), 2 + kind, fill=colour,
                                 rotation=7 * (i % 5))  # fmt: skip
        buf = io.BytesIO()
        img.resize((size, size), Image.Resampling.LANCZOS).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def _concept(c: int) -> dict[str, Any]:
    """The ``c``-th synthetic concept: even ones shape concepts the verifier can check."""
    from vad.concepts.shapes import COLORS, POSITIONS, PRIMITIVES

    rng = random.Random(c)
    if c % 2 == 0:
        color, position = rng.choice(COLORS), rng.choice(sorted(POSITIONS))
        shape = rng.choice([name for name, _ in PRIMITIVES])
        return {"concept_id": f"shape-{color}-{shape}-{position}-{c:06d}", "level": "shapes",
                "caption": f"a {color} {shape} {POSITIONS[position]}", "color": color,
                "attrs": {"kind": "single", "shape": shape, "color": color,
                          "position": position}}  # fmt: skip
    noun, color = rng.choice(OBJECTS), rng.choice(COLORS)
    return {"concept_id": f"object-{noun}-{c:06d}", "level": "objects",
            "caption": f"a {color} {noun}", "color": color, "attrs": None}  # fmt: skip


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in text)


def _record(run: str, seed: int, model: str, k: int, rng: random.Random, prompts: Any,
            created: str) -> dict[str, Any]:  # fmt: skip
    """The ``k``-th sample of ``model`` in ``run`` (whose spec's seed is ``seed``), as
    vad.tasks.draw writes it (without its image file)."""
    per_concept = len(LANGUAGES) * SAMPLES
    concept = _concept(k // per_concept)
    language, index = LANGUAGES[(k // SAMPLES) % len(LANGUAGES)], k % SAMPLES
    values = {"caption": concept["caption"], "width": 224, "height": 224}
    prompt = prompts.render(language, "chat", values)
    sample_id = f"draw:{model}:{language}:{concept['concept_id']}:{index}"
    key = hashlib.sha256(f"{run}:{sample_id}".encode()).hexdigest()
    x, y, r = rng.randint(40, 184), rng.randint(40, 184), rng.randint(12, 40)
    code = _CODE[language].substitute(
        caption=concept["caption"], color=concept["color"], x=x, y=y, r=r, d=2 * r,
        y0=y - r, y1=y + r, x1=x - r, x2=x + r)  # fmt: skip
    status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
    if status == "syntax_error":
        code = code[: int(len(code) * rng.uniform(0.5, 0.9))]  # the reply ran out
    rel = (f"images/{_slug(model)}/{language}/{concept['level']}/"
           f"{_slug(concept['concept_id'])}__s{index}.png")  # fmt: skip
    if status == "no_code":
        raw = (
            f"I can describe {concept['caption']} instead: picture it on a white page, "
            "centred, with a thin outline. I am not able to write drawing code for it."
        )
        extraction = {"method": "none", "notes": [f"no {language} code found"]}
        render = {"status": "no_code", "reason": f"no {language} code found",
                  "stderr_tail": "", "elapsed_s": 0.0, "renderer_version": ""}  # fmt: skip
    else:
        raw = f"Here is the drawing:\n```{_FENCES[language]}\n{code}\n```\nEnjoy!"
        extraction = {"method": "fenced", "notes": [f"info string '{_FENCES[language]}'"]}
        reason = _SYNTAX[language] if status == "syntax_error" else ""
        render = {"status": status, "reason": reason,
                  "stderr_tail": reason and f"{language}: {reason}\n  at line 6",
                  "elapsed_s": round(rng.uniform(0.05, 2.5), 4),
                  "renderer_version": f"{language}-bench"}  # fmt: skip
    record: dict[str, Any] = {
        "sample_id": sample_id, "task": "draw", "concept_id": concept["concept_id"],
        "level": concept["level"], "caption": concept["caption"], "language": language,
        "image": rel if status == "ok" else None, "model": model, "style": "chat",
        "sample_index": index, "template": prompt.template_id,
        "prompt_version": prompt.version, "temperature": 0.8, "max_tokens": 1024,
        "seed": seed + index, "request_key": key,
        "created_at": created, "prompt": prompt.payload(), "cached": False, "raw_reply": raw,
        "finish_reason": "stop", "prompt_tokens": rng.randint(80, 140),
        "completion_tokens": rng.randint(60, 400), "cost_usd": round(rng.uniform(0, 3e-4), 7),
        "latency_s": round(rng.uniform(0.3, 6.0), 4), "attempts": 1,
        "extraction": extraction, "code": None if status == "no_code" else code,
        "status": status, "render": render,
    }  # fmt: skip
    if status == "ok" and concept["attrs"] is not None:
        from vad.scoring.verifier import VERSION

        right = rng.random() < 0.4
        checks = {"color": True, "count": True, "shape": right, "position": right or None}
        record["scores"] = {"verifier": {
            "version": VERSION, "verified": right,
            "checks": {k: bool(v) for k, v in checks.items() if v is not None},
            "reason": "" if right else f"expected a {concept['attrs']['shape']}, found a circle",
            "attrs": concept["attrs"],
            "parts": [f"{concept['color']} circle at (0.50, 0.50)"]}}  # fmt: skip
    return record


def make_runs(root: Path, n: int, seed: int = 0) -> list[Path]:
    """``RUNS`` finished run folders under ``root`` holding ``n`` samples in all; their
    folders."""
    from vad.prompts import load_prompts

    prompts, images = load_prompts("draw"), pngs()
    rng = random.Random(seed)
    created = "2026-01-01T00:00:00+00:00"
    pairs = [(r, m) for r in range(RUNS) for m in MODELS[r % len(MODELS)]]
    counts = [n // len(pairs) + (i < n % len(pairs)) for i in range(len(pairs))]
    folders = []
    for r in range(RUNS):
        models = MODELS[r % len(MODELS)]
        name = f"synth{r}"
        run_id = f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
        folder = root / run_id
        folder.mkdir(parents=True)
        by_status: dict[str, int] = {}
        planned = written = 0
        with (folder / "samples.jsonl").open("w", encoding="utf-8") as out, \
                (folder / "planned.jsonl").open("w", encoding="utf-8") as plan:  # fmt: skip
            for i, (pr, model) in enumerate(pairs):
                if pr != r:
                    continue
                for k in range(counts[i]):
                    rec = _record(run_id, r, model, k, rng, prompts, created)
                    plan.write(json.dumps({key: rec[key] for key in (
                        "sample_id", "task", "concept_id", "level", "language", "model",
                        "style", "sample_index")}) + "\n")  # fmt: skip
                    if rec["image"]:
                        path = folder / rec["image"]
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(images[(i + k) % len(images)])
                    out.write(json.dumps(rec) + "\n")
                    by_status[rec["status"]] = by_status.get(rec["status"], 0) + 1
                    planned, written = planned + 1, written + 1
        manifest = {
            "format": 1, "run": run_id, "status": "finished", "finished": True,
            "started_at": created, "ended_at": created, "planned": planned,
            "git": {"commit": "0" * 40, "dirty": False},
            "models": [{"name": m, "provider": m.split("/")[0], "style": "chat"}
                       for m in models],
            "prompt_versions": {"draw": prompts.version},
            "renderer_versions": {lang: f"{lang}-bench" for lang in LANGUAGES},
            "spec": {"name": name, "tasks": ["draw"], "languages": list(LANGUAGES),
                     "levels": ["shapes", "objects"], "samples": SAMPLES, "seed": r,
                     "temperature": 0.8, "max_tokens": 1024, "width": 224, "height": 224,
                     "models": [{"name": m, "style": "auto", "api_base": None}
                                for m in models]},
            "tasks": ["draw"],
            "totals": {"samples": written, "by_status": by_status},
        }  # fmt: skip
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        folders.append(folder)
    return folders


# ---------------------------------------------------------------- one build, timed


class _Phases:
    """Exclusive seconds per phase: time in a phase nested in another counts once, as
    the inner one."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self._stack: list[list[float]] = []  # [start, time spent in nested phases]

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append([time.perf_counter(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                start, nested = self._stack.pop()
                spent = time.perf_counter() - start
                self.seconds[phase] += spent - nested
                if self._stack:
                    self._stack[-1][1] += spent

        return timed


@contextlib.contextmanager
def _timed_build(phases: _Phases) -> Iterator[None]:
    """The build's steps wrapped to be timed; put back afterwards."""
    from vad.leaderboard import build, images, sample_pages

    wrapped = [(build, "load", "load"), (build, "tables", "tables"),
               (build, "judge_tables", "tables"), (build, "verdicts", "tables"),
               (build, "compare_pages", "pages"),
               (build, "_model_page", "pages"), (build, "strip", "pages"),
               (build, "render", "pages"), (images.Images, "_copy", "images"),
               (sample_pages, "highlight", "highlight"),
               (build, "write_sample_data", "sample data"),
               (build, "write_dataset", "dataset")]  # fmt: skip
    # (a step the build no longer has by that name is not wrapped: its time is "rest")
    wrapped = [(owner, name, phase) for owner, name, phase in wrapped if name in owner.__dict__]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in wrapped]
    try:
        for owner, name, phase in wrapped:
            setattr(owner, name, phases.wrap(phase, getattr(owner, name)))
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _sizes(site: Path) -> dict[str, Any]:
    """Bytes of the site and its parts, and its files."""
    parts = {"data": 0, "images": 0, "dataset": 0, "pages": 0, "other": 0}
    total = disk = files = 0
    for dirpath, _, names in os.walk(site):
        top = Path(dirpath).relative_to(site).parts
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            total, disk, files = total + st.st_size, disk + st.st_blocks * 512, files + 1
            if top and top[0] in parts:
                parts[top[0]] += st.st_size
            elif not top and name.endswith(".html"):
                parts["pages"] += st.st_size
            else:
                parts["other"] += st.st_size
    return {"bytes": total, "disk_bytes": disk, "files": files,
            **{f"{k}_bytes": v for k, v in parts.items()}}  # fmt: skip


def measure(n: int, work: Path) -> dict[str, Any]:
    """Make ``n`` samples of runs under ``work/runs``, build ``work/site`` from them and
    measure it (in this process: see ``bench_site``)."""
    from vad.leaderboard import build_leaderboard

    start = time.perf_counter()
    folders = make_runs(work / "runs", n)
    made = time.perf_counter() - start
    phases = _Phases()
    with _timed_build(phases):
        start = time.perf_counter()
        site = build_leaderboard([str(f) for f in folders], work / "site", work / "runs")
        seconds = time.perf_counter() - start
    phases.seconds["rest"] = max(0.0, seconds - sum(phases.seconds.values()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"samples": n, "generate_s": made, "build_s": seconds, "peak_rss_bytes": rss,
            "phases": phases.seconds, **_sizes(site)}  # fmt: skip


def _child() -> None:
    """``python -c`` entry: measure(argv[1], argv[2]) as JSON into argv[3]."""
    row = measure(int(sys.argv[1]), Path(sys.argv[2]))
    Path(sys.argv[3]).write_text(json.dumps(row), encoding="utf-8")


def bench_site(
    sizes: list[int], keep: Path | None = None, say: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Measure a build at each size (each in a fresh process); with ``keep``, the runs
    and sites stay under ``keep/n<size>/``, else they go with a scratch folder."""
    if not sizes or any(n < 1 for n in sizes):
        raise VadError(f"command line: --sizes = {sizes}: give sample counts of at least 1")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vad-bench-site-") as scratch:
        for n in sizes:
            work = (keep if keep is not None else Path(scratch)) / f"n{n}"
            if work.exists() and any(work.iterdir()):
                raise VadError(f"{work} is not empty: give --keep a new or empty folder")
            work.mkdir(parents=True, exist_ok=True)
            if say:
                say(f"{n} samples: making runs and building the site in {work} ...")
            result = Path(scratch) / f"n{n}.json"
            code = "from vad.bench_site import _child; _child()"
            path = [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
            done = subprocess.run([sys.executable, "-c", code, str(n), str(work), str(result)],
                                  check=False, env=env)  # fmt: skip
            if done.returncode != 0:
                raise VadError(f"the build of {n} samples failed (exit {done.returncode}): "
                               "see its traceback above")  # fmt: skip
            rows.append(json.loads(result.read_text(encoding="utf-8")))
            if say:
                say(f"{n} samples: built in {rows[-1]['build_s']:.1f} s")
            if keep is None:
                shutil.rmtree(work)
    return rows


# ---------------------------------------------------------------- the tables


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def format_site(rows: list[dict[str, Any]]) -> str:
    """The sizes table and the phases table, in Markdown."""
    lines = ["| samples | build s | site MB | on disk MB | files | data/ MB | images/ MB | "
             "dataset/ MB | pages MB | peak RSS MB | make runs s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['samples']:,} | {r['build_s']:.2f} | {_mb(r['bytes'])} | "
            f"{_mb(r['disk_bytes'])} | {r['files']:,} | {_mb(r['data_bytes'])} | "
            f"{_mb(r['images_bytes'])} | {_mb(r['dataset_bytes'])} | {_mb(r['pages_bytes'])} | "
            f"{r['peak_rss_bytes'] / 2**20:.0f} | {r['generate_s']:.1f} |"
        )
    lines += ["", "build seconds per phase (exclusive):", "",
              "| samples | " + " | ".join(PHASES) + " |",
              "|---:|" + "---:|" * len(PHASES)]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['samples']:,} | "
                     + " | ".join(f"{r['phases'][p]:.2f}" for p in PHASES) + " |")  # fmt: skip
    return "\n".join(lines)

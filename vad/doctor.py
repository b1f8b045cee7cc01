"""`vad doctor`: what works on this machine, what does not, and how to fix it.

Each check gives one line: ok, warning (a part of vad will not work) or error (the
default checkup will not work), with the fix. Checks that start things (the jail, the
engine, the embedded models) really start them.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

OK, WARNING, ERROR = "ok", "warning", "error"

REQUIRED = ("litellm", "openai", "cairosvg", "matplotlib", "numpy", "pillow", "pyyaml")
OPTIONAL = {
    "torch": "train", "torchvision": "train", "pandas": "train", "pyarrow": "train",
    "open_clip_torch": "clip",
}  # fmt: skip


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"  -> {self.fix}" if self.fix and self.status != OK else ""
        return f"{self.status:<8} {self.name:<26} {self.detail}{fix}"


def check_python() -> Iterator[Check]:
    ok = sys.version_info >= (3, 11)
    yield Check("python", OK if ok else ERROR, f"{sys.version.split()[0]} ({sys.executable})",
                "use Python 3.11 or newer")  # fmt: skip


def check_packages() -> Iterator[Check]:
    from vad import __version__

    found, missing = [f"vad {__version__}"], []
    for name in REQUIRED:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            missing.append(name)
    if missing:
        yield Check("packages", ERROR, f"missing: {', '.join(missing)}",
                    "pip install -e . (or bash scripts/install.sh)")  # fmt: skip
    else:
        yield Check("packages", OK, ", ".join(found))
    extra, absent = [], {}
    for name, group in OPTIONAL.items():
        try:
            extra.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            absent[name] = group
    if absent:
        groups = ",".join(sorted(set(absent.values())))
        yield Check("optional packages", WARNING, f"missing: {', '.join(absent)}",
                    f"pip install -e '.[{groups}]' for training/CLIP")  # fmt: skip
    else:
        yield Check("optional packages", OK, ", ".join(extra))


def check_cpu() -> Iterator[Check]:
    from vad.models.engine import cpu_flags, expected_variant

    flags = cpu_flags()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wanted = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512vbmi",
              "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")  # fmt: skip
    shown = [f for f in wanted if f in flags]
    detail = (f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
              f"flags: {' '.join(shown) or 'none of avx/avx2/avx512/amx'}; "
              f"engine variant for it: {expected_variant(flags)}")  # fmt: skip
    if any(f.startswith("amx") for f in flags):
        detail += " (AMX present: the engine has no AMX kernels, on purpose)"
    yield Check("cpu", OK if platform.machine() == "x86_64" else WARNING, detail,
                "the embedded engine is built and tested for x86-64")  # fmt: skip


def check_engine() -> Iterator[Check]:
    from vad.models.engine import COMMON_FLAGS, build_path, find_engine, variant_flags

    engine = find_engine()
    if engine is None:
        tools = [t for t in ("cmake", "c++") if shutil.which(t) is None]
        fix = "vad engine build (about 15 minutes on 2 cores, once)"
        if tools:
            fix = f"apt-get install cmake g++, then {fix}"
        yield Check("engine", ERROR, f"llama-server is not built for the current flags "
                    f"(expected in {build_path()})", fix)  # fmt: skip
        return
    info = engine.info
    ggml = [f.removeprefix("-D") for f in COMMON_FLAGS if "GGML" in f]
    yield Check("engine", OK, f"{info.get('source')} build {info.get('key')} at {engine.path}; "
                f"{' '.join(ggml)}; CPU variants {', '.join(engine.variants)}")  # fmt: skip
    for name in engine.variants:
        on = [f.removeprefix("-DGGML_").removesuffix("=ON") for f in variant_flags(name)
              if f.endswith("=ON")]  # fmt: skip
        yield Check(f"engine variant {name}", OK, " ".join(on) or "baseline x86-64 (SSE2)")


def check_jail() -> Iterator[Check]:
    from vad.render.jail import bwrap_path, jail_info

    try:
        bwrap_path()
        info = jail_info(True)
    except Exception as exc:
        yield Check("jail", ERROR, str(exc), "apt-get install bubblewrap")
        return
    isolated = info.get("jobs_isolated")
    yield Check(
        "jail",
        OK if isolated else WARNING,
        f"{info['bwrap']}; each job in its own pid, mount and IPC namespaces: "
        f"{'yes' if isolated else 'no'}; nested user namespaces {info.get('nested_userns')}",
        "run vad as root: without it, job code shares the worker's pid namespace",
    )
    uid = info.get("jail_uid")
    owner = " (root)" if uid == 0 else (", which owns nothing" if os.geteuid() == 0 else
                                        " (yours: vad is not run as root)")  # fmt: skip
    yield Check(
        "jail uid",
        OK if uid != 0 else WARNING,
        f"model code runs as host uid {uid}{owner}",
        "this machine cannot switch to VAD_JAIL_UID (a container mapping few uids): set "
        "VAD_JAIL_UID to a uid it maps that owns no file",
    )
    kinds = list(info.get("cgroups") or [])
    missing = [k for k in ("pids", "memory") if k not in kinds]
    per_job = "; each job its own memory cgroup" if info.get("job_memory_cgroups") else ""
    yield Check(
        "cgroups",
        OK if not missing and per_job else WARNING,
        f"per-worker cgroups: {', '.join(kinds) or 'none'}{per_job}",
        f"{' and '.join(missing) or 'a delegated memory'} cgroup not writable: run as root on "
        "a host with cgroups (without them only rlimits bound model code)",
    )


def check_tex() -> Iterator[Check]:
    pieces = {
        "pdflatex": (shutil.which("pdflatex"), "apt-get install texlive-latex-base"),
        "tikz.sty": (_kpsewhich("tikz.sty"), "apt-get install texlive-pictures"),
        "standalone.cls": (_kpsewhich("standalone.cls"), "apt-get install texlive-latex-extra"),
        "pdftoppm": (shutil.which("pdftoppm"), "apt-get install poppler-utils"),
    }
    missing = [name for name, (where, _) in pieces.items() if not where]
    if missing:
        fixes = "; ".join(pieces[m][1] for m in missing)
        yield Check("tex", WARNING, f"missing: {', '.join(missing)} (TikZ cannot render)", fixes)
    else:
        yield Check("tex", OK, ", ".join(f"{n} {w}" for n, (w, _) in pieces.items()))
        yield check_tex_format()
        yield check_tex_packages()


def check_tex_packages() -> Check:
    """Whether every package a TikZ document may load (renderers/tikz.py) is installed."""
    from vad.render.texformat import allowed_packages

    wanted = allowed_packages()
    out = subprocess.run(["kpsewhich", *(f"{p}.sty" for p in wanted)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    found = {Path(line).stem for line in out.stdout.split()}
    missing = [p for p in wanted if p not in found]
    if missing:
        return Check("tex packages", WARNING, f"{len(missing)} of the {len(wanted)} packages "
                     f"TikZ documents may load are missing: {', '.join(missing)} (documents "
                     "that load them fail)", "apt-get install texlive-science "
                     "texlive-pictures texlive-latex-extra (scripts/install.sh does)")  # fmt: skip
    return Check("tex packages", OK, f"all {len(wanted)} packages TikZ documents may load")


def check_tex_format() -> Check:
    """Whether TikZ jobs load the preamble from a format (vad/render/texformat.py)."""
    from vad.render.texformat import SWITCH, enabled, tikz_format

    fmt = tikz_format()
    if fmt is not None:
        return Check("tex format", OK, f"TikZ preamble dumped once, read-only in the jail: {fmt}")
    if not enabled():
        return Check("tex format", WARNING, f"{SWITCH}=0: every TikZ job compiles the whole "
                     "preamble (about 3x slower)", f"unset {SWITCH}")  # fmt: skip
    return Check("tex format", WARNING, "the TikZ preamble could not be dumped into a format: "
                 "every TikZ job compiles the whole preamble (about 3x slower)",
                 "see the warning above (pdftex -ini on renderers/tikz.py's HEAD)")  # fmt: skip


def _kpsewhich(name: str) -> str | None:
    if not shutil.which("kpsewhich"):
        return None
    out = subprocess.run(["kpsewhich", name], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or None


def check_renders() -> Iterator[Check]:
    from vad.concepts import load_concepts
    from vad.languages import language_names, reference_program
    from vad.render import RenderPool

    concept = load_concepts(["shapes"], None, 1, 0)[0]
    with tempfile.TemporaryDirectory() as tmp, RenderPool(size=1, sandbox=True) as pool:
        for lang in language_names():
            started = time.monotonic()
            try:
                result = pool.render(lang, reference_program(concept, lang), 224, 224,
                                     Path(tmp) / f"{lang}.png")  # fmt: skip
            except Exception as exc:
                yield Check(f"render {lang}", ERROR, f"{type(exc).__name__}: {exc}",
                            "run scripts/install.sh as root")  # fmt: skip
                continue
            ms = (time.monotonic() - started) * 1000
            if result.ok:
                yield Check(f"render {lang}", OK, f"jailed test render in {ms:.0f} ms")
            else:
                yield Check(f"render {lang}", ERROR, f"{result.status}: {result.reason[:200]}",
                            "see `vad doctor` lines above (jail, tex)")  # fmt: skip


def check_models() -> Iterator[Check]:
    from vad.models import resolve_model
    from vad.models.engines import engines

    for provider, engine in engines().items():
        unready = engine.unready()
        for key in engine.models():
            if unready is not None:
                yield Check(f"model {key}", ERROR, *unready)
            else:
                yield _try_model(resolve_model(f"{provider}/{key}"), key)


def _try_model(model: Any, key: str) -> Check:
    """Serve ``model``, ask it twice (a warm-up, then timed) and say how it went."""
    from vad.errors import VadError
    from vad.models import SamplingParams
    from vad.models.client import RetryPolicy
    from vad.models.seam import Concurrency, open_model
    from vad.prompts import load_prompts

    style = model.default_style
    try:
        started = time.monotonic()
        retry = RetryPolicy(max_retries=1, timeout=120)
        with open_model(model, Concurrency(1, 1), retry) as opened:
            ready = time.monotonic() - started
            prompt = load_prompts("draw").render(
                "svg", style, {"caption": "a red circle", "width": 224, "height": 224}
            )
            client = opened.client
            client.complete(prompt, SamplingParams(0.0, 4, seed=0))  # warm-up, not timed
            asked = time.monotonic()
            reply = client.complete(prompt, SamplingParams(0.0, 48, seed=0))
            took = time.monotonic() - asked
            variant = (opened.engine or {}).get("cpu_variant")
    except VadError as exc:
        return Check(f"model {key}", ERROR, str(exc).splitlines()[0][:300],
                     "pip install 'vad[local]'; vad engine build --force")  # fmt: skip
    rate = reply.completion_tokens / took if took > 0 else 0.0
    good = reply.completion_tokens > 0
    return Check(
        f"model {key}",
        OK if good else ERROR,
        f"ready in {ready:.1f} s on the {variant or '?'} CPU variant; answered "
        f"{reply.completion_tokens} tokens at {rate:.1f} tokens/s after a warm-up ({style})",
        "the model answered nothing: vad engine build --force",
    )


def check_clip() -> Iterator[Check]:
    from vad.scoring.clip import clip_status

    if importlib.util.find_spec("open_clip") is None:
        yield Check("clip", WARNING, "open_clip is not installed (CLIP columns: unavailable)",
                    "pip install -e '.[clip]'")  # fmt: skip
        return
    status = clip_status()
    if status.startswith("CLIP:"):
        yield Check("clip", OK, f"weights found: {status.removeprefix('CLIP: ')}")
    else:
        yield Check("clip", WARNING, status.split(";")[0],
                    "--clip-weights FILE or VAD_CLIP_WEIGHTS, or --clip-pretrained TAG "
                    "(VAD_CLIP_PRETRAINED), fetched once with a network")  # fmt: skip


def check_containment() -> Iterator[Check]:
    """Every language's containment probes through the jail (``vad doctor --probes``)."""
    from vad.languages import all_languages
    from vad.render import Limits, RenderPool
    from vad.render.probes import LoopbackCounter, run_probe

    limits = Limits(timeout_s=4.0, cpu_s=3)
    with (tempfile.TemporaryDirectory() as tmp, LoopbackCounter() as server,
          RenderPool(size=1, sandbox=True, limits=limits) as pool):  # fmt: skip
        for lang, language in all_languages().items():
            results = [run_probe(pool, lang, probe, Path(tmp) / lang / probe, server)
                       for probe in sorted(language.probes)]  # fmt: skip
            broken = [r for r in results if not r.contained]
            if broken:
                what = "; ".join(f"{r.probe}: {', '.join(r.breaches)}" for r in broken)
                yield Check(f"contain {lang}", ERROR, what,
                            "do not render model code on this machine until the jail holds "
                            "(see the jail line above)")  # fmt: skip
            else:
                tried = ", ".join(f"{r.probe} ({r.status})" for r in results)
                yield Check(f"contain {lang}", OK, f"contained: {tried}")


CHECKS: list[tuple[str, Callable[[], Iterator[Check]]]] = [
    ("python", check_python), ("packages", check_packages), ("cpu", check_cpu),
    ("engine", check_engine), ("jail", check_jail), ("tex", check_tex),
    ("render", check_renders), ("models", check_models), ("clip", check_clip),
]  # fmt: skip


def run_doctor(say: Callable[[str], None] = print, probes: bool = False) -> int:
    """Run every check (and the containment probes if asked), printing a line each; 1 if
    any check is an error."""
    errors = 0
    for group, check in [*CHECKS, *([("contain", check_containment)] if probes else [])]:
        try:
            for result in check():
                errors += result.status == ERROR
                say(result.line())
        except Exception as exc:  # a broken check is itself a finding
            errors += 1
            say(Check(group, ERROR, f"the check failed: {type(exc).__name__}: {exc}").line())
    say(f"{'all checks passed' if not errors else f'{errors} error(s)'}")
    return 1 if errors else 0

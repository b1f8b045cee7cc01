"""Rendering through the warm, jailed pool: images, typed failures, recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad.render import Limits, RenderPool, RenderStatus

CIRCLE = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
    '<circle cx="5" cy="5" r="3" fill="red"/></svg>'
)
MPL = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1], [0, 1])\n"
TIKZ = "\\begin{tikzpicture}\\fill[red] (0,0) circle (1);\\end{tikzpicture}"
TURTLE = "from turtle import *\ncolor('red')\nbegin_fill()\ncircle(80)\nend_fill()\n"
GOOD = {"svg": CIRCLE, "matplotlib": MPL, "tikz": TIKZ, "turtle": TURTLE}


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    with RenderPool(size=2, limits=Limits(timeout_s=6, cpu_s=5)) as p:
        yield p


@pytest.mark.parametrize("lang", sorted(GOOD))
@pytest.mark.slow
def test_each_language_renders_a_png_of_the_requested_size(
    pool: RenderPool, tmp_path: Path, lang: str
) -> None:
    dest = tmp_path / "out" / f"{lang}.png"
    result = pool.render(lang, GOOD[lang], 96, 64, dest)
    assert result.status is RenderStatus.OK, result
    assert result.image == dest and dest.is_file()
    with Image.open(dest) as img:
        assert img.size == (96, 64)
        rgb = img.convert("RGB")
        assert rgb.getpixel((0, 0)) == (255, 255, 255)
        colours = np.unique(np.asarray(rgb).reshape(-1, 3), axis=0)
        assert len(colours) > 2
    assert result.renderer_version == pool.versions()[lang]


@pytest.mark.parametrize(
    ("lang", "code", "status", "reason"),
    [
        ("svg", '<svg xmlns="http://www.w3.org/2000/svg"><circle', RenderStatus.SYNTAX_ERROR,
         "XML"),
        ("svg", '<svg xmlns="http://www.w3.org/2000/svg"></svg>', RenderStatus.EMPTY_IMAGE,
         "flat"),
        ("matplotlib", "import matplotlib.pyplot as plt\nplt.plot([1,2]", RenderStatus.SYNTAX_ERROR,
         "SyntaxError"),
        ("matplotlib", "x = 1 / 0\n", RenderStatus.RUNTIME_ERROR, "ZeroDivisionError"),
        ("matplotlib", "x = 1\n", RenderStatus.EMPTY_IMAGE, "no figure"),
        ("matplotlib", "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n",
         RenderStatus.EMPTY_IMAGE, "no drawn elements"),
        ("tikz", "\\begin{tikzpicture}\\fill[red] (0,0) circl (1);\\end{tikzpicture}",
         RenderStatus.SYNTAX_ERROR, "!"),
        ("tikz", "\\begin{tikzpicture}\\end{tikzpicture}", RenderStatus.EMPTY_IMAGE, "flat"),
    ],
)  # fmt: skip
@pytest.mark.slow
def test_failures_are_typed_results(
    pool: RenderPool, tmp_path: Path, lang: str, code: str, status: RenderStatus, reason: str
) -> None:
    result = pool.render(lang, code, 64, 64, tmp_path / "x.png")
    assert result.status is status, result
    assert reason in result.reason
    assert result.image is None and not (tmp_path / "x.png").exists()


def test_the_current_figure_is_the_one_taken(pool: RenderPool, tmp_path: Path) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "a = plt.figure(); plt.plot([0, 1], [0, 1], color='red', linewidth=20)\n"
        "b = plt.figure(); plt.plot([0, 1], [0, 1], color='blue', linewidth=20)\n"
        "plt.figure(a.number)  # makes the red one current again\n"
    )
    result = pool.render("matplotlib", code, 64, 64, tmp_path / "f.png")
    assert result.ok
    with Image.open(tmp_path / "f.png") as img:
        rgb = np.asarray(img.convert("RGB")).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 2] < 80)
    blue = (rgb[..., 2] > 200) & (rgb[..., 0] < 80)
    assert red.sum() > 50 and not blue.any()


def test_a_figure_made_without_pyplot_is_taken(pool: RenderPool, tmp_path: Path) -> None:
    """matplotlib's object-oriented API (``Figure()``, ``fig.savefig``): no pyplot figure,
    so the last Figure the script made is the drawing; one with nothing drawn is empty."""
    code = (
        "from matplotlib.figure import Figure\n"
        "fig = Figure()\nax = fig.add_subplot()\n"
        "ax.plot([0, 1], [0, 1], color='red', linewidth=20)\nfig.savefig('figure.png')\n"
    )
    result = pool.render("matplotlib", code, 64, 64, tmp_path / "oo.png")
    assert result.ok, result
    with Image.open(tmp_path / "oo.png") as img:
        rgb = np.asarray(img.convert("RGB")).astype(int)
    assert ((rgb[..., 0] > 200) & (rgb[..., 2] < 80)).sum() > 50
    bare = "from matplotlib.figure import Figure\nfig = Figure()\nfig.add_subplot()\n"
    empty = pool.render("matplotlib", bare, 64, 64, tmp_path / "e.png")
    assert empty.status is RenderStatus.EMPTY_IMAGE


def test_size_limits(pool: RenderPool, tmp_path: Path) -> None:
    assert pool.render("svg", CIRCLE, 10_000, 10_000, tmp_path / "a.png").status is (
        RenderStatus.TOO_LARGE
    )
    big = CIRCLE.replace("</svg>", "<!--" + "x" * (2 << 20) + "--></svg>")
    assert pool.render("svg", big, 32, 32, tmp_path / "b.png").status is RenderStatus.TOO_LARGE


def test_unsandboxed_pool_renders_the_same(tmp_path: Path) -> None:
    with RenderPool(size=1, sandbox=False) as raw:  # one worker: every job reuses its folder
        results = [raw.render("svg", CIRCLE, 32, 32, tmp_path / f"raw{i}.png") for i in range(4)]
    assert [r.status for r in results] == [RenderStatus.OK] * 4, [r.reason for r in results]


def _chain_processes(pool: RenderPool) -> dict[int, int]:
    """Host pid -> pid in the chain's own namespace, of every process in the jobs'
    cgroups of the pool's (one) worker: J (pid 1) and the K waiting for the next job."""
    worker = pool._workers[0]
    assert worker.cgroups is not None and worker.cgroups.memory is not None
    found = {}
    for procs in worker.cgroups.memory.glob("job-*/cgroup.procs"):
        for pid in procs.read_text().split():
            status = Path(f"/proc/{pid}/status").read_text()
            nspid = next(line for line in status.splitlines() if line.startswith("NSpid:"))
            found[int(pid)] = int(nspid.split()[-1])
    return found


def test_a_job_process_that_dies_before_its_job_is_the_hosts_failure_and_retried(
    tmp_path: Path,
) -> None:
    """K, the job's own process, is forked ahead and waits for its job. If it dies
    before (an OOM kill while idle), the job must neither be scored against the program
    nor read J's report of that death as its own: it runs again on a fresh chain."""
    import os
    import signal
    import time

    with RenderPool(size=1, limits=Limits(timeout_s=6, cpu_s=5)) as pool:
        first = pool.render("svg", CIRCLE, 64, 64, tmp_path / "first.png")
        assert first.ok, first
        deadline = time.monotonic() + 10
        while not [p for p, inner in _chain_processes(pool).items() if inner != 1]:
            assert time.monotonic() < deadline, "no K waiting for the next job"
            time.sleep(0.05)
        waiting = [pid for pid, inner in _chain_processes(pool).items() if inner != 1]
        os.kill(waiting[0], signal.SIGKILL)  # the K waiting for the next job
        time.sleep(0.2)  # J has reported its death by now
        for i in range(3):
            again = pool.render("svg", CIRCLE, 64, 64, tmp_path / f"again{i}.png")
            assert again.ok, again
            with Image.open(first.image) as a, Image.open(again.image) as b:
                assert np.array_equal(np.asarray(a), np.asarray(b))


def _children(pid: int) -> list[int]:
    import glob

    kids: list[int] = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        kids += [int(k) for k in Path(path).read_text().split()]
    return kids


def _zygotes(pool: RenderPool) -> list[int]:
    """The worker's children (its zygotes), found from the jail's first process."""
    seen, todo = [], [pool._workers[0].proc.pid]
    while todo:  # the worker is the outermost process running worker.py
        pid = todo.pop()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"worker.py" in cmdline and b"bwrap" not in cmdline.split(b"\0")[0]:
            return _children(pid)
        seen.append(pid)
        todo += _children(pid)
    raise AssertionError(f"no worker among {seen}")


@pytest.mark.slow
def test_a_language_is_loaded_on_its_first_job_only(tmp_path: Path) -> None:
    """The worker forks a language's zygote (which imports its renderer) on that
    language's first job: a pool that draws SVG alone never loads the others, and the
    versions are known before any job (from the renderers' constants)."""
    with RenderPool(size=1, limits=Limits(timeout_s=6, cpu_s=5)) as pool:
        assert pool.versions()["matplotlib"].startswith("matplotlib-")
        assert pool.render("svg", CIRCLE, 64, 64, tmp_path / "a.png").ok
        assert pool.render("svg", CIRCLE, 64, 64, tmp_path / "b.png").ok
        assert len(_zygotes(pool)) == 1
        assert pool.render("matplotlib", MPL, 64, 64, tmp_path / "c.png").ok
        assert len(_zygotes(pool)) == 2


def test_a_renderer_that_does_not_load_fails_its_jobs_not_the_worker(tmp_path: Path) -> None:
    """A language whose renderer cannot be imported: its jobs are the host's failure
    (crash, not scored, with the reason); the worker goes on serving the others."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    from vad._paths import project_dir

    broken = 'VERSION = "broken-1"\n\ndef preload():\n    import no_such\n'
    (tmp_path / "broken.py").write_text(broken)
    job = tmp_path / "job"
    job.mkdir()
    worker = subprocess.Popen(
        [sys.executable, str(project_dir("renderers") / "worker.py"),
         json.dumps({"svg": "svg", "broken": "broken"}), str(job)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=job,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert worker.stdin is not None and worker.stdout is not None
    hello = json.loads(worker.stdout.readline())
    assert hello["versions"] == {"svg": "svg-3", "broken": "broken-1"}
    limits = Limits(timeout_s=6, cpu_s=5).for_worker()
    try:
        for i, lang in enumerate(["broken", "svg", "broken"]):
            shutil.rmtree(job)
            job.mkdir()
            (job / "code.txt").write_text(CIRCLE)
            meta = {"nonce": str(i), "lang": lang, "width": 64, "height": 64, "timeout_s": 6,
                    "limits": limits, "guard": "", "syscalls": "drawing", "hide": []}  # fmt: skip
            worker.stdin.write((json.dumps(meta) + "\n").encode())
            worker.stdin.flush()
            answer = json.loads(worker.stdout.readline())
            if lang == "svg":
                assert answer["status"] == "ok", answer
            else:
                assert answer["status"] == "crash", answer
                assert answer["reason"] == "the broken renderer did not load"
    finally:
        worker.kill()
        worker.wait()

"""p5.js and Processing sketches through the jailed pool: one frame's pixels, typed
failures, hostile sketches contained (and a benign render after each), the relaxed jail
of their jobs and nobody else's, and the seconds a render takes.

A secret is in this process's environment while the pool runs: it must appear in no
output. Every render goes through Chromium in a jail of its own (see
vad/languages/_sketch.py), so these tests need scripts/install.sh's Chromium and npm
libraries, as CI has them.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from openai_server import FakeOpenAI
from PIL import Image

from vad.languages import get_language, register_language, unregister_language
from vad.languages._sketch import CHROMIUM_LIMITS
from vad.render import Limits, RenderPool, RenderStatus

S = RenderStatus
SECRET = "sk-sketch-test-0123456789"
P5 = """function setup() {
  createCanvas(400, 400);
}

function draw() {
  background(255);
  noStroke();
  fill(255, 0, 0);
  rect(0, 0, 200, 200);
  fill(0, 0, 255);
  ellipse(300, 300, 150, 150);
  fill(0, 160, 0);
  triangle(300, 20, 380, 180, 220, 180);
}
"""
PROCESSING = """void setup() {
  size(400, 400);
}

void draw() {
  background(255);
  noStroke();
  fill(255, 0, 0);
  rect(0, 0, 200, 200);
  fill(0, 0, 255);
  ellipse(300, 300, 150, 150);
  fill(0, 160, 0);
  triangle(300, 20, 380, 180, 220, 180);
}
"""
GOOD = {"p5": P5, "processing": PROCESSING}
DRAW = "background(255); fill(255, 0, 0); rect(10, 10, 40, 40);"  # a few non-flat pixels
P5_SETUP = "function setup() {{ createCanvas(100, 100); {} " + DRAW + " }}\n"
PDE_SETUP = "void setup() {{ size(100, 100); {} " + DRAW + " }}\n"
LIMITS = Limits(timeout_s=6, cpu_s=5)


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    os.environ["VAD_HOSTILE_SECRET"] = SECRET
    with RenderPool(size=2, limits=LIMITS) as p:
        yield p
    del os.environ["VAD_HOSTILE_SECRET"]


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def _near(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return int(np.abs(pixel - np.array(colour)).sum()) < 60


@pytest.mark.parametrize("lang", ["p5", "processing"])
@pytest.mark.slow
def test_a_typical_sketch_renders_its_first_frame(
    pool: RenderPool, tmp_path: Path, lang: str
) -> None:
    dest = tmp_path / f"{lang}.png"
    result = pool.render(lang, GOOD[lang], 200, 200, dest)
    assert result.status is S.OK, result
    assert result.renderer_version.startswith(("p5js-", "processing-"))
    rgb = _rgb(dest)
    assert rgb.shape == (200, 200, 3)
    assert _near(rgb[50, 50], (255, 0, 0))  # the red square, top left
    assert _near(rgb[150, 150], (0, 0, 255))  # the blue circle, bottom right
    assert _near(rgb[60, 150], (0, 160, 0))  # the green triangle, top right
    assert _near(rgb[150, 50], (255, 255, 255))  # the background, bottom left


@pytest.mark.parametrize("lang", ["p5", "processing"])
@pytest.mark.slow
def test_the_canvas_keeps_its_aspect(pool: RenderPool, tmp_path: Path, lang: str) -> None:
    # red with one white dot (a flat canvas would be an empty image)
    code = {"p5": "function setup() { createCanvas(400, 200); background(255, 0, 0); "
                  "stroke(255); point(0, 0); }",
            "processing": "void setup() { size(400, 200); background(255, 0, 0); "
                          "stroke(255); point(0, 0); }"}[lang]  # fmt: skip
    result = pool.render(lang, code, 100, 100, tmp_path / "a.png")
    assert result.status is S.OK, result
    rgb = _rgb(tmp_path / "a.png")
    assert _near(rgb[10, 50], (255, 255, 255)) and _near(rgb[90, 50], (255, 255, 255))
    assert _near(rgb[50, 50], (255, 0, 0))  # 400x200 fitted into 100x100: rows 25 to 75


@pytest.mark.parametrize("lang", ["p5", "processing"])
@pytest.mark.slow
def test_an_endless_animation_gives_its_first_frame(
    pool: RenderPool, tmp_path: Path, lang: str
) -> None:
    frame = "frameCount == 1 ? 255 : 0"
    code = {
        "p5": "function setup() { createCanvas(100, 100); frameRate(600); }\n"
              f"function draw() {{ background(255); fill({frame}, 0, 255 - ({frame})); "
              "rect(0, 0, 50, 50); }",
        "processing": "void setup() { size(100, 100); frameRate(600); }\n"
                      f"void draw() {{ background(255); fill({frame}, 0, 255 - ({frame})); "
                      "rect(0, 0, 50, 50); }",
    }[lang]  # fmt: skip
    started = time.monotonic()
    result = pool.render(lang, code, 100, 100, tmp_path / "f.png")
    assert result.status is S.OK, result
    assert time.monotonic() - started < LIMITS.timeout_s
    assert _near(_rgb(tmp_path / "f.png")[25, 25], (255, 0, 0))  # frame 1, not a later one


@pytest.mark.parametrize("lang", ["p5", "processing"])
@pytest.mark.slow
def test_a_picture_that_moves_in_is_taken_once_it_shows(
    pool: RenderPool, tmp_path: Path, lang: str
) -> None:
    """Rain that starts above the canvas: the first frames hold the background alone,
    so frames are drawn until the canvas holds more than one colour (at most 60); a
    sketch that never draws anything stays empty_image."""
    code = {
        "p5": "let y = -60;\nfunction setup() { createCanvas(100, 100); }\n"
              "function draw() { background(255); y += 10; fill(255, 0, 0); noStroke(); "
              "rect(40, y, 20, 20); }",
        "processing": "float y = -60;\nvoid setup() { size(100, 100); }\n"
                      "void draw() { background(255); y += 10; fill(255, 0, 0); noStroke(); "
                      "rect(40, y, 20, 20); }",
    }[lang]  # fmt: skip
    result = pool.render(lang, code, 100, 100, tmp_path / "rain.png")
    assert result.status is S.OK, result
    red = np.abs(_rgb(tmp_path / "rain.png") - (255, 0, 0)).sum(axis=2) < 60
    assert red.any() and not red[25:].any()  # the first frame it shows in: at the top
    blank = code.replace("rect(40, y, 20, 20)", "rect(40, -90, 20, 20)")
    assert pool.render(lang, blank, 100, 100, tmp_path / "b.png").status is S.EMPTY_IMAGE


SHAPES = [
    # draw() alone, and a draw() that asks for more frames (slowly): one frame each
    ("p5", "function draw() { background(255); fill(255, 0, 0); rect(10, 10, 30, 30); }"),
    ("processing", "void draw() { background(255); fill(255, 0, 0); rect(10, 10, 30, 30); }"),
    ("p5", "function setup() { createCanvas(100, 100); }\nfunction draw() { loop(); "
     "const t = Date.now(); while (Date.now() - t < 300) {} background(255); "
     "fill(255, 0, 0); rect(10, 10, 30, 30); }"),
    ("processing", "void setup() { size(100, 100); }\nvoid draw() { loop(); int t = millis(); "
     "while (millis() - t < 300) {} background(255); fill(255, 0, 0); rect(10, 10, 30, 30); }"),
    # Processing's static mode: no setup(), no draw()
    ("processing", "size(100, 100);\nbackground(255);\nfill(255, 0, 0);\nrect(10, 10, 30, 30);\n"),
]  # fmt: skip


@pytest.mark.parametrize(("lang", "code"), SHAPES)
@pytest.mark.slow
def test_every_kind_of_sketch_draws_one_frame(
    pool: RenderPool, tmp_path: Path, lang: str, code: str
) -> None:
    result = pool.render(lang, code, 100, 100, tmp_path / "s.png")
    assert result.status is S.OK, result
    rgb = _rgb(tmp_path / "s.png")
    assert _near(rgb[25, 25], (255, 0, 0)) and _near(rgb[80, 80], (255, 255, 255))


@pytest.mark.parametrize(
    ("lang", "code", "status", "reason"),
    [
        ("p5", "function setup() {\n  createCanvas(100, 100)\n  background(0 }\n",
         S.SYNTAX_ERROR, "SyntaxError: missing ) after argument list (line 3)"),
        ("p5", "function setup() {\n  createCanvas(100, 100);\n  drawTree(3);\n}\n",
         S.RUNTIME_ERROR, "ReferenceError: drawTree is not defined (line 3)"),
        ("p5", "function setup() { createCanvas(100, 100); }\nfunction draw() {\n"
         "  throw new Error('boom');\n}\n", S.RUNTIME_ERROR, "Error: boom (line 3)"),
        ("p5", "function setup() { createCanvas(100, 100); background(220); }\n",
         S.EMPTY_IMAGE, "flat"),
        ("p5", "let size = 10;\n", S.EMPTY_IMAGE, "neither setup() nor draw()"),
        ("processing", "void setup() {\n  size(100, 100)\n  background(0 }\n",
         S.SYNTAX_ERROR, "SyntaxError"),
        ("processing", "void setup() {\n  size(100, 100);\n  int[] a = null;\n  a[3] = 1;\n}\n",
         S.RUNTIME_ERROR, "TypeError"),
        ("processing", "void setup() { size(100, 100); background(220); }\n",
         S.EMPTY_IMAGE, "flat"),
    ],
)  # fmt: skip
@pytest.mark.slow
def test_failures_are_typed(
    pool: RenderPool, tmp_path: Path, lang: str, code: str, status: RenderStatus, reason: str
) -> None:
    result = pool.render(lang, code, 64, 64, tmp_path / "x.png")
    assert result.status is status, result
    assert reason in result.reason
    assert result.image is None and not (tmp_path / "x.png").exists()


HOSTILE = {
    "p5-require-fs": ("p5", "const fs = require('fs');\n" + P5_SETUP.format(""),
                      {S.RUNTIME_ERROR}),
    "p5-child-process": ("p5", P5_SETUP.format(
        "require('child_process').execSync('cat /etc/passwd');"), {S.RUNTIME_ERROR}),
    "p5-process-env": ("p5", P5_SETUP.format("text(JSON.stringify(process.env), 0, 50);"),
                       {S.RUNTIME_ERROR}),
    "p5-fetch-network": ("p5", P5_SETUP.format(
        "fetch('http://1.1.1.1/').then((r) => r.text()).then((t) => text(t, 0, 50));"),
        {S.OK}),
    "p5-fetch-file": ("p5", P5_SETUP.format(
        "fetch('file:///etc/passwd').then((r) => r.text()).then((t) => text(t, 0, 50));"),
        {S.OK}),
    "p5-xhr-file": ("p5", P5_SETUP.format(
        "const x = new XMLHttpRequest(); x.open('GET', 'file:///etc/passwd', false); x.send();"
        " text(x.responseText, 0, 50);"), {S.RUNTIME_ERROR}),
    "p5-image-file": ("p5", P5_SETUP.format(
        "loadImage('file:///etc/passwd', (img) => image(img, 0, 0));"), {S.OK}),
    "p5-iframe-file": ("p5", P5_SETUP.format(
        "const f = document.createElement('iframe'); f.src = 'file:///etc/passwd';"
        " document.body.appendChild(f); text(String(f.contentDocument && "
        "f.contentDocument.body.innerText), 0, 50);"), {S.OK, S.RUNTIME_ERROR}),
    "p5-endless-setup": ("p5", "function setup() { createCanvas(100, 100); while (true) {} }",
                         {S.TIMEOUT}),
    "p5-endless-draw": ("p5", "function setup() { createCanvas(100, 100); }\n"
                        "function draw() { background(0); while (true) {} }", {S.TIMEOUT}),
    "p5-huge-canvas": ("p5", "function setup() { createCanvas(100000, 100000); "
                       "background(255, 0, 0); }", {S.TOO_LARGE}),
    "p5-dense-canvas": ("p5", P5_SETUP.format("pixelDensity(80);"), {S.TOO_LARGE}),
    "p5-cookie-storage": ("p5", P5_SETUP.format(
        "text(document.cookie + localStorage.getItem('k') + indexedDB, 0, 50);"
        " document.cookie = 'k=v'; localStorage.setItem('k', 'v');"), {S.OK}),
    "p5-window-open": ("p5", P5_SETUP.format("window.open('file:///etc/passwd');"), {S.OK}),
    "p5-navigate": ("p5", P5_SETUP.format("location.href = 'file:///etc/passwd';"),
                    {S.BLOCKED}),
    "p5-reload-forever": ("p5", P5_SETUP.format("location.reload();"), {S.TIMEOUT}),
    "p5-dialogs": ("p5", P5_SETUP.format(
        "alert('hi'); text(String(confirm('x')) + prompt('y'), 0, 50); print(); window.print();"),
        {S.OK}),
    "p5-memory-bomb": ("p5", "const a = [];\nfunction setup() { createCanvas(100, 100);"
                       " while (true) a.push(new Array(1e6).fill(1.5)); }", {S.MEMORY}),
    "p5-buffer-bomb": ("p5", "const a = [];\nfunction setup() { createCanvas(100, 100);"
                       " while (true) a.push(new Uint8Array(1 << 28).fill(7)); }",
                       {S.MEMORY, S.TIMEOUT}),
    "p5-forged-result": ("p5", P5_SETUP.format(
        "JSON.stringify = () => '{\"status\": \"ok\", \"reason\": \"\", \"png\": \"AAAA\"}';"),
        {S.RUNTIME_ERROR}),
    "p5-claims-a-crash": ("p5", P5_SETUP.format(
        "JSON.stringify = () => '{\"status\": \"crash\", \"reason\": \"not me\"}';"),
        {S.RUNTIME_ERROR}),
    "pde-load-strings": ("processing", PDE_SETUP.format(
        'String[] lines = loadStrings("/etc/passwd"); text(lines[0], 0, 50);'),
        {S.RUNTIME_ERROR}),
    "pde-java-io": ("processing", "import java.io.*;\n" + PDE_SETUP.format(
        'BufferedReader r = createReader("/etc/passwd"); text(r.readLine(), 0, 50);'),
        {S.RUNTIME_ERROR, S.SYNTAX_ERROR}),
    "pde-link": ("processing", PDE_SETUP.format('link("file:///etc/passwd");'),
                 {S.OK, S.BLOCKED}),
    "pde-endless-setup": ("processing", "void setup() { size(100, 100); while (true) {} }",
                          {S.TIMEOUT}),
    "pde-huge-canvas": ("processing", "void setup() { size(100000, 100000); "
                        "background(255, 0, 0); }", {S.TOO_LARGE}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.slow
def test_hostile_sketches_are_contained(pool: RenderPool, tmp_path: Path, case: str) -> None:
    lang, code, expected = HOSTILE[case]
    started = time.monotonic()
    result = pool.render(lang, code, 128, 128, tmp_path / "out.png")
    assert result.status in expected, result
    assert time.monotonic() - started < LIMITS.timeout_s + 5
    text = f"{result.reason}\n{result.stderr_tail}"
    assert SECRET not in text and "root:x:0:0" not in text
    follow = pool.render(lang, GOOD[lang], 64, 64, tmp_path / "next.png")
    assert follow.status is S.OK, follow


@pytest.mark.slow
def test_no_job_sees_what_an_earlier_one_stored(pool: RenderPool, tmp_path: Path) -> None:
    store = P5_SETUP.format("localStorage.setItem('k', 'v'); document.cookie = 'k=v';")
    assert pool.render("p5", store, 64, 64, tmp_path / "a.png").status is S.OK
    look = (
        "function setup() { createCanvas(100, 100);"
        " if (localStorage.getItem('k') !== null || document.cookie !== '')"
        " throw new Error('saw ' + localStorage.getItem('k') + document.cookie); " + DRAW + " }"
    )
    for _ in range(2):  # either worker slot
        result = pool.render("p5", look, 64, 64, tmp_path / "b.png")
        assert result.status is S.OK, result


@pytest.mark.slow
def test_sketches_never_reach_a_loopback_server(pool: RenderPool, tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        url = server.api_base.replace("/v1", "/x.png")
        p5 = P5_SETUP.format(
            f"fetch('{url}'); loadImage('{url}'); const x = new XMLHttpRequest();"
            f" x.open('GET', '{url}', false); x.send();"
        )
        pde = PDE_SETUP.format(f'PImage img = loadImage("{url}"); loadStrings("{url}");')
        results = [pool.render("p5", p5, 64, 64, tmp_path / "n.png"),
                   pool.render("processing", pde, 64, 64, tmp_path / "m.png")]  # fmt: skip
        assert [r.status for r in results] == [S.RUNTIME_ERROR] * 2, results
        assert server.requests == []


def test_missing_libraries_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAD_JS_DIR", str(tmp_path / "nothing"))
    with RenderPool(size=1, limits=LIMITS) as bare:
        for lang in ("p5", "processing"):
            result = bare.render(lang, GOOD[lang], 64, 64, tmp_path / "x.png")
            assert result.status is S.CRASH and "run scripts/install.sh" in result.reason
            assert str(tmp_path / "nothing") in result.reason
        old = tmp_path / "old" / "p5"  # another version than the renderer pins
        (old / "lib").mkdir(parents=True)
        (old / "package.json").write_text('{"name": "p5", "version": "1.0.0"}')
        (old / "lib" / "p5.min.js").write_text("window.p5 = function () {};")
        monkeypatch.setenv("VAD_JS_DIR", str(tmp_path / "old"))
        result = bare.render("p5", GOOD["p5"], 64, 64, tmp_path / "x.png")
        assert result.status is S.CRASH, result
        assert "p5@1.11.11 is not installed (found p5@1.0.0)" in result.reason
        assert "run scripts/install.sh" in result.reason


def test_the_libraries_live_in_the_virtualenv_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from vad.languages._sketch import js_dir

    monkeypatch.delenv("VAD_JS_DIR", raising=False)
    assert js_dir() == Path(sys.prefix, "share", "vad", "js", "node_modules")


PROBE = """import os, resource
seen = {}
for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        seen[pid] = fh.read().split(b"\\0")[0].decode()
def attempt(path):
    try:
        with open(path) as fh:
            return fh.read()[:40]
    except OSError as exc:
        return type(exc).__name__
raise SystemExit(repr({"pids": seen, "as": resource.getrlimit(resource.RLIMIT_AS)[0],
    "zygote_environ": attempt("/proc/2/environ"), "zygote_mem": attempt("/proc/2/mem")}))
"""


@pytest.fixture
def python_job_proc_language() -> Iterator[str]:
    """Python drawing code with the sketch languages' relaxations, to look at them."""

    register_language(
        dataclasses.replace(
            get_language("matplotlib"),
            name="python-job-proc",
            aliases=(),
            job_proc=True,
            limits=CHROMIUM_LIMITS,
        )
    )
    yield "python-job-proc"
    unregister_language("python-job-proc")


def _seen(result) -> dict:
    assert result.status is S.RUNTIME_ERROR, result
    return ast.literal_eval(result.reason.split(": ", 1)[1])


@pytest.mark.slow
def test_relaxations_are_per_language(tmp_path: Path, python_job_proc_language: str) -> None:
    with RenderPool(size=1, limits=Limits(timeout_s=20, audit_hook=False)) as raw:
        relaxed = _seen(raw.render(python_job_proc_language, PROBE, 64, 64, tmp_path / "r.png"))
        strict = _seen(raw.render("matplotlib", PROBE, 64, 64, tmp_path / "s.png"))
    # The warm worker's jobs: no /proc at all, the pool's address-space limit.
    assert strict["pids"] == {} and strict["as"] == Limits().memory_bytes
    # A job_proc job: its own jail's procfs (bwrap's init, the worker, its supervisor, the
    # job's init and the job itself, none of them another job), the relaxed limit.
    assert relaxed["as"] == CHROMIUM_LIMITS["memory_bytes"]
    assert 3 <= len(relaxed["pids"]) <= 6, relaxed["pids"]
    assert set(relaxed["pids"].values()) <= {"/usr/bin/bwrap", sys.executable}, relaxed["pids"]
    assert relaxed["zygote_environ"] == "PermissionError"  # not dumpable
    assert relaxed["zygote_mem"] == "PermissionError"


@pytest.mark.slow
def test_seconds_per_render(pool: RenderPool, tmp_path: Path) -> None:
    """A measurement, not a test of speed: printed, never asserted."""
    lines = []
    for lang in ("p5", "processing"):
        times = []
        for i in range(5):
            started = time.monotonic()
            result = pool.render(lang, GOOD[lang], 224, 224, tmp_path / f"{lang}{i}.png")
            times.append(time.monotonic() - started)
            assert result.ok, result
        lines.append(f"{lang}: {np.mean(times):.2f} s per jailed render "
                     f"(min {min(times):.2f}, max {max(times):.2f}, n={len(times)})")  # fmt: skip
    print("\n" + "\n".join(lines))

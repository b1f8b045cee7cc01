"""Hostile tests: forged job results, memory and kernel objects that outlive a job, and
images the host must re-encode.

Everything runs through the real jailed RenderPool. Python drawing code (matplotlib and
turtle) runs in the process that writes the job's result file (``result.json`` in its
current folder) after the drawing code returns, so it can forge, break or replace that
file. "crash" means "the host failed" and is not scored: a program must never be able
to make its own sample ``crash`` (or ``no_code``). After every attack a plain
matplotlib red square is rendered in the same pool and must give the same pixels as
before the attack.

Two pools, one worker each (the machine may have two cores):

* ``jail``: ``audit_hook=False``, so containment rests on the jail and the host alone
  (the audit hook is a hint layer, and ctypes would be refused by it first);
* ``hooked``: the default hint layer on, for attacks written in ordinary Python.
"""

from __future__ import annotations

import ctypes
import io
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad.render import Limits, RenderPool, RenderStatus

S = RenderStatus
UNSCORED = (S.CRASH, S.NO_CODE)
BASE_SIZE = 96  # the baseline red square
IMG_SIZE = 224  # the crafted PNGs

MPL_RED = """import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.add_patch(plt.Rectangle((0.2, 0.2), 0.6, 0.6, color="red"))
ax.set_xlim(0, 1)
ax.set_ylim(0, 1)
ax.axis("off")
"""
TURTLE_RED = "from turtle import *\ncolor('red')\nbegin_fill()\ncircle(40)\nend_fill()\n"
DRAW = {"matplotlib": MPL_RED, "turtle": TURTLE_RED}

# The jail pool: no audit hook; files up to 128 MiB (a 100 MB result.json is within the
# file-size limit); the default memory limits (2 GiB a job, 3 GiB a worker).
JAIL_LIMITS = Limits(timeout_s=10, cpu_s=8, file_bytes=128 << 20, audit_hook=False)
HOOK_LIMITS = Limits(timeout_s=10, cpu_s=8)


# -- pools, baselines, helpers ----------------------------------------------------------


def _rgb(path: Path) -> np.ndarray:
    with Image.open(io.BytesIO(path.read_bytes())) as img:
        return np.asarray(img.convert("RGB")).astype(int)


class Pool:
    """A pool and the pixels its benign drawings had before any attack."""

    def __init__(self, pool: RenderPool, folder: Path) -> None:
        self.pool, self.folder = pool, folder
        self.baseline: dict[str, np.ndarray] = {}
        for lang, code in DRAW.items():
            done = pool.render(lang, code, BASE_SIZE, BASE_SIZE, folder / f"{lang}.png")
            assert done.ok, done
            self.baseline[lang] = _rgb(folder / f"{lang}.png")
        assert (self.baseline["matplotlib"] != 255).any()  # not blank

    def render(self, lang: str, code: str, dest: Path, size: int = BASE_SIZE):
        result = self.pool.render(lang, code, size, size, dest)
        # Never: a program cannot take its own sample out of the rates.
        assert result.status not in UNSCORED, result
        if not result.ok:
            assert result.image is None and not dest.exists(), result
        return result

    def baseline_after(self, folder: Path) -> None:
        """The next job in the same pool, a plain red square, renders as before."""
        dest = folder / "baseline-after.png"
        follow = self.pool.render("matplotlib", MPL_RED, BASE_SIZE, BASE_SIZE, dest)
        assert follow.ok, follow
        assert np.array_equal(_rgb(dest), self.baseline["matplotlib"])


@pytest.fixture(scope="module")
def jail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    with RenderPool(size=1, limits=JAIL_LIMITS) as pool:
        yield Pool(pool, tmp_path_factory.mktemp("jail-baseline"))


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    with RenderPool(size=1, limits=HOOK_LIMITS) as pool:
        yield Pool(pool, tmp_path_factory.mktemp("hooked-baseline"))


# -- 1. forged or unparseable result files ----------------------------------------------

# Every case starts from an empty place for result.json (it may not exist yet).
CLEAR = "import os\nif os.path.lexists('result.json'):\n    os.remove('result.json')\n"
BLANK_PNG = "from PIL import Image\nImage.new('RGB', (96, 96), 'white').save('out.png')\n"
REAL_PNG = (
    "from PIL import Image\nimg = Image.new('RGB', (96, 96), 'white')\n"
    "img.paste((255, 0, 0), (20, 20, 70, 70))\nimg.save('out.png')\n"
)

FORGED: dict[str, tuple[str, set[RenderStatus]]] = {
    # An unterminated 60000-deep array: json.loads raises RecursionError, not ValueError.
    "deep-open-brackets": ("open('result.json', 'w').write('[' * 60000)\nos._exit(0)\n",
                           {S.RUNTIME_ERROR}),
    # Valid but deeply nested JSON (a list; a dict; a nested value beside "ok").
    "deep-valid-list": ("open('result.json', 'w').write('[' * 60000 + ']' * 60000)\n"
                        "os._exit(0)\n", {S.RUNTIME_ERROR}),
    "deep-valid-dict": ("open('result.json', 'w').write('{\"a\": ' * 30000 + '1' + '}' * 30000)"
                        "\nos._exit(0)\n", {S.RUNTIME_ERROR}),
    "deep-valid-beside-ok": ("open('result.json', 'w').write('{\"status\": \"ok\", \"reason\": '"
                             " + '[' * 60000 + ']' * 60000 + '}')\nos._exit(0)\n",
                             {S.RUNTIME_ERROR}),
    # 100 MB of JSON claiming "ok" (written), and a sparse 100 MB file after a claim.
    "huge-100MB": ("f = open('result.json', 'w')\nf.write('{\"status\": \"ok\", \"reason\": \"')"
                   "\nfor _ in range(100):\n    f.write('A' * (1 << 20))\nf.write('\"}')\n"
                   "f.close()\nos._exit(0)\n", {S.RUNTIME_ERROR}),
    "huge-sparse": ("f = open('result.json', 'w')\nf.write('{\"status\": \"ok\"')\n"
                    "f.truncate(100 << 20)\nf.close()\nos._exit(0)\n", {S.RUNTIME_ERROR}),
    # result.json as a symlink: to an endless device, and to a claim beside a real image.
    "symlink-dev-zero": ("os.symlink('/dev/zero', 'result.json')\nos._exit(0)\n",
                         {S.RUNTIME_ERROR}),
    "symlink-to-claim": (REAL_PNG +
                         "open('claim.json', 'w').write('{\"status\": \"ok\"}')\n"
                         "os.symlink('claim.json', 'result.json')\nos._exit(0)\n",
                         {S.RUNTIME_ERROR}),
    # result.json as a directory (with a claim inside), and as a FIFO nobody writes.
    "directory": ("os.mkdir('result.json')\nopen('result.json/x', 'w').write('{}')\n"
                  "os._exit(0)\n", {S.RUNTIME_ERROR}),
    "fifo": ("os.mkfifo('result.json')\nos._exit(0)\n", {S.RUNTIME_ERROR, S.TIMEOUT}),
    # Claims of a status the host never saw.
    "claim-timeout": ("open('result.json', 'w').write('{\"status\": \"timeout\"}')\n"
                      "os._exit(0)\n", {S.RUNTIME_ERROR, S.TIMEOUT}),
    "claim-ok-no-image": ("open('result.json', 'w').write('{\"status\": \"ok\"}')\n"
                          "os._exit(0)\n", {S.RUNTIME_ERROR}),
    "claim-ok-blank-image": (BLANK_PNG + "open('result.json', 'w').write('{\"status\": \"ok\"}')"
                             "\nos._exit(0)\n", {S.RUNTIME_ERROR, S.EMPTY_IMAGE}),
    "claim-ok-empty-file": (BLANK_PNG + "open('out.png', 'wb').close()\n"
                            "open('result.json', 'w').write('{\"status\": \"ok\"}')\n"
                            "os._exit(0)\n", {S.RUNTIME_ERROR, S.EMPTY_IMAGE}),
}  # fmt: skip


@pytest.mark.parametrize("lang", ["matplotlib", "turtle"])
@pytest.mark.parametrize("case", sorted(FORGED))
@pytest.mark.slow
def test_a_forged_or_unreadable_result_file_is_scored(
    jail: Pool, tmp_path: Path, case: str, lang: str
) -> None:
    """Attack: the drawing code writes (or replaces) result.json itself and ends at once
    (os._exit), before the real result is written. Asserts: a scored status (the one
    expected for the case; never crash/no_code, never ok: none of these has a real
    drawing), no image stored, and the next job renders the baseline pixels."""
    code, expected = FORGED[case]
    dest = tmp_path / "forged.png"
    started = time.monotonic()
    result = jail.render(lang, CLEAR + code, dest)
    assert result.status in expected, result
    assert not result.ok and result.image is None and not dest.exists()
    assert time.monotonic() - started < JAIL_LIMITS.timeout_s + 30
    jail.baseline_after(tmp_path)


# A grandchild that outlives the job (own session) and keeps writing a forged result and
# a magenta out.png for 8 s: into this job's folder and, unless it is killed, the next's.
LINGER = """import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        from PIL import Image
        buf = __import__('io').BytesIO()
        Image.new('RGB', (96, 96), (255, 0, 255)).save(buf, 'PNG')
        end = time.time() + 8
        while time.time() < end:
            for name, data in (('result.json', b'{"status": "crash", "reason": "host"}'),
                               ('out.png', buf.getvalue())):
                try:
                    with open(name, 'wb') as f:
                        f.write(data)
                except OSError:
                    pass
            time.sleep(0.005)
        os._exit(0)
    os._exit(0)
os.wait()
time.sleep(0.3)
"""


@pytest.mark.parametrize("lang", ["matplotlib", "turtle"])
@pytest.mark.slow
def test_a_process_left_behind_cannot_forge_this_or_the_next_result(
    jail: Pool, tmp_path: Path, lang: str
) -> None:
    """Attack: a detached grandchild keeps rewriting result.json (claiming crash) and
    out.png (magenta) while the job draws and after it ends. Asserts: the job is scored
    (not crash), and the next job renders the baseline pixels (no magenta)."""
    result = jail.render(lang, LINGER + DRAW[lang], tmp_path / "linger.png")
    if result.ok:  # its own drawing, or the magenta square: either is the program's
        assert result.image is not None
    jail.baseline_after(tmp_path)
    time.sleep(1)  # and once more, while the writer would still be running
    jail.baseline_after(tmp_path)


# The drawing code replaces what the result writer may use, then fails or draws.
PATCHES = {
    ("json.dump", "garbage"): "import json\n"
        "json.dump = lambda obj, fp, *a, **k: fp.write('\\x00{garbage')\n",
    ("json.dump", "claims-crash"): "import json\n"
        "json.dump = lambda obj, fp, *a, **k: fp.write('{\"status\": \"crash\"}')\n",
    ("json.dump", "raises"): "import json\n"
        "def _no(*a, **k):\n    raise OSError('json.dump is gone')\njson.dump = _no\n",
    ("json.dumps", "garbage"): "import json\njson.dumps = lambda *a, **k: '\\x00{garbage'\n",
    ("json.dumps", "claims-crash"): "import json\n"
        "json.dumps = lambda *a, **k: '{\"status\": \"crash\"}'\n",
    ("json.dumps", "raises"): "import json\n"
        "def _no(*a, **k):\n    raise OSError('json.dumps is gone')\njson.dumps = _no\n",
    ("open", "garbage"): "import builtins\n_open = builtins.open\n"
        "def _garbage(file, mode='r', *a, **k):\n"
        "    f = _open(file, mode, *a, **k)\n"
        "    if 'w' in mode or 'a' in mode:\n"
        "        f.write(b'\\x00{garbage' if 'b' in mode else '\\x00{garbage')\n"
        "    return f\nbuiltins.open = _garbage\n",
    ("open", "claims-crash"): "import builtins, os\n_open = builtins.open\n"
        "def _claim(file, mode='r', *a, **k):\n"
        "    if str(file).endswith('result.json'):\n"
        "        with _open(file, 'w') as f:\n"
        "            f.write('{\"status\": \"crash\"}')\n"
        "        return _open(os.devnull, mode, *a, **k)\n"
        "    return _open(file, mode, *a, **k)\nbuiltins.open = _claim\n",
    ("open", "raises"): "import builtins\n"
        "def _no(*a, **k):\n    raise PermissionError('open is gone')\nbuiltins.open = _no\n",
}  # fmt: skip


@pytest.mark.parametrize("lang", ["matplotlib", "turtle"])
@pytest.mark.parametrize("ending", ["fails", "draws"])
@pytest.mark.parametrize("patch", sorted(PATCHES), ids="-".join)
@pytest.mark.slow
def test_a_broken_result_writer_is_scored(
    hooked: Pool, tmp_path: Path, patch: tuple[str, str], ending: str, lang: str
) -> None:
    """Attack (ordinary Python): json.dump, json.dumps or builtins.open replaced by one
    that writes garbage, claims a crash, or raises; then the code raises, or draws.
    Asserts: scored, never crash; a failing program is runtime_error; a drawing program
    is runtime_error or ok with exactly its own (baseline) pixels; the next job renders
    the baseline pixels."""
    code = PATCHES[patch] + (DRAW[lang] if ending == "draws" else "raise ValueError('mine')\n")
    dest = tmp_path / "patched.png"
    result = hooked.render(lang, code, dest)
    if ending == "fails":
        assert result.status is S.RUNTIME_ERROR, result
    else:
        assert result.status in (S.RUNTIME_ERROR, S.OK), result
        if result.ok:
            assert np.array_equal(_rgb(dest), hooked.baseline[lang])
    hooked.baseline_after(tmp_path)


# -- 1b. sketches (p5) ------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    shutil.which("chromium-headless-shell") is None, reason="no chromium-headless-shell"
)
P5_DRAW = "background(255); noStroke(); fill(255, 0, 0); rect(10, 10, 40, 40);"
P5_CASES: dict[str, tuple[str, set[RenderStatus]]] = {
    # throws of things that are not Errors, or that throw when looked at
    "throw-null": ("function setup() { createCanvas(100, 100); throw null; }",
                   {S.RUNTIME_ERROR}),
    "throw-symbol": ("function setup() { createCanvas(100, 100); throw Symbol('x'); }",
                     {S.RUNTIME_ERROR}),
    "throw-poisoned": ("function setup() { createCanvas(100, 100); throw {get message() "
                       "{ throw 1; }, get stack() { throw 2; }, toString() { throw 3; }}; }",
                       {S.RUNTIME_ERROR}),
    "throw-in-draw-later": ("function setup() { createCanvas(100, 100); }\n"
                            "function draw() { " + P5_DRAW + " if (frameCount > 0) "
                            "throw new RangeError('x'.repeat(1 << 20)); }", {S.RUNTIME_ERROR}),
    # odd globals, then a real drawing (scored either way, never crash)
    "poisoned-prototypes": ("Object.defineProperty(Object.prototype, 'status', {get() "
                            "{ return 'crash'; }, set() {}});\nObject.prototype.reason = 'host';\n"
                            "Array.prototype.join = function () { throw 1; };\n"
                            "function setup() { createCanvas(100, 100); " + P5_DRAW + " }",
                            set(S) - {S.CRASH, S.NO_CODE}),
    "poisoned-builtins": ("JSON.parse = null; console.log = console.error = () => { throw 1; };"
                          "\nError.prototype.toString = () => { throw 2; };\n"
                          "String.prototype.slice = null; Promise.prototype.then = null;\n"
                          "function setup() { createCanvas(100, 100); " + P5_DRAW + " }",
                          set(S) - {S.CRASH, S.NO_CODE}),
    "forged-canvas": ("HTMLCanvasElement.prototype.toDataURL = () => 'data:image/png;base64,"
                      "AAAA';\nHTMLCanvasElement.prototype.toBlob = (cb) => cb(null);\n"
                      "function setup() { createCanvas(100, 100); " + P5_DRAW + " }",
                      set(S) - {S.CRASH, S.NO_CODE}),
    "window-globals": ("window.setup = 1; window.draw = 'x'; window.onerror = () => true;\n"
                       "window.addEventListener('error', (e) => e.stopImmediatePropagation(), "
                       "true);\nsetTimeout(() => { throw new Error('later'); }, 0);",
                       set(S) - {S.CRASH, S.NO_CODE}),
}  # fmt: skip


@needs_chromium
@pytest.mark.parametrize("case", sorted(P5_CASES))
@pytest.mark.slow
def test_a_sketch_that_throws_or_poisons_globals_is_scored(
    hooked: Pool, tmp_path: Path, case: str
) -> None:
    """Attack: a p5 sketch throws odd values or poisons JS globals the page's result
    reporting may use. Asserts: the expected scored status (never crash), and the next
    matplotlib job renders the baseline pixels; an "ok" is the sketch's own drawing."""
    code, expected = P5_CASES[case]
    result = hooked.render("p5", code, tmp_path / "sketch.png", size=100)
    assert result.status in expected, result
    if result.ok:  # then it is the sketch's real drawing: red at (10..50), white elsewhere
        rgb = _rgb(tmp_path / "sketch.png")
        assert np.abs(rgb[30, 30] - (255, 0, 0)).sum() < 60, rgb[30, 30]
        assert (rgb[80, 80] == 255).all(), rgb[80, 80]
        _assert_clean_png(tmp_path / "sketch.png")
    hooked.baseline_after(tmp_path)


# -- 2. memory charged to the keeper ---------------------------------------------------

LIBC = (
    "import ctypes, os, time\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.syscall.restype = ctypes.c_long\n"
)
MEMFD_FILL = (
    LIBC
    + """
fds = []
while len(fds) < 52:  # 52 x 60 MiB, about 3 GiB of shared memory
    fd = libc.syscall(319, b"x", 0)  # memfd_create
    if fd < 0:
        raise OSError(ctypes.get_errno(), "memfd_create")
    os.ftruncate(fd, 60 << 20)
    chunk = b"x" * (1 << 20)
    for _ in range(60):
        os.write(fd, chunk)
    fds.append(fd)
time.sleep(1)
"""
)
SHM_FILL = (
    LIBC
    + """
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]
SIZE = 700 << 20
for _ in range(5):  # five 700 MiB segments, each filled by a helper that then exits
    pid = os.fork()
    if pid == 0:
        shmid = libc.syscall(29, 0, ctypes.c_long(SIZE), 0o1000 | 0o600)  # shmget
        if shmid < 0:
            os._exit(3)
        addr = libc.shmat(shmid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            os._exit(4)
        ctypes.memset(addr, 1, SIZE)
        libc.shmdt(addr)
        os._exit(0)  # no IPC_RMID: the segment stays after its creator
    _, status = os.waitpid(pid, 0)
    if status:
        raise OSError(f"shm helper ended with {status:#x}")
"""
)
FORK_FILL = (
    LIBC
    + """
kids = []
for _ in range(8):  # eight children of 1.5 GiB each, every page written
    pid = os.fork()
    if pid == 0:
        try:
            block = b"\\x01" * (1536 << 20)
            time.sleep(3)
        except MemoryError:
            os._exit(5)
        os._exit(0)
    kids.append(pid)
bad = [os.waitpid(pid, 0)[1] for pid in kids]
if any(bad):
    raise OSError(f"children ended with {bad}")
"""
)
MEMORY = {"memfd-3GiB": MEMFD_FILL, "sysv-shm-in-helpers": SHM_FILL, "fork-8x1.5GiB": FORK_FILL}
# A job that needs 600 MiB of its own: it must still fit after the attack.
NEEDS_600MB = "block = b'\\x01' * (600 << 20)\n" + MPL_RED


# The forked children are OOM-killed one after another: some 15 s an attack.
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.slow) if c.startswith("fork") else c
        for c in sorted(MEMORY)
    ],
)
def test_memory_a_job_leaves_behind_is_not_charged_to_the_worker(
    jail: Pool, tmp_path: Path, case: str
) -> None:
    """Attack (ctypes, no audit hook): fill ~3 GiB of memfds, SysV segments left by
    helpers, or eight 1.5 GiB children; draw only if all of it succeeded. Asserts: a
    scored failure (memory, runtime_error or blocked), twice in a row (whatever a first
    attack left must not add up); then a 600 MiB job and the baseline still render."""
    for attempt in range(2):
        dest = tmp_path / f"attack-{attempt}.png"
        result = jail.render("matplotlib", MEMORY[case] + MPL_RED, dest)
        assert result.status in (S.MEMORY, S.RUNTIME_ERROR, S.BLOCKED), result
    big = jail.render("matplotlib", NEEDS_600MB, tmp_path / "big.png")
    assert big.ok, big
    jail.baseline_after(tmp_path)


# One call each, reported through the picture: the red square is drawn only when the
# call succeeded, so "ok" means the jail let it through.
PROBES = {
    "memfd_create": "r = libc.syscall(319, b'x', 0)",
    "shmget": "r = libc.syscall(29, 0, ctypes.c_long(1 << 20), 0o1000 | 0o600)",
    "inotify_init1": "r = libc.syscall(294, 0)",
    "io_setup": "ctx = ctypes.c_ulong(0)\nr = libc.syscall(206, 8, ctypes.byref(ctx))",
    "fanotify_init": "r = libc.syscall(300, 0x200, 0)",  # FAN_REPORT_FID: unprivileged
    "getpid-control": "r = libc.syscall(39)",
}


def _probe_code(call: str) -> str:
    return (
        LIBC + call + "\nerr = ctypes.get_errno()\n"
        "if r < 0:\n    raise OSError(err, f'refused: r={r} errno={err}')\n" + MPL_RED
    )


@pytest.mark.parametrize("name", sorted(PROBES))
def test_kernel_objects_that_outlive_accounting_are_refused(
    jail: Pool, tmp_path: Path, name: str
) -> None:
    """Attack: one memfd_create / shmget / inotify_init1 / io_setup / fanotify_init from
    job code (a harmless getpid as the control that the probe can draw). Asserts: the
    call failed (not ok, no image; runtime_error or blocked); the control draws."""
    dest = tmp_path / "probe.png"
    result = jail.render("matplotlib", _probe_code(PROBES[name]), dest)
    if name == "getpid-control":
        assert result.ok, result
    else:
        assert result.status in (S.RUNTIME_ERROR, S.BLOCKED), result
        assert result.image is None
    jail.baseline_after(tmp_path)


# -- 3. host-wide kernel counters --------------------------------------------------------

HOLD = (
    LIBC
    + """
inotify = 0
for _ in range(1000):  # fs.inotify.max_user_instances is 128 by default, per user
    if libc.syscall(294, 0) < 0:
        break
    inotify += 1
aio = 0
for _ in range(1000):  # fs.aio-max-nr (65536 events) is one counter for the machine
    ctx = ctypes.c_ulong(0)
    if libc.syscall(206, 4096, ctypes.byref(ctx)) < 0:
        break
    aio += 1
time.sleep(2.5)
raise RuntimeError(f"HELD inotify={inotify} aio={aio}")
"""
)


def _host_calls() -> tuple[bool, bool]:
    """Whether this (host) process can make an inotify instance and an aio context now."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(294, 0)
    if fd >= 0:
        libc.close(ctypes.c_int(fd))
    ctx = ctypes.c_ulong(0)
    made = libc.syscall(206, 1, ctypes.byref(ctx))
    if made >= 0:
        libc.syscall(207, ctx)  # io_destroy
    return fd >= 0, made >= 0


@pytest.mark.slow
def test_a_job_cannot_use_up_host_wide_kernel_counters(jail: Pool, tmp_path: Path) -> None:
    """Attack: the job makes as many inotify instances and 4096-event aio contexts as it
    can and holds them for 2.5 s. Meanwhile a host thread keeps making (and freeing) one
    of each. Asserts: every host call succeeded, and the job made none (its reason says
    HELD inotify=0 aio=0, or it was refused outright)."""
    if _host_calls() != (True, True):
        pytest.skip("this host cannot make inotify instances or aio contexts itself")
    failures: list[str] = []
    tries = [0]
    stop = threading.Event()

    def host() -> None:
        while not stop.is_set():
            inotify, aio = _host_calls()
            tries[0] += 1
            if not inotify:
                failures.append("inotify")
            if not aio:
                failures.append("aio")
            time.sleep(0.05)

    thread = threading.Thread(target=host)
    thread.start()
    try:
        result = jail.render("matplotlib", HOLD, tmp_path / "hold.png")
    finally:
        stop.set()
        thread.join()
    assert tries[0] > 5
    assert not failures, f"host calls failed while the job ran: {sorted(set(failures))}"
    assert result.status in (S.RUNTIME_ERROR, S.BLOCKED), result
    if "HELD" in result.reason:
        assert "HELD inotify=0 aio=0" in result.reason, result.reason
    jail.baseline_after(tmp_path)


# -- 4. images the host re-encodes -------------------------------------------------------

PNG_SIG = b"\x89PNG\r\n\x1a\n"
CLEAN_CHUNKS = {b"IHDR", b"IDAT", b"IEND"}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def chunk_kinds(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, in order; checks lengths, CRCs and that nothing follows
    IEND."""
    assert data[:8] == PNG_SIG, data[:8]
    pos, kinds = 8, []
    while True:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        kinds.append(kind)
        pos += 12 + length
        if kind == b"IEND":
            break
    assert pos == len(data), "bytes after IEND"
    return kinds


def _assert_clean_png(path: Path) -> None:
    kinds = chunk_kinds(path.read_bytes())
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND", kinds
    assert set(kinds) <= CLEAN_CHUNKS, sorted(set(kinds) - CLEAN_CHUNKS)


def _honest() -> tuple[np.ndarray, np.ndarray]:
    """A 224 px drawing as palette indices and its RGB (white; blue, green, red)."""
    idx = np.zeros((IMG_SIZE, IMG_SIZE), np.uint8)
    idx[30:120, 20:150] = 1
    yy, xx = np.mgrid[:IMG_SIZE, :IMG_SIZE]
    idx[(yy - 150) ** 2 + (xx - 150) ** 2 < 50**2] = 2
    idx[200:210, :] = 3
    palette = np.array([(255, 255, 255), (0, 0, 255), (0, 160, 0), (255, 0, 0)], np.uint8)
    return idx, palette[idx]


def _idat(rows: np.ndarray) -> bytes:
    """IDAT of already-packed rows (height x bytes per row), filter 0 each."""
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    return zlib.compress(raw, 9)


def _ihdr(depth: int, colour: int) -> bytes:
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", IMG_SIZE, IMG_SIZE, depth, colour, 0, 0, 0))


def _rgb_png(rgb: np.ndarray, before: bytes = b"", after: bytes = b"") -> bytes:
    return (PNG_SIG + _ihdr(8, 2) + before + _chunk(b"IDAT", _idat(rgb.reshape(IMG_SIZE, -1)))
            + after + _chunk(b"IEND", b""))  # fmt: skip


def _apng(honest: np.ndarray) -> bytes:
    """Default image (IDAT, not part of the animation) honest; one animation frame
    (fcTL + fdAT) a magenta checkerboard."""
    yy, xx = np.mgrid[:IMG_SIZE, :IMG_SIZE]
    checker = np.zeros((IMG_SIZE, IMG_SIZE, 3), np.uint8)
    checker[((yy // 8) + (xx // 8)) % 2 == 0] = (255, 0, 255)
    actl = _chunk(b"acTL", struct.pack(">II", 1, 0))
    fctl = _chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, IMG_SIZE, IMG_SIZE, 0, 0, 1, 1, 0, 0))
    fdat = _chunk(b"fdAT", struct.pack(">I", 1) + _idat(checker.reshape(IMG_SIZE, -1)))
    return _rgb_png(honest, before=actl, after=fctl + fdat)


def _with_metadata(honest: np.ndarray) -> bytes:
    try:
        from PIL import ImageCms

        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    except Exception:  # no littlecms: any bytes make an iCCP chunk
        icc = bytes(128)
    exif = Image.Exif()
    exif[0x010E] = "a description"
    exif_bytes = exif.tobytes().removeprefix(b"Exif\x00\x00")
    before = (_chunk(b"tEXt", b"Comment\x00hello") + _chunk(b"iCCP", b"sRGB\x00\x00"
              + zlib.compress(icc)) + _chunk(b"eXIf", exif_bytes))  # fmt: skip
    return _rgb_png(honest, before=before, after=_chunk(b"tEXt", b"Author\x00me"))


def _sixteen_bit(honest: np.ndarray) -> bytes:
    wide = (honest.astype(np.uint16) * 257).astype(">u2").reshape(IMG_SIZE, -1).view(np.uint8)
    return PNG_SIG + _ihdr(16, 2) + _chunk(b"IDAT", _idat(wide)) + _chunk(b"IEND", b"")


def _palette(idx: np.ndarray) -> bytes:
    plte = _chunk(b"PLTE", bytes([255, 255, 255, 0, 0, 255, 0, 160, 0, 255, 0, 0]))
    return PNG_SIG + _ihdr(8, 3) + plte + _chunk(b"IDAT", _idat(idx)) + _chunk(b"IEND", b"")


IDX, HONEST = _honest()
CRAFTED = {
    "apng-checker-frame": _apng(HONEST),
    "text-iccp-exif": _with_metadata(HONEST),
    "16-bit": _sixteen_bit(HONEST),
    "palette": _palette(IDX),
}
# What each crafted file must hold (checked here, so the cases stay what they claim).
assert {b"acTL", b"fcTL", b"fdAT"} <= set(chunk_kinds(CRAFTED["apng-checker-frame"]))
assert {b"tEXt", b"iCCP", b"eXIf"} <= set(chunk_kinds(CRAFTED["text-iccp-exif"]))
assert b"PLTE" in chunk_kinds(CRAFTED["palette"])


def _deliver(how: str, data_src: str) -> str:
    """matplotlib code that leaves the bytes DATA (defined by ``data_src``) as the job's
    image: "savefig" patches Figure.savefig (the renderer's own save writes DATA, and
    the job then ends normally); "exit" writes out.png and result.json itself and ends
    at once, past any check the worker makes."""
    if how == "savefig":
        return (data_src + MPL_RED + "import matplotlib.figure\n"
                "def _savefig(self, fname, *a, **k):\n"
                "    with open(fname, 'wb') as f:\n        f.write(DATA)\n"
                "matplotlib.figure.Figure.savefig = _savefig\n")  # fmt: skip
    return (
        data_src + "import os\nopen('out.png', 'wb').write(DATA)\n"
        "open('result.json', 'w').write('{\"status\": \"ok\"}')\nos._exit(0)\n"
    )


@pytest.mark.parametrize("how", ["savefig", "exit"])
@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_an_accepted_image_is_re_encoded(hooked: Pool, tmp_path: Path, case: str, how: str) -> None:
    """Attack: the job's image is a crafted PNG: an APNG whose animation frame (acTL,
    fcTL, fdAT) is a magenta checkerboard behind an honest default image; one with
    tEXt/iCCP/eXIf chunks; a 16-bit one; a palette one. Asserts: ok, and the stored PNG
    holds only IHDR/IDAT/IEND with the honest image's RGB pixels; then the baseline."""
    dest = tmp_path / "crafted.png"
    code = _deliver(how, f"DATA = {CRAFTED[case]!r}\n")
    result = hooked.render("matplotlib", code, dest, size=IMG_SIZE)
    assert result.ok, result
    _assert_clean_png(dest)
    assert np.array_equal(_rgb(dest), HONEST.astype(int))
    hooked.baseline_after(tmp_path)


# An honest 224 px image with ~1.4 million empty private chunks (zzZz) between IHDR and
# IDAT, up to just under 16 MiB (the pool's PNG byte cap): built in the job.
PADDED = f"""import struct, zlib
HONEST = {_rgb_png(HONEST)!r}
HEAD, BODY = HONEST[:33], HONEST[33:]  # signature + IHDR; IDAT + IEND
EMPTY = struct.pack('>I', 0) + b'zzZz' + struct.pack('>I', zlib.crc32(b'zzZz'))
DATA = HEAD + EMPTY * (((16 << 20) - 4096 - len(HONEST)) // 12) + BODY
"""


@pytest.mark.parametrize("how", ["savefig", "exit"])
def test_a_png_padded_with_empty_chunks_is_not_stored_as_is(
    hooked: Pool, tmp_path: Path, how: str
) -> None:
    """Attack: ~16 MiB of empty ancillary chunks around a small honest image. Asserts:
    too_large (a byte budget per pixel), or ok with a re-encoded file under 1 MB holding
    only IHDR/IDAT/IEND and the honest pixels; nothing over 1 MB stored; the baseline."""
    assert HOOK_LIMITS.max_png_bytes == 16 << 20
    dest = tmp_path / "padded.png"
    result = hooked.render("matplotlib", _deliver(how, PADDED), dest, size=IMG_SIZE)
    assert result.status in (S.TOO_LARGE, S.OK), result
    if result.ok:
        assert dest.stat().st_size < 1_000_000
        _assert_clean_png(dest)
        assert np.array_equal(_rgb(dest), HONEST.astype(int))
    assert all(p.stat().st_size < 1_000_000 for p in tmp_path.rglob("*") if p.is_file())
    hooked.baseline_after(tmp_path)


@pytest.mark.parametrize("lang", ["matplotlib", "turtle", "svg"])
def test_an_ordinary_render_is_stored_as_plain_png(hooked: Pool, tmp_path: Path, lang: str) -> None:
    """No attack: an ordinary drawing's stored PNG also holds only IHDR/IDAT/IEND
    (matplotlib, for one, writes tEXt Software and pHYs chunks)."""
    code = DRAW.get(lang) or (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
        '<rect x="2" y="2" width="6" height="6" fill="red"/></svg>'
    )
    dest = tmp_path / "plain.png"
    result = hooked.render(lang, code, dest)
    assert result.ok, result
    _assert_clean_png(dest)


# -- end to end: the site shows the pixels the host judged --------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _magenta_in_browser(page: Path, tmp_path: Path) -> int:
    """Magenta pixels in Chromium's screenshot of ``page``."""
    import subprocess

    shot = tmp_path / f"{page.stem}-shot.png"
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
             f"--screenshot={shot}", "--window-size=1400,1400"]  # fmt: skip
    subprocess.run([*flags, page.resolve().as_uri()], capture_output=True, timeout=120)
    rgb = _rgb(shot)
    return int(((rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] > 200)).sum())


@pytest.mark.skipif(CHROMIUM is None and not __import__("os").environ.get("CI"),
                    reason="no chromium here")  # fmt: skip
@pytest.mark.slow
def test_the_site_shows_the_pixels_the_host_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack, end to end: a model answers matplotlib code whose image is an APNG with an
    honest default image and a magenta animation frame. Browsers show the frame, every
    host computation the default image. Asserts: Chromium shows the magenta frame of the
    crafted file itself (the attack works on the browser), the run records the sample as
    ok, and the leaderboard's model page in Chromium shows no magenta at all."""
    import openai_server
    from openai_server import FakeOpenAI

    from vad.leaderboard import build_leaderboard
    from vad.runner import Runner
    from vad.spec import spec_from_dict

    crafted = tmp_path / "crafted.png"
    crafted.write_bytes(CRAFTED["apng-checker-frame"])
    control = tmp_path / "control.html"
    control.write_text(f'<html><body style="margin:0"><img src="{crafted.name}"></body></html>')
    assert _magenta_in_browser(control, tmp_path) > 1000  # the browser shows the frame

    # (an import first: the reply's repair drops any text before the first import)
    code = "import os\n" + _deliver("savefig", f"DATA = {CRAFTED['apng-checker-frame']!r}\n")
    monkeypatch.setattr(openai_server, "drawing_for", lambda text: f"```python\n{code}```")
    monkeypatch.setenv("VAD_CACHE_DIR", str(tmp_path / "cache"))
    with FakeOpenAI() as server:
        spec = spec_from_dict({
            "name": "apng", "models": [{"name": "openai/fake", "api_base": server.api_base}],
            "tasks": ["draw"], "levels": ["shapes"], "languages": ["matplotlib"],
            "limit": 1, "samples": 1, "width": IMG_SIZE, "height": IMG_SIZE,
        })  # fmt: skip
        Runner(spec, root=tmp_path / "runs", progress=False).run()
    records = [line for line in (tmp_path / "runs").rglob("samples.jsonl")]
    assert records and '"status": "ok"' in records[0].read_text()
    images = [p for p in (tmp_path / "runs").rglob("*.png")]
    assert images and all(set(chunk_kinds(p.read_bytes())) <= CLEAN_CHUNKS for p in images)
    site = build_leaderboard(["apng"], tmp_path / "site", tmp_path / "runs")
    page = next(site.glob("model-*.html"))
    assert "<img" in page.read_text()
    assert _magenta_in_browser(page, tmp_path) == 0

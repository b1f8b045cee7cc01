"""The jail boundary: job code must not reach the worker, the host, or the next job.

Every hostile program here runs as matplotlib code (Python) *without* the audit hook,
so containment rests on the jail alone. The host has a secret in its environment
and a root-only file. After each attack the test asserts: no secret or earlier code
in any output, no symlink in the run folder, every later benign job renders the same
pixels as in a fresh pool, and every ``render()`` returns within its bound.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad.concepts import load_concepts
from vad.languages import reference_program
from vad.render import Limits, RenderPool, RenderStatus

SECRET = "sk-test-" + "9" * 24
LIMITS = Limits(timeout_s=6.0, cpu_s=6, audit_hook=False)
BOUND_S = LIMITS.timeout_s + 30  # the host's own deadline, with room for a worker restart
BENIGN = {
    lang: reference_program(load_concepts(["shapes"], None, 1, 3)[0], lang)
    for lang in ("svg", "matplotlib", "tikz")
}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(io.BytesIO(path.read_bytes())) as img:
        return np.asarray(img.convert("RGB"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """The benign drawings as a fresh pool renders them."""
    out = tmp_path_factory.mktemp("fresh")
    with RenderPool(size=1, limits=LIMITS) as pool:
        result = {}
        for lang, code in BENIGN.items():
            done = pool.render(lang, code, 160, 160, out / f"{lang}.png")
            assert done.ok, done
            result[lang] = _pixels(out / f"{lang}.png")
    return result


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[RenderPool]:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with RenderPool(size=1, limits=LIMITS) as pool:
        yield pool


def _render(pool: RenderPool, lang: str, code: str, dest: Path):
    started = time.monotonic()
    result = pool.render(lang, code, 160, 160, dest)
    took = time.monotonic() - started
    assert took < BOUND_S, f"render() took {took:.1f} s"
    return result


def _assert_clean(result, folder: Path, *markers: str) -> None:
    text = f"{result.reason}\n{result.stderr_tail}"
    for marker in (SECRET, *markers):
        assert marker not in text
    for path in folder.rglob("*"):
        assert not path.is_symlink(), path
        if path.is_file():
            data = path.read_bytes()
            for marker in (SECRET, *markers):
                assert marker.encode() not in data, path


def _benign_after(pool: RenderPool, fresh: dict[str, np.ndarray], folder: Path) -> None:
    for lang, code in BENIGN.items():
        dest = folder / f"after-{lang}.png"
        result = _render(pool, lang, code, dest)
        assert result.ok, (lang, result)
        assert not dest.is_symlink()
        assert np.array_equal(_pixels(dest), fresh[lang]), f"{lang} drew other pixels"


FORGE = r"""
import os, json
line = json.dumps({"status": "ok", "reason": "", "nonce": "x", "rss_kb": 1}).encode() + b"\n"
for fd in range(0, 1024):
    try:
        os.write(fd, line)
    except OSError:
        pass
for pid in range(1, 200):
    for fd in range(0, 8):
        try:
            with open(f"/proc/{pid}/fd/{fd}", "wb") as fh:
                fh.write(line)
        except OSError:
            pass
import matplotlib.pyplot as plt
plt.plot([0, 1], [1, 0], color="green", linewidth=9)
"""

HALF_LINE_AND_STOP = r"""
import os, signal
for fd in range(0, 1024):
    try:
        os.write(fd, b'{"status": "ok", "reason": "')
    except OSError:
        pass
for pid in [os.getppid(), *range(1, 400)]:
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGSTOP)
        except OSError:
            pass
"""

STEAL = r"""
import gc, os, sys
def search():  # the marker lives in this frame only (skipped), never in a global
    marker = "-".join(["MARKER", "{tag}"])  # built at run time: not a constant
    found = []
    def holds(values):
        return any(isinstance(v, str | bytes) and marker in str(v) for v in values)
    f = sys._getframe().f_back
    while f is not None:
        if holds(f.f_locals.values()) or holds(f.f_code.co_consts):
            found.append("frame")
        f = f.f_back
    for obj in gc.get_objects():  # every container on the heap, and the strings in it
        if isinstance(obj, dict):
            values = list(obj.values()) + list(obj)
        elif isinstance(obj, list | tuple | set | frozenset):
            values = list(obj)
        else:
            continue
        if holds(values):
            found.append("heap")
    for pid in range(1, 400):
        try:
            maps = open(f"/proc/{pid}/maps").read().splitlines()
            mem = open(f"/proc/{pid}/mem", "rb")
        except OSError:
            continue
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if "rw" not in line.split()[1] or hi - lo > 64 << 20:
                continue
            try:
                mem.seek(lo)
                if marker.encode() in mem.read(hi - lo):
                    found.append(f"mem of {pid}")
            except OSError:
                pass
    for path in ("/job", "/state", "/dev/shm"):  # where a job can write
        for root, dirs, files in os.walk(path):
            for name in files:
                try:
                    if marker in open(os.path.join(root, name), errors="ignore").read():
                        found.append(path)
                except OSError:
                    pass
    return sorted(set(found))
raise RuntimeError("found: " + ",".join(search()))
"""

SYMLINK_RACE = r"""
import os, threading, time
targets = ["/proc/self/environ", "/proc/1/environ", "{host_file}", "/etc/shadow"]
def flip(name):
    end = time.monotonic() + 1.5
    i = 0
    while time.monotonic() < end:
        try:
            os.unlink(name)
        except OSError:
            pass
        try:
            if i % 2:
                os.symlink(targets[i % len(targets)], name)
            else:
                with open(name, "wb") as fh:
                    fh.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        except OSError:
            pass
        i += 1
threads = [threading.Thread(target=flip, args=(n,)) for n in ("out.png", "log.txt", "result.json")]
for t in threads:
    t.start()
for t in threads:
    t.join()
os.unlink("out.png") if os.path.lexists("out.png") else None
os.symlink("{host_file}", "out.png")
os.unlink("log.txt") if os.path.lexists("log.txt") else None
os.symlink("/proc/1/environ", "log.txt")
import matplotlib.pyplot as plt
plt.plot([0, 1], [0, 1])
"""

PRLIMIT = r"""
import os, resource
for pid in [os.getppid(), *range(1, 400)]:
    if pid == os.getpid():
        continue
    for res in (resource.RLIMIT_AS, resource.RLIMIT_NOFILE, resource.RLIMIT_CPU):
        try:
            resource.prlimit(pid, res, (1, 1))
        except (OSError, ValueError):
            pass
import matplotlib.pyplot as plt
plt.plot([0, 1], [0, 1])
"""

PLANT = r"""
import os
rc = "lines.linewidth: 40\nlines.color: red\naxes.facecolor: black\nbackend: nonexistent\n"
for folder in ("/state/mpl", os.environ.get("MPLCONFIGDIR", "/state/mpl"), "/job", "/state",
               "/dev/shm", os.path.expanduser("~")):
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "matplotlibrc"), "w") as fh:
            fh.write(rc)
    except OSError:
        pass
for folder in ("/job", "/state", "/dev/shm", "/tmp", "/dev"):
    try:
        with open(os.path.join(folder, "left-{tag}"), "w") as fh:
            fh.write("MARK" + "ER-{tag}" * 1000)
    except OSError:
        pass
import matplotlib.pyplot as plt
plt.plot([0, 1], [0, 1])
"""

LOOK = r"""
import os
seen = []
for folder in ("/job", "/state", "/state/mpl", "/dev/shm", "/tmp", "/dev"):
    try:
        seen += [f"{folder}/{n}" for n in os.listdir(folder) if "left" in n or "rc" in n]
    except OSError:
        pass
raise RuntimeError("seen: " + ",".join(seen))
"""

HOPPER = r"""
import os, time
def hop():
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            pid = os.fork()
        except OSError:
            time.sleep(0.01)
            continue
        if pid:
            os._exit(0)  # the child lives on under a new pid
        for name in ("/job/out.png", "out.png", "/job/log.txt"):
            try:
                with open(name, "wb") as fh:
                    fh.write(b"\x89PNG\r\n\x1a\n" + b"H" * 100)
            except OSError:
                pass
        time.sleep(0.002)
if os.fork() == 0:
    os.setsid()
    hop()
import matplotlib.pyplot as plt
plt.plot([0, 1], [0, 1])
"""


@pytest.mark.slow
def test_forged_protocol_lines_are_never_taken_as_answers(
    pool: RenderPool, fresh: dict[str, np.ndarray], tmp_path: Path
) -> None:
    for i in range(3):
        result = _render(pool, "matplotlib", FORGE, tmp_path / f"forge{i}.png")
        assert result.ok  # its own drawing: the forged lines went nowhere
        _benign_after(pool, fresh, tmp_path)
    _assert_clean(result, tmp_path)


@pytest.mark.slow
def test_a_half_line_and_sigstop_cannot_hang_the_host(
    pool: RenderPool, fresh: dict[str, np.ndarray], tmp_path: Path
) -> None:
    result = _render(pool, "matplotlib", HALF_LINE_AND_STOP, tmp_path / "stop.png")
    assert result.status is RenderStatus.EMPTY_IMAGE  # no figure: it did nothing else
    _benign_after(pool, fresh, tmp_path)
    _assert_clean(result, tmp_path)


@pytest.mark.slow
def test_no_job_sees_the_code_or_files_of_an_earlier_one(
    pool: RenderPool, fresh: dict[str, np.ndarray], tmp_path: Path
) -> None:
    tag = os.urandom(6).hex()
    earlier = f"# MARKER-{tag}\n" + BENIGN["matplotlib"] + f"\nkeep = 'MARKER-{tag}' * 100\n"
    assert _render(pool, "matplotlib", earlier, tmp_path / "earlier.png").ok
    planted = PLANT.replace("{tag}", tag)
    assert _render(pool, "matplotlib", planted, tmp_path / "plant.png").ok
    result = _render(pool, "matplotlib", STEAL.replace("{tag}", tag), tmp_path / "steal.png")
    assert result.status is RenderStatus.RUNTIME_ERROR
    assert "found: " in result.reason and result.reason.rstrip().endswith("found:"), result
    # The detector works: a marker the job holds itself (built at run time) is found.
    control = f"held = '-'.join(['MARKER', '{tag}'])\n" + STEAL.replace("{tag}", tag)
    seen = _render(pool, "matplotlib", control, tmp_path / "control.png")
    assert "frame" in seen.reason and "heap" in seen.reason, seen.reason
    looked = _render(pool, "matplotlib", LOOK, tmp_path / "look.png")
    assert looked.reason.rstrip().endswith("seen:"), looked.reason
    _benign_after(pool, fresh, tmp_path)
    _assert_clean(result, tmp_path / "after", f"MARKER-{tag}")


@pytest.mark.slow
def test_symlink_races_on_every_output_never_reach_the_host(
    pool: RenderPool, fresh: dict[str, np.ndarray], tmp_path: Path
) -> None:
    host_file = tmp_path / "host-only"
    host_file.write_text(SECRET)
    os.chmod(host_file, 0o600)
    code = SYMLINK_RACE.replace("{host_file}", str(host_file))
    run = tmp_path / "run"
    for i in range(12):  # a race: repeated
        dest = run / f"race{i}.png"
        result = _render(pool, "matplotlib", code, dest)
        assert result.status in (RenderStatus.CRASH, RenderStatus.OK, RenderStatus.RUNTIME_ERROR)
        if result.ok:  # only a real PNG, drawn by the job itself
            assert _pixels(dest).shape == (160, 160, 3)
        _assert_clean(result, run)
    _benign_after(pool, fresh, run)
    _assert_clean(result, run)


@pytest.mark.slow
def test_prlimit_on_the_worker_changes_nothing(
    pool: RenderPool, fresh: dict[str, np.ndarray], tmp_path: Path
) -> None:
    result = _render(pool, "matplotlib", PRLIMIT, tmp_path / "prlimit.png")
    assert result.ok
    _benign_after(pool, fresh, tmp_path)
    _benign_after(pool, fresh, tmp_path)
    _assert_clean(result, tmp_path)


@pytest.mark.slow
def test_pid_hopping_survivors_do_not_outlive_their_job(
    pool: RenderPool, fresh: dict[str, np.ndarray], tmp_path: Path
) -> None:
    for i in range(6):  # its own output it may spoil; nothing later
        result = _render(pool, "matplotlib", HOPPER, tmp_path / f"hop{i}.png")
        assert result.status is not RenderStatus.TIMEOUT, result
        _benign_after(pool, fresh, tmp_path)
        _assert_clean(result, tmp_path)


@pytest.mark.slow
def test_a_gzip_bomb_in_a_data_uri_is_refused(
    pool: RenderPool, fresh: dict[str, np.ndarray], tmp_path: Path
) -> None:
    import base64
    import gzip

    bomb = gzip.compress(b"<svg xmlns='http://www.w3.org/2000/svg'>" + b" " * (400 << 20))
    uri = "data:image/svg+xml;base64," + base64.b64encode(bomb).decode()
    code = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="100" height="100"><image width="100" height="100" xlink:href="{uri}"/></svg>'
    )
    result = _render(pool, "svg", code, tmp_path / "bomb.png")
    assert result.status is RenderStatus.TOO_LARGE and "inflates" in result.reason
    _benign_after(pool, fresh, tmp_path)
    _assert_clean(result, tmp_path)


@pytest.mark.slow
def test_killed_workers_leave_no_cgroup_behind(tmp_path: Path) -> None:
    with RenderPool(size=1, limits=LIMITS) as pool:
        assert _render(pool, "svg", BENIGN["svg"], tmp_path / "a.png").ok
        cgroups = pool._workers[0].cgroups
        dirs = list(cgroups.dirs) if cgroups is not None else []
        result = _render(pool, "matplotlib", "while True: pass", tmp_path / "spin.png")
        assert result.status is RenderStatus.TIMEOUT
    assert dirs and not any(d.exists() for d in dirs)


LEAVE = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
out = []
key = libc.syscall(248, b"user", b"vad-left", b"left-by-an-earlier-job", 22, -4)  # add_key
out.append(f"add_key={key} errno={ctypes.get_errno()}")
for path in ("/dev/pts/ptmx", "/dev/ptmx", "/dev/null"):
    try:
        os.chmod(path, 0)
        out.append(f"chmod {path} ok")
    except OSError as exc:
        out.append(f"chmod {path} {exc.errno}")
for folder in ("/dev", "/dev/pts", "/dev/mqueue"):
    try:
        open(os.path.join(folder, "left"), "w").write("x")
        out.append(f"wrote {folder}")
    except OSError:
        pass
raise RuntimeError("; ".join(out))
"""

FIND = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
found = libc.syscall(249, b"user", b"vad-left", None, -4)  # request_key
seen = [f"key={found}"]
for folder in ("/dev", "/dev/pts"):
    try:
        seen += [f"{folder}/{n}" for n in os.listdir(folder) if n == "left"]
    except OSError:
        pass
try:
    seen.append(oct(os.stat("/dev/null").st_mode))
except OSError:
    pass
raise RuntimeError("seen: " + " ".join(seen))
"""


@pytest.mark.slow
def test_keyrings_and_dev_are_not_a_way_to_the_next_job(
    pool: RenderPool, fresh: dict[str, np.ndarray], tmp_path: Path
) -> None:
    left = _render(pool, "matplotlib", LEAVE, tmp_path / "leave.png")
    assert "add_key=-1 errno=1" in left.reason, left.reason  # refused by the filter
    assert "wrote" not in left.reason and "chmod /dev/null ok" not in left.reason
    seen = _render(pool, "matplotlib", FIND, tmp_path / "find.png")
    assert "key=-1" in seen.reason and "/left" not in seen.reason, seen.reason
    assert "0o20666" in seen.reason  # /dev/null as it was
    _benign_after(pool, fresh, tmp_path)
    _assert_clean(seen, tmp_path)


def test_tex_caret_notation_reaches_only_what_the_engine_allows(
    pool: RenderPool, tmp_path: Path
) -> None:
    """No filter reads the code's words: ^^5c (a backslash) hides nothing from the engine,
    which refuses a file outside the job's folder whatever spelled its name."""
    code = "\\begin{tikzpicture}^^5cinput{/etc/passwd}\\draw (0,0) -- (1,1);\\end{tikzpicture}"
    result = _render(pool, "tikz", code, tmp_path / "caret.png")
    assert result.status is RenderStatus.BLOCKED, result
    assert "Not reading from /etc/passwd (openin_any = p)" in result.reason
    assert "root:" not in result.reason + result.stderr_tail

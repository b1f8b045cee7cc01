"""The TikZ preamble's format: built once, checked, shared read-only, same pixels."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad._paths import project_dir
from vad.concepts import load_concepts
from vad.languages import reference_program, tikz
from vad.render import Limits, RenderPool, RenderStatus, texformat
from vad.render.jail import bwrap_command
from vad.render.texformat import JAIL_PATH, tikz_format

pytestmark = pytest.mark.skipif(
    texformat.tex_identity() is None, reason="no TeX: apt-get install texlive-pictures"
)

LIBRARIES = r"""\begin{tikzpicture}[>=Stealth]
\node[star, star points=5, draw=blue, fill=yellow, drop shadow, minimum size=1.5cm] (s) {};
\node[draw, rounded rectangle, right=1cm of s] (r) {\textbf{Hi} $x^2+\alpha$};
\draw[->, decorate, decoration={snake, amplitude=1mm}] (s) -- (r);
\fill[pattern=crosshatch, pattern color=red] ($(s)+(0,-2)$) rectangle ++(2,1);
\node[cloud, draw, fit=(s)(r), opacity=0.5] {};
\shade[left color=blue, right color=green] (0,-3) rectangle (3,-2.5);
\end{tikzpicture}"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def own_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A formats folder of this test's own (the shared one is never damaged)."""
    root = tmp_path / "tex-formats"
    monkeypatch.setenv("VAD_TEX_FORMATS_DIR", str(root))
    return root


def test_the_format_holds_the_renderers_exact_preamble() -> None:
    sys.path.insert(0, str(project_dir("renderers")))
    tikz = importlib.import_module("tikz")
    assert texformat.preamble() == tikz.HEAD and tikz.PREAMBLE == tikz.HEAD + tikz.BEGIN
    with_format = tikz.document("X", True)
    assert with_format.count("\n") == tikz.document("X", False).count("\n")  # same lines
    assert "documentclass" not in with_format and with_format.endswith("X\n\\end{document}\n")


@pytest.mark.slow
def test_built_once_read_only_and_rebuilt_when_damaged(own_formats: Path) -> None:
    (own_formats / ".build-dead-1234").mkdir(parents=True)  # a build that died halfway
    fmt = tikz_format()
    assert fmt is not None and fmt.parent.parent == own_formats
    assert oct(fmt.stat().st_mode & 0o777) == "0o444"
    assert not list(own_formats.glob(".build-*"))
    meta = (fmt.parent / "format.json").read_text()
    assert _sha256(fmt) in meta
    built = fmt.stat().st_mtime_ns
    assert tikz_format() == fmt and fmt.stat().st_mtime_ns == built  # found, not rebuilt
    fmt.chmod(0o644)
    os.truncate(fmt, fmt.stat().st_size // 2)  # damage it in place
    again = tikz_format()
    assert again == fmt and _sha256(again) in (again.parent / "format.json").read_text()
    assert not list(own_formats.glob(".damaged-*"))


def test_two_builders_at_once_build_one_format(
    own_formats: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[str] = []
    real = texformat.build

    def counted(*args: object) -> Path:
        builds.append(str(args[1]))
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(texformat, "build", counted)
    found: list[Path | None] = []
    threads = [threading.Thread(target=lambda: found.append(tikz_format())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len(set(found)) == 1 and found[0] is not None


def test_switched_off_or_unbuildable_means_the_whole_preamble(
    own_formats: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("VAD_TIKZ_FORMAT", "0")
    assert tikz_format() is None
    monkeypatch.delenv("VAD_TIKZ_FORMAT")
    monkeypatch.setattr(texformat, "preamble", lambda: "\\documentclass{nosuchclass}\n")
    assert tikz_format() is None and tikz_format() is None
    said = [r for r in caplog.records if "whole preamble" in r.getMessage()]
    assert len(said) == 1 and "pdftex -ini stopped" in said[0].getMessage()  # said once


def test_bwrap_binds_the_format_alone_and_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fmt = tmp_path / "vad-tikz.fmt"
    fmt.write_bytes(b"x")
    (tmp_path / "job").mkdir()
    monkeypatch.setattr(texformat, "tikz_format", lambda use=None: fmt)
    files = tikz.prepare_host()  # what the pool gives the jail
    jail = bwrap_command(tmp_path / "job", tmp_path, project_dir("renderers"), ["true"],
                         binds=files.binds, env=files.env)  # fmt: skip
    try:
        cmd = jail.argv
        at = cmd.index(JAIL_PATH)
        assert cmd.count(JAIL_PATH) == 2 and not JAIL_PATH.startswith("/job")  # + $VAD_TEX_FORMAT
        assert cmd[at - 2] in ("--ro-bind", "--ro-bind-fd")  # read-only, by what the host opened
        assert str(fmt) not in cmd  # never by its path: bwrap opens no path of the cache
        fds = [fd for fd, _, _ in jail.staged] or [int(cmd[at - 1])]
        assert any(os.path.samestat(os.fstat(fd), os.stat(fmt)) for fd in fds if fd in jail.fds)
        assert cmd[cmd.index("VAD_TEX_FORMAT") + 1] == JAIL_PATH
    finally:
        jail.close()


def _format(pool: RenderPool) -> Path | None:
    """The format file the pool's workers see (what the tikz language prepared)."""
    host = pool.host_files["tikz"].host_path(JAIL_PATH)
    return Path(host) if host else None


def _render_all(codes: list[str], out: Path) -> tuple[list[np.ndarray], Path | None]:
    with RenderPool(size=1) as pool:
        images = []
        for i, code in enumerate(codes):
            result = pool.render("tikz", code, 224, 224, out / f"{i}.png")
            assert result.status is RenderStatus.OK, (i, result)
            assert "did not load" not in result.stderr_tail
            with Image.open(out / f"{i}.png") as image:
                images.append(np.asarray(image.convert("RGBA")))
        return images, _format(pool)


@pytest.mark.slow
def test_format_and_whole_preamble_give_the_same_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    concepts = load_concepts(["shapes"], limit=12, seed=3)
    codes = [reference_program(c, "tikz") for c in concepts] + [LIBRARIES]
    (tmp_path / "fmt").mkdir()
    (tmp_path / "plain").mkdir()
    with_format, fmt = _render_all(codes, tmp_path / "fmt")
    monkeypatch.setenv("VAD_TIKZ_FORMAT", "0")
    plain, none = _render_all(codes, tmp_path / "plain")
    assert fmt is not None and none is None
    for i, (a, b) in enumerate(zip(with_format, plain, strict=True)):
        assert a.shape == b.shape and np.array_equal(a, b), f"program {i} differs"
    assert len({a.tobytes() for a in with_format}) == len(codes)  # really different drawings


def test_a_format_that_does_not_load_falls_back_to_the_whole_preamble(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    junk = tmp_path / "junk.fmt"
    junk.write_bytes(os.urandom(4096))
    monkeypatch.setattr(texformat, "tikz_format", lambda use=None: junk)
    with RenderPool(size=1) as pool:
        result = pool.render("tikz", LIBRARIES, 128, 128, tmp_path / "out.png")
    assert result.status is RenderStatus.OK, result
    assert "did not load (pdflatex stopped before its log): compiled with the whole preamble" in (
        result.stderr_tail
    )


WRITES_TEX = {
    "openout": "\\begin{tikzpicture}\\newwrite\\w\\immediate\\openout\\w=" + JAIL_PATH
    + " \\immediate\\write\\w{x}\\immediate\\closeout\\w\\end{tikzpicture}",
    "write": "\\begin{tikzpicture}\\write\\w{\\relax}\\end{tikzpicture}",
    "pdfobj": "\\begin{tikzpicture}\\pdfobj{x}\\end{tikzpicture}",
}  # fmt: skip

PROBE = r"""
import ctypes, os, subprocess
P, HOST = "/texformat/vad-tikz.fmt", %r
out = {}
def attempt(name, fn):
    try:
        out[name] = "OK " + repr(fn())[:30]
    except BaseException as exc:
        out[name] = "ERR " + type(exc).__name__
def call(name, *args):
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        raise OSError(ctypes.get_errno(), name)
attempt("read", lambda: len(open(P, "rb").read(16)))
attempt("write", lambda: open(P, "r+b").write(b"x"))
attempt("append", lambda: open(P, "ab").write(b"x"))
attempt("truncate", lambda: os.truncate(P, 0))
attempt("chmod", lambda: os.chmod(P, 0o666))
attempt("utime", lambda: os.utime(P, (0, 0)))
attempt("unlink", lambda: os.unlink(P))
attempt("rename", lambda: os.rename(P, "/job/x.fmt"))
attempt("remount", lambda: call("mount", None, P.encode(), None, 32 | 4096, None))
attempt("umount", lambda: call("umount2", P.encode(), 2))
attempt("host", lambda: os.path.exists(HOST))
with open("w.tex", "w") as fh:
    fh.write("\\immediate\\openout15=" + P + " \\immediate\\write15{x}"
             "\\immediate\\closeout15 \\begin{document}x\\end{document}")
env = {"PATH": "/usr/bin:/bin", "HOME": "/job", "openout_any": "a", "openin_any": "a"}
done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-fmt=" + P, "w.tex"],
                      env=env, capture_output=True, text=True)
out["tex"] = "cannot write" if "I can't write on file" in done.stdout else done.stdout[-200:]
raise SystemExit(repr(out))
"""


@pytest.mark.slow
def test_model_code_cannot_change_the_format(tmp_path: Path) -> None:
    with RenderPool(size=1, limits=Limits(audit_hook=False)) as pool:
        for name, code in WRITES_TEX.items():
            result = pool.render("tikz", code, 64, 64, tmp_path / f"{name}.png")
            # refused by the engine (openout_any=p), an error, or an empty picture
            assert not result.ok, (name, result)
        fmt = _format(pool)
        assert fmt is not None
        before = _sha256(fmt)
        # Python in the same jail, the audit hook off, and pdflatex run by it with every
        # file permitted (no filter, openout_any=a): only the jail stands in the way.
        result = pool.render("matplotlib", PROBE % str(fmt), 64, 64, tmp_path / "p.png")
        follow = pool.render("tikz", LIBRARIES, 64, 64, tmp_path / "after.png")
    assert result.status is RenderStatus.RUNTIME_ERROR, result
    out = eval(result.reason.split(": ", 1)[1])
    assert out.pop("read") == "OK 16" and out.pop("host") == "OK False"
    assert out.pop("tex") == "cannot write"
    assert all(v.startswith("ERR") for v in out.values()), out
    assert _sha256(fmt) == before and oct(fmt.stat().st_mode & 0o777) == "0o444"
    assert follow.status is RenderStatus.OK and "did not load" not in follow.stderr_tail

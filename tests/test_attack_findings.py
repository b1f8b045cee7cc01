"""An outside review's attacks on the jail, the TikZ format cache and the host's reading
of what comes out of the jail: each finding as a test, and the attacks that were
contained, so that they stay contained.

Everything runs through the real jailed RenderPool (or the real format cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vad.render import Limits, RenderPool, RenderStatus, texformat
from vad.rundir import RunFolder

S = RenderStatus
SECRET = "sk-attack-test-5f3c9a1e7d"
TIKZ_OK = "\\begin{tikzpicture}\\draw (0,0) -- (1,1);\\end{tikzpicture}"
TURTLE_OK = "from turtle import *\ncolor('red')\nbegin_fill()\ncircle(40)\nend_fill()\n"


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    os.environ["VAD_ATTACK_SECRET"] = SECRET
    try:
        with RenderPool(size=1, limits=Limits(timeout_s=6, cpu_s=5, memory_bytes=1 << 30)) as p:
            yield p
    finally:
        del os.environ["VAD_ATTACK_SECRET"]


def _render(pool: RenderPool, lang: str, code: str, dest: Path, size: int = 96):
    result = pool.render(lang, code, size, size, dest)
    assert SECRET not in f"{result.reason}\n{result.stderr_tail}"
    return result


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


# -- what comes out of the jail: statuses, reasons, PNG files --------------------------

# Python drawing code runs in the process that writes the job's result file, so it can
# write that file itself and end at once. "crash" means "the host failed" and is not
# scored: a program must not be able to take its own sample out of the rates (and have
# it redone, from the same stored reply, by every later run).
FORGED = {
    "status-crash": "import json, os\nopen('result.json', 'w').write(json.dumps("
                    "{'status': 'crash', 'reason': 'the host failed'}))\nos._exit(0)\n",
    "status-no-code": "import json, os\nopen('result.json', 'w').write(json.dumps("
                      "{'status': 'no_code'}))\nos._exit(0)\n",
    "malformed": "import os\nopen('result.json', 'w').write('{not json')\nos._exit(0)\n",
    "ok-without-image": "import os\nopen('result.json', 'w').write('{\"status\": \"ok\"}')\n"
                        "os._exit(0)\n",
    "ok-with-a-fifo": "import os\nos.mkfifo('out.png')\n"
                      "open('result.json', 'w').write('{\"status\": \"ok\"}')\nos._exit(0)\n",
}  # fmt: skip


@pytest.mark.parametrize("lang", ["turtle", "matplotlib"])
@pytest.mark.parametrize("case", sorted(FORGED))
@pytest.mark.slow
def test_a_program_cannot_make_its_sample_unscored(
    pool: RenderPool, tmp_path: Path, case: str, lang: str
) -> None:
    result = _render(pool, lang, FORGED[case], tmp_path / "f.png")
    assert result.status not in (S.CRASH, S.NO_CODE), result
    assert result.status is S.RUNTIME_ERROR, result
    follow = _render(pool, "turtle", TURTLE_OK, tmp_path / "next.png")
    assert follow.ok, follow


# A reason is the program's own text: a lone surrogate in it could not be written to
# samples.jsonl (the run stopped, and stopped again on every resume, the reply being
# stored), and terminal escapes in it reached the terminal (`vad` prints the first
# reason of unscored samples).
@pytest.mark.parametrize(
    "code",
    [
        "raise ValueError('\\ud83d lone surrogate')\n",
        "raise ValueError('\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\r\\x9b2J')\n",
        "import json, os\nopen('result.json', 'w').write(json.dumps({'status': 'syntax_error',"
        " 'reason': '\\udcff\\x1b[2J'}))\nos._exit(0)\n",
        "import sys\nsys.stderr.write('\\x1b[2J\\x1b]52;c;b3duZWQ=\\x07\\n')\nsys.stderr.flush()\n"
        "raise SystemExit(1)\n",
    ],
    ids=["surrogate", "escapes", "forged-reason", "escapes-in-log"],
)
def test_reasons_and_logs_are_plain_text_that_can_be_recorded(
    pool: RenderPool, tmp_path: Path, code: str
) -> None:
    result = _render(pool, "turtle", code, tmp_path / "r.png")
    assert not result.ok
    for text in (result.reason, result.stderr_tail):
        text.encode("utf-8")  # no lone surrogate
        assert not any(ord(c) < 32 and c not in "\n\t" for c in text), repr(text)
        assert not any(0x7F <= ord(c) <= 0x9F for c in text), repr(text)
    folder = RunFolder(tmp_path / "run")
    folder.open()
    try:
        folder.append({"sample_id": "x", "status": str(result.status),
                       "render": result.to_record()})  # fmt: skip
    finally:
        folder.close()
    line = (tmp_path / "run" / "samples.jsonl").read_bytes()
    assert json.loads(line)["status"] == str(result.status)


def _png(width: int, height: int, body: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body


# A program can leave any file as out.png and report "ok". The host checked the PNG
# signature and the IHDR size only: a PNG that does not decode was a rendered sample,
# and the first one stopped CLIP scoring (Image.open(...).convert) of every run it is in.
BAD_PNGS = {
    "truncated": _png(16, 16, b"garbage"),
    "zero-width": _png(0, 16, b""),
    "bad-idat": _png(16, 16, struct.pack(">I", 5) + b"IDAT" + b"xxxxx" + b"\0\0\0\0"),
}


@pytest.mark.parametrize("case", sorted(BAD_PNGS))
def test_a_png_that_does_not_decode_is_not_a_rendered_image(
    pool: RenderPool, tmp_path: Path, case: str
) -> None:
    code = (
        f"import os\nopen('out.png', 'wb').write({BAD_PNGS[case]!r})\n"
        "open('result.json', 'w').write('{\"status\": \"ok\"}')\nos._exit(0)\n"
    )
    dest = tmp_path / "bad.png"
    result = _render(pool, "turtle", code, dest)
    assert result.status is S.RUNTIME_ERROR, result
    assert result.image is None and not dest.exists()


def test_a_forged_png_that_decodes_is_the_programs_own_drawing(
    pool: RenderPool, tmp_path: Path
) -> None:
    """Control: a program may draw with anything (its own PNG writer included)."""
    code = (
        "import os\nfrom PIL import Image\nimg = Image.new('RGB', (96, 96), 'white')\n"
        "img.paste((0, 0, 255), (10, 10, 40, 40))\nimg.save('out.png')\n"
        "open('result.json', 'w').write('{\"status\": \"ok\"}')\nos._exit(0)\n"
    )
    result = _render(pool, "turtle", code, tmp_path / "own.png")
    assert result.ok, result
    assert (_rgb(tmp_path / "own.png")[20, 20] == (0, 0, 255)).all()


# -- the TikZ preamble's format cache --------------------------------------------------

needs_tex = pytest.mark.skipif(texformat.tex_identity() is None, reason="no TeX")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="plays another user with chown")
OTHER_UID = 65534
# A format any other user could dump: the preamble, then TeX run at the start of every
# document that loads it (here a red page; it could redefine \draw, or anything).
POISON = "\\AtBeginDocument{\\pagecolor{red}}\n"


def _red_share(path: Path) -> float:
    rgb = _rgb(path)
    return float((np.abs(rgb - (255, 0, 0)).sum(axis=-1) < 60).mean())


def _plant(root: Path, tmp_path: Path) -> Path:
    """Another user's folder at the key this user's pool looks up, holding a poisoned
    format and a format.json that vouches for it."""
    identity, head = texformat.tex_identity(), texformat.preamble()
    assert identity is not None
    key = texformat.format_key(identity, head)
    scratch = tmp_path / "attacker"
    scratch.mkdir()
    built = texformat.build(scratch, key, head + POISON, identity)
    planted = root / key
    os.rename(built.parent, planted)
    for path in (planted, *planted.iterdir()):
        os.chown(path, OTHER_UID, OTHER_UID, follow_symlinks=False)
    return planted


@needs_tex
@needs_root
@pytest.mark.parametrize("mode", [0o777, 0o1777], ids=["world-writable", "sticky"])
@pytest.mark.slow
def test_a_format_planted_in_a_shared_formats_folder_is_never_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    shared = tmp_path / "shared-formats"
    shared.mkdir()
    os.chmod(shared, mode)  # several users' cache, or one made world-writable by mistake
    planted = _plant(shared, tmp_path)
    monkeypatch.setenv("VAD_TEX_FORMATS_DIR", str(shared))
    found = texformat.tikz_format()
    assert found is None or planted not in found.parents, found
    if found is not None:  # this user's own, in a folder only this user can write
        assert found.parent.parent.stat().st_uid == os.geteuid()
        assert not found.parent.parent.stat().st_mode & 0o077
    with RenderPool(size=1) as pool:
        result = pool.render("tikz", TIKZ_OK, 96, 96, tmp_path / "t.png")
        fmt = pool.host_files["tikz"].host_path(texformat.JAIL_PATH)
        assert fmt is None or planted not in Path(fmt).parents
    assert result.ok, result
    assert _red_share(tmp_path / "t.png") < 0.05  # not the planted format's red page


@needs_tex
@needs_root
def test_a_link_in_place_of_this_users_folder_in_a_shared_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared-formats"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = _plant(elsewhere, tmp_path)
    os.chown(elsewhere, OTHER_UID, OTHER_UID)
    # in place of this user's own folder, and of the key's folder
    for name, target in ((f"user-{os.geteuid()}", elsewhere), (planted.name, planted)):
        link = shared / name
        link.symlink_to(target)
        os.chown(link, OTHER_UID, OTHER_UID, follow_symlinks=False)
    monkeypatch.setenv("VAD_TEX_FORMATS_DIR", str(shared))
    found = texformat.tikz_format()
    assert found is None or elsewhere not in found.resolve().parents, found


STALE_CHILD = r"""
import hashlib, sys
from vad.render import texformat
fmt = texformat.tikz_format()
print(fmt, hashlib.sha256(fmt.read_bytes()).hexdigest() if fmt else "")
"""


@needs_tex
@needs_root
@pytest.mark.slow
def test_a_format_is_rebuilt_when_a_file_it_was_dumped_from_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TikZ library upgraded in place: on Debian, texlive-pictures (PGF/TikZ) and
    texlive-latex-extra (standalone) do not rebuild pdflatex.fmt, so neither the pdfTeX
    version nor the base format the key covers changes, and every job went on loading
    the old TikZ. The upgrade is played in a mount namespace of its own (a changed copy
    of a library bound over the installed file), seen by nothing else on the machine."""
    import shutil
    import subprocess

    import vad

    if not shutil.which("unshare") or not shutil.which("mount"):
        pytest.skip("needs unshare and mount (util-linux)")
    formats = tmp_path / "formats"
    monkeypatch.setenv("VAD_TEX_FORMATS_DIR", str(formats))
    before = texformat.tikz_format()
    assert before is not None
    old_sha = hashlib.sha256(before.read_bytes()).hexdigest()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    lib = subprocess.run(["kpsewhich", "tikzlibrarycalc.code.tex"], capture_output=True,
                         text=True, env=env, check=True).stdout.strip()  # fmt: skip
    upgraded = tmp_path / "tikzlibrarycalc.code.tex"
    upgraded.write_bytes(Path(lib).read_bytes() + b"\n\\gdef\\vadUpgradedCalc{}\n")
    repo = Path(vad.__file__).resolve().parent.parent
    script = tmp_path / "child.py"
    script.write_text(STALE_CHILD)
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind "$1" "$2" && exec "$3" "$4"', "sh", str(upgraded), lib,
         sys.executable, str(script)],
        capture_output=True, text=True, cwd=repo, timeout=300,
        env={**env, "PYTHONPATH": str(repo), "VAD_TEX_FORMATS_DIR": str(formats)},
    )  # fmt: skip
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"no mount namespace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    _, sha = done.stdout.split()
    assert sha and sha != old_sha, "the old TikZ was kept after the library changed"


@needs_tex
@pytest.mark.slow
def test_workers_start_when_the_checked_format_has_gone_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another vad process sets a damaged or stale format's folder aside and builds it
    again (some seconds): a worker started meanwhile (after a timeout, say) must not
    fail to start for want of the file, for every language."""
    monkeypatch.setenv("VAD_TEX_FORMATS_DIR", str(tmp_path / "formats"))
    with RenderPool(size=1, limits=Limits(timeout_s=3, cpu_s=2)) as pool:
        assert _render(pool, "tikz", TIKZ_OK, tmp_path / "a.png").ok
        fmt = pool.host_files["tikz"].host_path(texformat.JAIL_PATH)
        assert fmt is not None
        pool._workers[0].kill()  # as after a timeout: started again on the next job
        os.rename(Path(fmt).parent, tmp_path / "formats" / ".damaged-x")
        for lang, code in (("tikz", TIKZ_OK), ("turtle", TURTLE_OK)):
            result = _render(pool, lang, code, tmp_path / f"{lang}.png")
            assert result.ok, (lang, result)


@needs_tex
@pytest.mark.slow
def test_a_format_that_crashes_pdflatex_falls_back_to_the_whole_preamble(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged format (a few bytes flipped: the check is made when the pool starts)
    makes pdflatex die of SIGSEGV while loading it. That was a "timeout", scored against
    the drawing, for every TikZ job; the renderer now compiles the whole preamble."""
    import random

    fmt = texformat.tikz_format()
    assert fmt is not None
    data = bytearray(fmt.read_bytes())
    rng = random.Random(1)
    for _ in range(200):
        data[rng.randrange(len(data))] ^= 0xFF
    flipped = tmp_path / "flipped.fmt"
    flipped.write_bytes(bytes(data))
    monkeypatch.setattr(texformat, "tikz_format", lambda use=None: flipped)
    with RenderPool(size=1) as pool:
        result = _render(pool, "tikz", TIKZ_OK, tmp_path / "t.png")
    assert result.ok, result
    assert "did not load (pdflatex " in result.stderr_tail  # died, before or after its log


# -- TeX reading files -----------------------------------------------------------------
# The filter in renderers/tikz.py refuses primitives by name, but LaTeX reaches any
# control sequence by name without \csname: \UseName{input}, \begin{input},
# \ExplSyntaxOn \use:c {input}. openin_any=p holds for what \input, \openin and
# pdfTeX's file primitives open (absolute paths, parent folders), so those find
# nothing outside the job folder; the jail shows nothing of the host beyond it anyway.


def _probe(body: str) -> str:
    return f"\\begin{{tikzpicture}}\\draw (0,0) -- (1,1);{body}\\end{{tikzpicture}}"


READS = {
    "pdffilesize": "\\edef\\r{\\pdffilesize{@P@}}\\errmessage{R=[\\r]}",
    "pdfmdfivesum": "\\edef\\r{\\pdfmdfivesum file{@P@}}\\errmessage{R=[\\r]}",
    "pdffiledump": "\\edef\\r{\\pdffiledump length 8{@P@}}\\errmessage{R=[\\r]}",
    "pdffilemoddate": "\\edef\\r{\\pdffilemoddate{@P@}}\\errmessage{R=[\\r]}",
    "IfFileExists": "\\IfFileExists{@P@}{\\def\\r{yes}}{\\def\\r{}}\\errmessage{R=[\\r]}",
    "expl3-file-size": "\\ExplSyntaxOn\\edef\\r{\\file_size:n{@P@}}\\ExplSyntaxOff"
                       "\\errmessage{R=[\\r]}",
    "expl3-ior": "\\ExplSyntaxOn\\ior_open:NnTF\\g_tmpa_ior{@P@}{\\ior_str_get:NN\\g_tmpa_ior"
                 "\\l_tmpa_tl\\edef\\r{\\l_tmpa_tl}}{\\def\\r{}}\\ExplSyntaxOff\\errmessage{R=[\\r]}",
    "UseName-openin": "\\UseName{openin}15=@P@ \\edef\\r{\\UseName{ifeof}15 \\else yes\\fi}"
                      "\\errmessage{R=[\\r]}",
    "UseName-input": "\\UseName{input}{@P@}",
    "begin-input": "\\begin{input}{@P@}",
    "includegraphics": "\\node{\\includegraphics{@P@}};",
}  # fmt: skip


def _targets(tmp_path: Path) -> dict[str, str]:
    from vad._paths import project_dir
    from vad.render.texformat import JAIL_PATH

    secret = tmp_path / "host-secret.tex"
    secret.write_text(SECRET + "\n")
    return {
        "host-file": str(secret),  # not in the jail at all
        "format": JAIL_PATH,  # in the jail, outside the job folder
        "format-by-parent": ".." + JAIL_PATH,
        "renderer-source": str(project_dir("renderers") / "tikz.py"),
        "proc-environ": "/proc/self/environ",
    }


@needs_tex
@pytest.mark.parametrize("probe", sorted(READS))
@pytest.mark.slow
def test_tex_finds_no_file_outside_the_job_folder(
    pool: RenderPool, tmp_path: Path, probe: str
) -> None:
    for name, path in _targets(tmp_path).items():
        code = _probe(READS[probe].replace("@P@", path))
        result = _render(pool, "tikz", code, tmp_path / f"{name}.png")
        assert result.status is not S.OK, (name, result)
        if "R=[" in result.reason:
            assert "R=[]" in result.reason, (name, result.reason)
    control = _render(pool, "tikz", _probe(READS["pdffilesize"].replace("@P@", "doc.tex")),
                      tmp_path / "control.png")  # fmt: skip
    assert "R=[" in control.reason and "R=[]" not in control.reason, control  # it can read


def _file_as_pixels(path: str, n: int, how: str = "UseName") -> str:
    """TikZ that draws the first ``n`` bytes of ``path`` as grey pixels in a row:
    \\pdfobj's ``file`` keyword embeds a file as an image's data. ``how`` names
    \\pdfobj past the filter: ``UseName{pdfobj}``, or as an environment."""
    image = f"/Type/XObject/Subtype/Image/Width {n}/Height 1/ColorSpace/DeviceGray"
    image += "/BitsPerComponent 8"
    obj = f"stream attr {{{image}}} file {{{path}}}"
    if how == "UseName":
        embed = f"\\UseName{{immediate}}\\UseName{{pdfobj}} {obj}"
    else:  # \begin{pdfobj} is \csname pdfobj\endcsname in a group; \pdfrefobj writes it
        embed = f"\\begin{{pdfobj}} {obj}\\end{{pdfobj}}\\pdfrefobj\\pdflastobj "
    return (
        f"\\begin{{tikzpicture}}{embed}\\edef\\n{{\\the\\pdflastobj}}"
        "\\setbox0\\hbox{\\pdfliteral{q 160 0 0 160 0 0 cm /Im Do Q}"
        "\\kern160bp\\raise160bp\\hbox{}}"
        "\\pdfxform resources {/XObject<</Im \\n\\space 0 R>>} 0 "
        "\\path[use as bounding box] (0,0) rectangle (160bp,160bp);"
        "\\node[inner sep=0, anchor=south west] at (0,0) {\\pdfrefxform\\pdflastxform};"
        "\\end{tikzpicture}"
    )


def _pixels_to_bytes(path: Path, n: int, size: int) -> bytes:
    grey = _rgb(path)[..., 0]
    border = 4 * 72 / 72.27  # standalone's border=4pt, in bp
    scale = size / (160 + 2 * border)
    row = round((border + 80) * scale)
    return bytes(int(grey[row, round((border + (i + 0.5) * 160 / n) * scale)]) for i in range(n))


@needs_tex
def test_tex_cannot_draw_a_host_file(pool: RenderPool, tmp_path: Path) -> None:
    target = _targets(tmp_path)["host-file"]
    result = _render(pool, "tikz", _file_as_pixels(target, 16), tmp_path / "h.png", 336)
    assert not result.ok, result  # the host's file is not in the jail


@needs_tex
@pytest.mark.parametrize("how", ["UseName", "environment"])
@pytest.mark.parametrize("target", ["renderer-source", "venv-config", "stdlib"])
@pytest.mark.slow
def test_tex_cannot_draw_a_file_outside_the_job_folder(
    pool: RenderPool, tmp_path: Path, how: str, target: str
) -> None:
    """pdfTeX's ``\\pdfobj ... file{}`` ignores openin_any=p, and ``\\UseName{pdfobj}`` (or
    ``\\begin{pdfobj}``) passes the filter: TeX reads any file its job can see into the
    picture. A TikZ job's supervisor hides the Python install and the renderers, so
    nothing of them is there to read (the control below shows the probe does draw a
    file it can see: the job's own doc.tex)."""
    path = {
        "renderer-source": _targets(tmp_path)["renderer-source"],
        "venv-config": str(Path(sys.prefix) / "pyvenv.cfg"),
        "stdlib": os.__file__,
    }[target]
    if not Path(path).is_file():
        pytest.skip(f"no {path} here")
    result = _render(pool, "tikz", _file_as_pixels(path, 16, how), tmp_path / "r.png", 336)
    assert not result.ok, result
    control = _render(pool, "tikz", _file_as_pixels("doc.tex", 16, how), tmp_path / "c.png", 336)
    assert control.ok, control  # the probe works: it draws what the job may read
    drawn = _pixels_to_bytes(tmp_path / "c.png", 16, 336)
    sys.path.insert(0, str(Path(_targets(tmp_path)["renderer-source"]).parent))
    try:
        import tikz as tikz_renderer
    finally:
        sys.path.pop(0)
    starts = [tikz_renderer.document("", fmt)[:16].encode() for fmt in (True, False)]
    near = [max(abs(a - b) for a, b in zip(drawn, want, strict=True)) for want in starts]
    assert min(near) <= 2, drawn


# -- turtle: the stand-in for Tk and its SVG writer --------------------------------------

RED_RECT = '"/><rect x="-9999" y="-9999" width="99999" height="99999" fill="#ff0000"/><text a="'
SVG_INJECTIONS = {
    "font-family": f"import turtle\nturtle.ht()\nturtle.write('hi', font=({RED_RECT!r}, 20))\n",
    "text": f"import turtle\nturtle.ht()\nturtle.write({RED_RECT!r} + ']]><!-- &amp; &x;')\n",
    "item-options": "import turtle\nturtle.ht()\ncv = turtle.getcanvas()\n"
                    f"bad = {RED_RECT!r}\ncv.create_line(0, 0, 90, 90, fill='blue', width=bad, "
                    "joinstyle=bad, capstyle=bad, dash=bad, arrow=bad, tags=bad)\n"
                    "cv.create_arc(0, 0, 90, 90, start=bad, extent=bad, style=bad, fill='blue')\n"
                    "cv.create_text(0, 0, text='x', anchor=bad, angle=bad, font=bad, fill='blue')\n"
                    "cv.create_image(0, 0, image=bad)\n",
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SVG_INJECTIONS))
def test_turtle_text_and_options_never_become_svg_markup(
    pool: RenderPool, tmp_path: Path, case: str
) -> None:
    result = _render(pool, "turtle", SVG_INJECTIONS[case], tmp_path / "i.png", 128)
    assert result.status in (S.OK, S.RUNTIME_ERROR), result
    if result.ok:
        assert _red_share(tmp_path / "i.png") < 0.05


TURTLE_CONTAINED = {
    "colour-markup": ("import turtle\nturtle.color('red\" /><rect width=\"9\"/><x a=\"')\n"
                      "turtle.forward(50)\n", {S.RUNTIME_ERROR}),
    "bgcolor-markup": ("import turtle\nturtle.bgcolor('#fff\"/><rect')\nturtle.forward(50)\n",
                       {S.RUNTIME_ERROR}),
    "bgpic-file": ("import turtle\nturtle.bgpic('/etc/passwd')\nturtle.forward(50)\n",
                   {S.RUNTIME_ERROR, S.BLOCKED}),
    "register-shape-file": ("import turtle\nturtle.register_shape('/job/../etc/shadow.gif')\n"
                            "turtle.shape('/job/../etc/shadow.gif')\nturtle.forward(50)\n",
                            {S.RUNTIME_ERROR, S.BLOCKED}),
    "reentrant-mainloop": ("import turtle\ns = turtle.Screen()\ndef f():\n    s.ontimer(f, 0)\n"
                           "    turtle.forward(1)\n    turtle.mainloop()\nf()\n",
                           {S.TIMEOUT, S.TOO_LARGE, S.RUNTIME_ERROR}),
    "huge-font-long-text": ("import turtle\nfor i in range(2000):\n"
                            "    turtle.write('W' * 4000, font=('Arial', 1500, 'bold'))\n",
                            {S.TIMEOUT, S.TOO_LARGE, S.MEMORY, S.OK}),
    "many-canvases": ("import tkinter\nwhile True:\n    c = tkinter.Canvas()\n"
                      "    c.create_line(0, 0, 1, 1)\n", {S.TIMEOUT, S.MEMORY}),
    "recursion-in-callback": ("import turtle\ns = turtle.Screen()\ndef r(n):\n    return r(n + 1)\n"
                              "s.ontimer(lambda: r(0), 0)\nturtle.forward(50)\nturtle.done()\n",
                              {S.OK}),  # printed, as Tk does; the loop goes on
    "real-tkinter-by-path": ("import importlib.util, sys, sysconfig\n"
                             "sys.modules.pop('_tkinter', None)\n"
                             "spec = importlib.util.find_spec('_tkinter')\n"
                             "tk = importlib.util.module_from_spec(spec)\n"
                             "spec.loader.exec_module(tk)\n"
                             "tk.create(None, 'x', 'Tk', False, True, True, False, None)\n"
                             "import turtle\nturtle.forward(50)\n", {S.RUNTIME_ERROR, S.BLOCKED}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(TURTLE_CONTAINED))
@pytest.mark.slow
def test_turtle_attacks_are_contained_and_typed(
    pool: RenderPool, tmp_path: Path, case: str
) -> None:
    code, expected = TURTLE_CONTAINED[case]
    result = _render(pool, "turtle", code, tmp_path / "c.png")
    assert result.status in expected, result
    assert _render(pool, "turtle", TURTLE_OK, tmp_path / "next.png").ok


POISON_TURTLE = r"""
import os, sys, threading, time
import _tkstub, pyturtle, turtle, _protocol
_tkstub.Canvas.to_svg = lambda self, w, h: '<svg xmlns="http://www.w3.org/2000/svg"/>'
_tkstub._ITEM_DEFAULTS["polygon"]["fill"] = "blue"
_tkstub.COLORS["red"] = "0000ff"
_tkstub._parse_color.cache_clear()
pyturtle._rasterise = None
pyturtle.MAX_POINTS = 0
turtle.RawTurtle.begin_fill = lambda self: None
_protocol.is_blank = lambda path: True
sys.modules["turtle"] = None
try:
    os.environ["VAD_POISON"] = "1"  # the audit hook refuses it: the job is "blocked"
except BaseException:
    pass
for folder in ("/job", "/state", "/state/mpl", "/dev/shm"):
    try:
        with open(os.path.join(folder, "matplotlibrc"), "w") as fh:
            fh.write("lines.color: red\n")
    except OSError:
        pass
threading.Thread(target=threading.Event().wait, args=(60,), daemon=False).start()
raise SystemExit("poisoned")
"""


def test_a_turtle_job_that_patches_everything_leaves_the_next_job_alone(
    pool: RenderPool, tmp_path: Path
) -> None:
    assert _render(pool, "turtle", TURTLE_OK, tmp_path / "before.png").ok
    poisoned = _render(pool, "turtle", POISON_TURTLE, tmp_path / "p.png")
    assert poisoned.status in (S.RUNTIME_ERROR, S.BLOCKED), poisoned
    after = _render(pool, "turtle", TURTLE_OK, tmp_path / "after.png")
    assert after.ok, after
    assert np.array_equal(_rgb(tmp_path / "before.png"), _rgb(tmp_path / "after.png"))
    env = _render(pool, "turtle", "import os\nraise SystemExit(repr(sorted(os.environ)))",
                  tmp_path / "e.png")  # fmt: skip
    assert "VAD_POISON" not in env.reason and "VAD_ATTACK_SECRET" not in env.reason


@pytest.mark.slow
def test_memory_used_up_in_small_objects_is_memory(tmp_path: Path) -> None:
    """Memory used up in small objects that stay referenced (turtle keeps its canvases):
    the job could not even write its result, and was "ended without a result"."""
    code = (
        "import turtle\nturtle.forward(9)\nkeep = turtle.__dict__.setdefault('keep', [])\n"
        "while True:\n    keep.append((len(keep),) * 6)\n"
    )
    limits = Limits(timeout_s=30, cpu_s=25, memory_bytes=1 << 30)
    with RenderPool(size=1, limits=limits) as pool:
        result = _render(pool, "turtle", code, tmp_path / "m.png")
        assert result.status is S.MEMORY, result
        assert _render(pool, "turtle", TURTLE_OK, tmp_path / "next.png").ok


def test_tex_jobs_hide_the_python_install_but_never_a_system_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TikZ jobs have the Python install hidden (TeX's file primitives find nothing of
    it). A Python installed in /usr has its prefix there: hiding the prefix would hide
    pdflatex and TeX's own tree, and every TikZ job would fail (scored against it)."""
    import sysconfig

    from vad.languages import get_language
    from vad.render.pool import python_paths

    monkeypatch.setattr(sys, "prefix", "/usr")
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    system = {"stdlib": "/usr/lib/python3.11", "platstdlib": "/usr/lib/python3.11",
              "purelib": "/usr/local/lib/python3.11/dist-packages",
              "platlib": "/usr/local/lib/python3.11/dist-packages"}  # fmt: skip
    monkeypatch.setattr(sysconfig, "get_paths", lambda: system)
    keep = get_language("tikz").jail_paths
    hidden = python_paths(keep)
    for needed in ("/usr", "/usr/bin", "/usr/share/texmf", "/usr/lib", *keep):
        real = os.path.realpath(needed)
        assert not any(real == h or real.startswith(h + "/") for h in hidden), (needed, hidden)
    if os.path.isdir("/usr/lib/python3.11"):
        assert "/usr/lib/python3.11" in hidden  # the standard library itself is hidden

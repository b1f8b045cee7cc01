"""Hostile and broken drawing code, per language: contained, typed, and harmless after.

Every case runs through the jailed pool with a secret in this process's environment;
the secret must appear in no output, and the next benign render must succeed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_server import FakeOpenAI

from vad.render import Limits, RenderPool, RenderStatus

S = RenderStatus
SECRET = "sk-hostile-test-0123456789"
GOOD = {
    "svg": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="2" '
    'height="2" fill="red"/></svg>',
    "matplotlib": "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\n",
    "tikz": "\\begin{tikzpicture}\\draw (0,0) -- (1,1);\\end{tikzpicture}",
}
PLOT = "\nimport matplotlib.pyplot as plt\nplt.plot([0, 1])\n"
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + ']><svg xmlns="http://www.w3.org/2000/svg"><text>&lol9;</text></svg>'
)
NESTED_USE = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
    '<defs><g id="a0"><rect width="1" height="1"/></g>'
    + "".join(f'<g id="a{i}"><use xlink:href="#a{i - 1}"/><use xlink:href="#a{i - 1}"/>'
              f'<use xlink:href="#a{i - 1}"/><use xlink:href="#a{i - 1}"/></g>'
              for i in range(1, 16))
    + '</defs><use xlink:href="#a15"/></svg>'
)  # fmt: skip

CASES = {
    "svg-xxe": ("svg", '<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                '<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>', {S.BLOCKED}),
    "svg-billion-laughs": ("svg", LAUGHS, {S.BLOCKED}),
    "svg-file-href": ("svg", '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.'
                      'w3.org/1999/xlink"><image xlink:href="file:///etc/passwd" width="9" '
                      'height="9"/></svg>', {S.BLOCKED}),
    "svg-nested-use": ("svg", NESTED_USE, {S.TIMEOUT, S.MEMORY, S.RUNTIME_ERROR}),
    "svg-enormous-canvas": ("svg", '<svg xmlns="http://www.w3.org/2000/svg" width="900000" '
                            'height="900000"><rect width="9" height="9"/></svg>',
                            {S.OK, S.EMPTY_IMAGE}),
    "py-read-passwd": ("matplotlib", "print(open('/etc/passwd').read())" + PLOT, {S.BLOCKED}),
    "py-read-environ": ("matplotlib", "print(open('/proc/self/environ').read())" + PLOT,
                        {S.BLOCKED}),
    "py-read-ssh": ("matplotlib", "print(open('/root/.ssh/id_rsa').read())" + PLOT, {S.BLOCKED}),
    "py-read-home-ssh": ("matplotlib", "import os\nprint(open(os.path.expanduser('~/.ssh/id_rsa'"
                         ")).read())" + PLOT, {S.RUNTIME_ERROR}),  # HOME is the job folder
    "py-print-env": ("matplotlib", "import os\nprint(dict(os.environ))\nraise SystemExit(str("
                     "dict(os.environ)))", {S.RUNTIME_ERROR}),
    "py-write-outside": ("matplotlib", "open('/tmp/owned', 'w').write('x')" + PLOT, {S.BLOCKED}),
    "py-write-parent": ("matplotlib", "open('../owned', 'w').write('x')" + PLOT, {S.BLOCKED}),
    "py-subprocess": ("matplotlib", "import subprocess\nsubprocess.run(['ls', '/'])" + PLOT,
                      {S.BLOCKED}),
    "py-os-system": ("matplotlib", "import os\nos.system('cat /etc/passwd')" + PLOT, {S.BLOCKED}),
    "py-fork-bomb": ("matplotlib", "import os\nwhile True:\n    os.fork()", {S.BLOCKED}),
    "py-raw-fork-bomb": (
        "matplotlib",
        "import _posixsubprocess, os\n"
        "args = [b'/bin/sh', b'-c', b'f(){ f | f & }; f']\n"
        "_posixsubprocess.fork_exec(args, [b'/bin/sh'], True, (), None, None, -1, -1, -1, -1,"
        " -1, -1, *os.pipe(), False, False, -1, None, None, None, -1, None, False)\n"
        "import time\ntime.sleep(60)",
        {S.TIMEOUT, S.RUNTIME_ERROR},
    ),
    "py-memory-bomb": ("matplotlib", "x = bytearray(50 * 2**30)" + PLOT, {S.MEMORY}),
    "py-memory-creep": ("matplotlib", "x = []\nwhile True:\n    x.append(bytearray(2**24))",
                        {S.MEMORY}),
    "py-infinite-loop": ("matplotlib", "while True:\n    pass", {S.TIMEOUT}),
    "py-sleep-forever": ("matplotlib", "import time\ntime.sleep(3600)", {S.TIMEOUT}),
    "py-1gb-file": ("matplotlib", "with open('big', 'wb') as f:\n    for _ in range(1024):\n"
                    "        f.write(b'0' * 2**20)" + PLOT, {S.TOO_LARGE}),
    "py-enormous-canvas": ("matplotlib", "import matplotlib.pyplot as plt\nplt.figure(figsize="
                           "(3000, 3000), dpi=300)\nplt.plot([0, 1])", {S.OK}),
    "py-ctypes": ("matplotlib", "import ctypes\nctypes.CDLL(None).system(b'id')" + PLOT,
                  {S.BLOCKED}),
    "py-exit": ("matplotlib", "import os\nos._exit(3)", {S.RUNTIME_ERROR}),  # scored: its fault
    "py-swallows-refusal": ("matplotlib", "try:\n    open('/etc/passwd')\nexcept Exception:\n"
                            "    pass" + PLOT, {S.BLOCKED}),
    "tex-input-passwd": ("tikz", "\\begin{tikzpicture}\\input{/etc/passwd}\\end{tikzpicture}",
                         {S.BLOCKED}),
    # No filter on TeX's words: the engine refuses (openin_any=p leaves the file closed,
    # -no-shell-escape runs nothing), the document compiles, and its picture is empty.
    "tex-openin": ("tikz", "\\begin{tikzpicture}\\newread\\r\\openin\\r=/etc/passwd "
                   "\\end{tikzpicture}", {S.EMPTY_IMAGE}),
    "tex-write18": ("tikz", "\\begin{tikzpicture}\\write18{touch /tmp/owned}"
                    "\\end{tikzpicture}", {S.EMPTY_IMAGE}),
    "tex-immediate-write": ("tikz", "\\begin{tikzpicture}\\newwrite\\w\\immediate\\openout\\w="
                            "/tmp/owned.tex \\immediate\\write\\w{x}\\end{tikzpicture}",
                            {S.BLOCKED}),
    "tex-csname-trick": ("tikz", "\\begin{tikzpicture}\\csname input\\endcsname{/etc/passwd}"
                         "\\end{tikzpicture}", {S.BLOCKED}),
    "tex-endless-loop": ("tikz", "\\begin{tikzpicture}\\def\\a{\\a}\\a\\end{tikzpicture}",
                         {S.TIMEOUT}),
    "tex-endless-foreach": ("tikz", "\\begin{tikzpicture}\\foreach \\i in {1,...,9000}{\\foreach"
                            " \\j in {1,...,9000}{\\fill (0,0) circle (1pt);}}"
                            "\\end{tikzpicture}",
                            {S.TIMEOUT, S.MEMORY}),
}  # fmt: skip


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    os.environ["VAD_HOSTILE_SECRET"] = SECRET
    with RenderPool(size=2, limits=Limits(timeout_s=4, cpu_s=3, memory_bytes=1 << 30)) as p:
        yield p
    del os.environ["VAD_HOSTILE_SECRET"]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.slow
def test_hostile_code_is_contained(pool: RenderPool, tmp_path: Path, case: str) -> None:
    lang, code, expected = CASES[case]
    result = pool.render(lang, code, 128, 128, tmp_path / "out.png")
    assert result.status in expected, result
    text = f"{result.reason}\n{result.stderr_tail}"
    assert SECRET not in text and "root:x:0:0" not in text
    assert not Path("/tmp/owned").exists() and not Path("/tmp/owned.tex").exists()
    follow = pool.render(lang, GOOD[lang], 64, 64, tmp_path / "next.png")
    assert follow.status is RenderStatus.OK, follow


def test_environment_is_empty_inside(pool: RenderPool, tmp_path: Path) -> None:
    code = (
        "import os\nimport matplotlib.pyplot as plt\nplt.title(repr(sorted(os.environ)))\n"
        "raise SystemExit(repr(sorted(os.environ)))"
    )
    result = pool.render("matplotlib", code, 64, 64, tmp_path / "e.png")
    assert result.status is RenderStatus.RUNTIME_ERROR
    names = eval(result.reason.split(": ", 1)[1])  # the list the code saw
    assert "VAD_HOSTILE_SECRET" not in names and "OPENAI_API_KEY" not in names
    assert set(names) <= {
        "PATH",
        "LANG",
        "HOME",
        "TMPDIR",
        "MPLBACKEND",
        "MPLCONFIGDIR",
        "VAD_JAILED",
        "VAD_ISOLATE",
        "VAD_TEX_FORMAT",  # where the TikZ preamble's format is bound, read-only
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "PWD",
    }


def test_svg_network_reference_never_reaches_a_loopback_server(
    pool: RenderPool, tmp_path: Path
) -> None:
    with FakeOpenAI() as server:
        url = server.api_base.replace("/v1", "/x.png")
        code = (
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/'
            f'xlink"><image xlink:href="{url}" width="9" height="9"/>'
            f'<rect width="5" height="5" style="fill:url({url})"/></svg>'
        )
        result = pool.render("svg", code, 64, 64, tmp_path / "n.png")
        py = pool.render(
            "matplotlib",
            f"import urllib.request\nurllib.request.urlopen('{url}', timeout=2)" + PLOT,
            64,
            64,
            tmp_path / "m.png",
        )
        assert result.status is RenderStatus.BLOCKED and py.status is RenderStatus.BLOCKED
        assert server.requests == []

"""What a language prepares on the host for its jobs (a Language's ``prepare_host``): the
pool calls the hook of each language it serves, once, and gives each jail the files of
the languages it runs; the pool and the jail themselves know no language by name."""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import vad
from vad._paths import project_dir
from vad.languages import _sketch, _texformat, all_languages, base, tikz
from vad.languages.base import HostFiles, Language
from vad.render import Limits, RenderPool, RenderStatus, pool
from vad.render.jail import bwrap_command

RENDER = Path(vad.__file__).parent / "render"


def _names() -> set[str]:
    """Every name a language goes by (its own, its aliases, its renderer module) but
    "mpl": matplotlib's config folder in every worker's state (/state/mpl) is the
    worker's, made before it knows which languages it will run."""
    languages = all_languages().values()
    return {x for lang in languages for x in (lang.name, *lang.aliases, lang.module)} - {"mpl"}


@pytest.mark.parametrize("module", ["pool.py", "jail.py"])
def test_the_pool_and_the_jail_name_no_language(module: str) -> None:
    tree = ast.parse((RENDER / module).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    language_modules = {f"vad.languages.{name}" for name in all_languages()}
    specific = {"vad.languages._sketch", "vad.languages._texformat", "vad.render.texformat"}
    assert not imported & (language_modules | specific), imported & (language_modules | specific)
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                and isinstance(n.value, str)}  # fmt: skip
    assert not literals & _names(), literals & _names()
    named = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not named & {"js_libraries", "tex_format"}


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every language's hook replaced by one that says it was called (and binds nothing)."""
    calls: list[str] = []

    def spy(name: str) -> Callable[[], HostFiles]:
        return lambda: calls.append(name) or HostFiles()  # type: ignore[func-returns-value]

    for name, lang in all_languages().items():
        spying = dataclasses.replace(lang, prepare_host=spy(name))
        monkeypatch.setitem(base._LANGUAGES, name, spying)
    return calls


def test_a_pool_calls_only_the_hooks_of_the_languages_it_serves(spied: list[str]) -> None:
    svg = RenderPool(size=1, languages=["svg"])
    svg._start()
    svg._start()
    assert spied == ["svg"] and set(svg.host_files) == {"svg"}  # no TeX format for SVG
    svg.close()
    spied.clear()
    latex = RenderPool(size=1, languages=["latex", "mpl"])  # aliases
    latex._start()
    assert sorted(spied) == ["matplotlib", "tikz"]
    latex.close()
    spied.clear()
    every = RenderPool(size=1)
    every._start()
    assert sorted(spied) == sorted(all_languages())  # each once
    every.close()


def test_files_given_to_the_pool_stand_for_the_hook(spied: list[str]) -> None:
    given = HostFiles({"/nonexistent": "/x"}, {"X": "/x"})
    with RenderPool(size=1, languages=["latex"], host_files={"latex": given}) as served:
        served._start()
        assert spied == [] and served.host_files == {"tikz": given}


def test_the_tikz_hook_binds_the_format_alone_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fmt = tmp_path / "vad-tikz.fmt"
    asked: list[bool | None] = []

    def found(use: bool | None = None) -> Path | None:
        asked.append(use)
        return fmt if use is not False else None

    real = _texformat.tikz_format
    monkeypatch.setattr(_texformat, "tikz_format", found)
    assert tikz.prepare_host() == HostFiles(
        {str(fmt): _texformat.JAIL_PATH}, {"VAD_TEX_FORMAT": _texformat.JAIL_PATH}
    )
    assert tikz.prepare_host(use_format=False) == HostFiles()
    assert asked == [None, False]  # None: $VAD_TIKZ_FORMAT decides
    monkeypatch.setattr(_texformat, "tikz_format", real)
    monkeypatch.setenv("VAD_TIKZ_FORMAT", "0")
    monkeypatch.setattr(_texformat, "tex_identity", lambda: pytest.fail("looked up TeX"))
    assert tikz.prepare_host() == HostFiles()  # switched off: nothing built or looked up


def test_the_sketch_hook_shows_the_npm_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAD_JS_DIR", str(tmp_path))
    files = _sketch.prepare_host()
    assert files == HostFiles({str(tmp_path): "/js"}, {"VAD_JS_DIR": "/js"})
    assert files.unjailed_env() == {"VAD_JS_DIR": str(tmp_path)}
    for name in ("p5", "processing"):
        assert all_languages()[name].prepare_host is _sketch.prepare_host


def test_host_files_merge_present_and_unjailed(tmp_path: Path) -> None:
    there, gone = tmp_path / "there", tmp_path / "gone"
    there.write_text("x")
    a = HostFiles({str(there): "/a"}, {"A": "/a", "PLAIN": "1"})
    b = HostFiles({str(gone): "/b"}, {"B": "/b"})
    both = HostFiles.merge([a, b, a])
    assert both == HostFiles({str(there): "/a", str(gone): "/b"},
                             {"A": "/a", "PLAIN": "1", "B": "/b"})  # fmt: skip
    assert both.present() == a  # the gone file is left out, with its variable
    assert both.unjailed_env() == {"A": str(there), "PLAIN": "1", "B": str(gone)}
    assert both.host_path("/b") == str(gone) and both.host_path("/c") is None
    with pytest.raises(ValueError, match="both to be bound at /a"):
        HostFiles.merge([a, HostFiles({str(gone): "/a"})])
    with pytest.raises(ValueError, match="to be bound at /a and at /c"):
        HostFiles.merge([a, HostFiles({str(there): "/c"})])
    with pytest.raises(ValueError, match=r"\$PLAIN is set to '1' and to '2'"):
        HostFiles.merge([a, HostFiles({}, {"PLAIN": "2"})])


def test_a_jail_shows_the_files_of_the_languages_it_runs() -> None:
    prepared = {name: HostFiles({f"/host/{name}": f"/in/{name}"}) for name in all_languages()}
    warm = pool._host_files(prepared, "")
    job_proc = {n for n, lang in all_languages().items() if lang.job_proc}
    assert set(warm.binds.values()) == {f"/in/{n}" for n in all_languages() if n not in job_proc}
    for name in job_proc:
        assert pool._host_files(prepared, name).binds == {f"/host/{name}": f"/in/{name}"}


def test_bwrap_binds_the_files_read_only_by_descriptor_and_sets_their_variables(
    tmp_path: Path,
) -> None:
    made = tmp_path / "made.bin"
    made.write_bytes(b"x")
    (tmp_path / "job").mkdir()
    jail = bwrap_command(tmp_path / "job", tmp_path, project_dir("renderers"), ["true"],
                         binds={str(made): "/made/it.bin"},
                         env={"VAD_MADE": "/made/it.bin"})  # fmt: skip
    try:
        cmd = jail.argv
        at = cmd.index("/made/it.bin")
        assert cmd[at - 2] in ("--ro-bind", "--ro-bind-fd") and str(made) not in cmd
        fds = [fd for fd, _, _ in jail.staged] or [int(cmd[at - 1])]
        assert any(os.path.samestat(os.fstat(fd), os.stat(made)) for fd in fds if fd in jail.fds)
        assert cmd[cmd.index("VAD_MADE") - 1] == "--setenv"
        assert cmd[cmd.index("VAD_MADE") + 1] == "/made/it.bin"
    finally:
        jail.close()


READS = """
import os
import matplotlib.pyplot as plt
path = os.environ["VAD_TEST_FILE"]
text = open(path).read()
fig, ax = plt.subplots()
ax.fill([0, 1, 1], [0, 0, 1], color="red")
if text != "made on the host" or not path.startswith({where!r}):
    raise SystemExit(f"{{path}}: {{text}}")
"""


@pytest.mark.parametrize("sandbox", [True, False], ids=["jailed", "unjailed"])
def test_a_job_reads_what_its_language_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: bool
) -> None:
    made = tmp_path / "made.txt"
    made.write_text("made on the host")
    files = HostFiles({str(made): "/prepared/made.txt"}, {"VAD_TEST_FILE": "/prepared/made.txt"})
    mpl: Language = all_languages()["matplotlib"]
    calls: list[int] = []
    monkeypatch.setitem(base._LANGUAGES, "matplotlib", dataclasses.replace(
        mpl, prepare_host=lambda: calls.append(1) or files))  # fmt: skip
    where = "/prepared/" if sandbox else str(tmp_path)
    limits = Limits(audit_hook=False, timeout_s=20)
    with RenderPool(size=1, sandbox=sandbox, limits=limits, languages=["matplotlib"]) as served:
        result = served.render("matplotlib", READS.format(where=where), 64, 64, tmp_path / "o.png")
        again = served.render("matplotlib", READS.format(where=where), 64, 64, tmp_path / "p.png")
    assert result.status is RenderStatus.OK, result
    assert again.status is RenderStatus.OK and calls == [1]  # once per pool

"""Extension from outside the repository: installed packages add languages, tasks,
scorers and strategies through entry points (vad/plugins.py).

The quick tests load small fake distributions from a folder put on sys.path: what a
plugin registers is found, and a plugin that fails to import or takes a name already
taken stops vad with one error naming it, the problem and the fix. The slow test builds
a real plugin package, installs it with pip into a fresh virtual environment (which
reaches vad and its dependencies through a .pth file, offline), and uses it there:
listed, drawn by `vad run` in the real jail (its renderer's folder shown read-only,
nothing else of the plugin), scored by `vad leaderboard`, and put through the languages'
contract tests.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_server import FakeOpenAI

import vad.plugins
from vad.errors import VadError
from vad.generate.strategies import STRATEGIES
from vad.languages import Language, base, get_language, language_names, register_language
from vad.plugins import PluginError
from vad.scoring.base import SCORERS, get_scorer, scorer_names
from vad.scoring.render_rate import RenderRate
from vad.tasks.base import TASKS

ROOT = Path(__file__).resolve().parents[1]


# -- fake distributions on sys.path ------------------------------------------------------


def _distribution(site_dir: Path, name: str, entries: dict[str, dict[str, str]],
                  modules: dict[str, str]) -> None:  # fmt: skip
    """A distribution ``name`` 0.1 in ``site_dir``: its entry points (group -> name ->
    module) and modules (file name -> source)."""
    info = site_dir / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    groups = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
              for group, eps in entries.items()]  # fmt: skip
    (info / "entry_points.txt").write_text("\n".join(groups))
    for filename, source in modules.items():
        (site_dir / filename).write_text(textwrap.dedent(source))


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path for fake distributions; the plugins are loaded afresh, and
    whatever they register is forgotten afterwards."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    get_scorer("render")  # vad's own scorers, before the registries are copied
    monkeypatch.setattr(vad.plugins, "_STATE", {})
    for registry in (SCORERS, TASKS, STRATEGIES):
        monkeypatch.setattr(registry, "_classes", dict(registry._classes))
    monkeypatch.setattr(base, "_LANGUAGES", dict(base._LANGUAGES))
    monkeypatch.setattr(base, "_ALIASES", dict(base._ALIASES))
    return folder


SCORER = """
    from vad.scoring.base import DrawingScorer, register_scorer
    from vad.scoring.stats import proportion

    @register_scorer({name!r})
    class Mine(DrawingScorer):
        columns = ("mine %",)

        def score(self, items, ctx):
            return {{"mine %": proportion([1.0 for _ in items])}}
"""


def test_a_plugin_scorer_is_found_beside_vads_own(site_dir: Path) -> None:
    _distribution(site_dir, "good-plugin", {"vad.scorers": {"mine": "good_scorer"}},
                  {"good_scorer.py": SCORER.format(name="mine-scorer")})  # fmt: skip
    assert {"mine-scorer", "render"} <= set(scorer_names())
    assert type(get_scorer("mine-scorer")).__module__ == "good_scorer"


def test_a_plugin_that_fails_to_import_is_named_with_the_fix(site_dir: Path) -> None:
    _distribution(site_dir, "broken-plugin", {"vad.scorers": {"bad": "broken_scorer"}},
                  {"broken_scorer.py": "import os\nimport no_such_module_for_vad\n"})  # fmt: skip
    with pytest.raises(PluginError) as caught:
        scorer_names()
    message = str(caught.value)
    assert message.startswith("plugin 'broken-plugin 0.1' (entry point 'bad = broken_scorer' "
                              "in group 'vad.scorers') failed to load: ModuleNotFoundError: "
                              "No module named 'no_such_module_for_vad'")  # fmt: skip
    assert f"(at {site_dir / 'broken_scorer.py'}, line 2)" in message
    assert message.endswith("Fix: repair the plugin (or install what it imports), or "
                            "pip uninstall broken-plugin")  # fmt: skip
    with pytest.raises(PluginError, match="broken-plugin"):  # never skipped later
        get_scorer("render")


def test_a_plugin_cannot_take_the_name_of_a_built_in(site_dir: Path) -> None:
    _distribution(site_dir, "greedy-plugin", {"vad.scorers": {"render": "greedy_scorer"}},
                  {"greedy_scorer.py": SCORER.format(name="render")})  # fmt: skip
    with pytest.raises(PluginError) as caught:
        scorer_names()
    assert str(caught.value) == (
        "plugin 'greedy-plugin 0.1' (entry point 'render = greedy_scorer' in group "
        "'vad.scorers') registers scorer 'render', a name already taken by "
        "vad.scoring.render_rate.RenderRate: a plugin can neither replace nor shadow what "
        "vad or another plugin registered. Fix: give it another name in the plugin, or "
        "pip uninstall greedy-plugin"
    )
    assert SCORERS._classes["render"] is RenderRate  # vad's own is left as it was


def test_two_plugins_cannot_take_one_name(site_dir: Path) -> None:
    strategy = """
        from vad.generate.strategies import STRATEGIES

        @STRATEGIES.register("twin")
        def twin(concepts, seed):
            return iter(())
    """
    for dist in ("a-plugin", "b-plugin"):
        module = f"{dist.replace('-', '_')}_strategy"
        _distribution(site_dir, dist, {"vad.strategies": {"twin": module}},
                      {f"{module}.py": strategy})  # fmt: skip
    with pytest.raises(PluginError, match=r"^plugin 'b-plugin 0.1' .* registers strategy "
                       r"'twin', a name already taken by a_plugin_strategy.twin: "):  # fmt: skip
        STRATEGIES.names()


def test_a_plugin_language_cannot_replace_one_of_vads_own(site_dir: Path) -> None:
    svg = base._LANGUAGES["svg"]  # (a look-up would load the plugins before they are there)
    _distribution(site_dir, "svg-plugin", {"vad.languages": {"svg": "svg_language"}},
                  {"svg_language.py": """
                      import dataclasses
                      from vad.languages import get_language, register_language

                      register_language(dataclasses.replace(get_language("svg"), display="x"))
                  """})  # fmt: skip
    with pytest.raises(PluginError, match=r"^plugin 'svg-plugin 0.1' \(entry point 'svg = "
                       r"svg_language' in group 'vad.languages'\) registers language 'svg', a "
                       r"name already taken by language 'svg' \(vad's own\)"):  # fmt: skip
        language_names()
    assert base._LANGUAGES["svg"] is svg


def test_the_command_line_names_a_broken_plugin_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    _distribution(folder, "broken-plugin", {"vad.languages": {"bad": "broken_language"}},
                  {"broken_language.py": "raise RuntimeError('half-installed')\n"})  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(folder)}
    done = subprocess.run([sys.executable, "-m", "vad", "draw", "--help"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: plugin 'broken-plugin 0.1' (entry point 'bad = broken_language' in group "
        "'vad.languages') failed to load: RuntimeError: half-installed (at "
        f"{folder / 'broken_language.py'}, line 1). Fix: repair the plugin (or install what "
        "it imports), or pip uninstall broken-plugin"
    ]


def test_a_renderer_must_be_a_file_in_a_folder_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svg = get_language("svg")
    with pytest.raises(ValueError, match=r"must be the absolute path of its \.py file"):
        register_language(Language(**{**_fields(svg), "name": "rel", "aliases": (),
                                      "renderer": "render/dots.py"}))  # fmt: skip
    (tmp_path / "loose_renderer.py").write_text("VERSION = '1'\n")
    loose = str(tmp_path / "loose_renderer.py")  # in a folder that is no package of a plugin
    with pytest.raises(ValueError, match="no package of the plugin"):
        register_language(Language(**{**_fields(svg), "name": "loose", "aliases": (),
                                      "renderer": loose}))  # fmt: skip
    (tmp_path / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))  # as site-packages: the jail would show it all
    with pytest.raises(ValueError, match="put the renderer in a folder of its own"):
        register_language(Language(**{**_fields(svg), "name": "loose", "aliases": (),
                                      "renderer": loose}))  # fmt: skip
    assert "rel" not in language_names() and "loose" not in language_names()


def _fields(language: Language) -> dict[str, Any]:
    return {name: getattr(language, name) for name in language.__dataclass_fields__}


def test_the_plugin_loader_is_a_leaf() -> None:
    tree = ast.parse((ROOT / "vad" / "plugins.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m and m.startswith("vad")} == {"vad.errors"}
    assert issubclass(PluginError, VadError)


# -- a real plugin, pip-installed into a fresh virtual environment -----------------------

PLUGIN: dict[str, str] = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "vad-dots"
        version = "0.1"

        [project.entry-points."vad.languages"]
        dots = "vad_dots.language"

        [project.entry-points."vad.scorers"]
        dot_count = "vad_dots.scorer"

        [project.entry-points."vad.tasks"]
        dotdraw = "vad_dots.task"

        [project.entry-points."vad.strategies"]
        dots_rounds = "vad_dots.strategy"

        [tool.setuptools]
        packages = ["vad_dots", "vad_dots.render"]
    """,
    "vad_dots/__init__.py": "",
    "vad_dots/language.py": '''
        """DOTS: one filled circle per line, ``dot X Y R #RRGGBB`` (fractions of the canvas)."""

        from pathlib import Path

        from vad.concepts.reference import HEX
        from vad.languages import Language, register_language

        RENDERER = str(Path(__file__).resolve().parent / "render" / "dots_renderer.py")


        def repair(code, notes):
            start = code.find("DOTS")
            if start < 0:
                return None
            if code[:start].strip():
                notes.append("dropped text before DOTS")
            return code[start:].strip()


        def strip_hints(code):
            return "\\n".join(line.split("%", 1)[0].rstrip() for line in code.splitlines())


        def reference(prims):
            lines = [f"dot {cx:.3f} {cy:.3f} {r:.3f} {HEX[color]}" for _, color, cx, cy, r in prims]
            return "\\n".join(["DOTS", *lines])


        PROMPTS = {"draw": {"chat": {
            "system": "You draw with DOTS programs.",
            "user": "Write a DOTS program that draws {{caption}} on a {{width}}x{{height}} "
                    "canvas: a first line DOTS, then one line 'dot X Y R #RRGGBB' per filled "
                    "circle, X, Y and R as fractions of the canvas. Reply in one ```dots block.",
        }}}

        DOTS = register_language(Language(
            name="dots", display="DOTS", module="dots_renderer", suffix=".dots",
            fences=("dots",), markers=("DOTS",), repair=repair, strip_hints=strip_hints,
            reference=reference, comment=("%", ""), renderer=RENDERER, prompts=PROMPTS,
            probes={"read_outside": "DOTS\\ninclude @SECRET_FILE@\\ndot 0.5 0.5 0.3 #ff0000"},
            bench_target="any",
        ))
    ''',
    "vad_dots/render/__init__.py": "",
    "vad_dots/render/dots_renderer.py": '''
        """The DOTS renderer, run by vad's worker inside the jail (the standard library and
        renderers/_protocol.py only): ``include PATH`` reads a file, for the tests."""

        import struct
        import zlib

        from _protocol import EMPTY, SYNTAX, RenderFailure

        VERSION = "dots-1"
        CHECKS_BLANK = True


        def preload():
            pass


        def _chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data)))


        def render(code, out_png, width, height):
            pixels = bytearray(b"\\xff" * (width * height * 3))
            drawn = False
            for number, line in enumerate(code.splitlines(), 1):
                words = line.split("%", 1)[0].split()
                if not words or words == ["DOTS"]:
                    continue
                if words[0] == "include":
                    with open(words[1], "rb") as fh:
                        fh.read()
                    continue
                try:
                    assert words[0] == "dot" and len(words) == 5
                    x, y, r = (float(w) for w in words[1:4])
                    color = bytes.fromhex(words[4].lstrip("#"))
                    assert len(color) == 3
                except (AssertionError, ValueError):
                    raise RenderFailure(SYNTAX, f"line {number}: not 'dot X Y R #RRGGBB'")
                cx, cy, radius = x * width, y * height, r * min(width, height)
                for py in range(max(0, int(cy - radius)), min(height, int(cy + radius) + 1)):
                    for px in range(max(0, int(cx - radius)), min(width, int(cx + radius) + 1)):
                        if (px + 0.5 - cx) ** 2 + (py + 0.5 - cy) ** 2 <= radius * radius:
                            at = (py * width + px) * 3
                            pixels[at : at + 3] = color
                            drawn = drawn or color != b"\\xff\\xff\\xff"
            if not drawn:
                raise RenderFailure(EMPTY, "no dot on the canvas")
            rows = b"".join(b"\\x00" + bytes(pixels[y * width * 3 : (y + 1) * width * 3])
                            for y in range(height))
            header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
            with open(out_png, "wb") as fh:
                fh.write(b"\\x89PNG\\r\\n\\x1a\\n" + _chunk(b"IHDR", header)
                         + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))
    ''',
    "vad_dots/scorer.py": '''
        from vad.scoring.base import DrawingScorer, register_scorer
        from vad.scoring.stats import bootstrap_mean


        def dots(record):
            lines = (record.get("code") or "").splitlines()
            return sum(line.split()[:1] == ["dot"] for line in lines)


        @register_scorer("dot_count")
        class DotCount(DrawingScorer):
            """Dots per drawing."""

            columns = ("dots per drawing",)

            def score(self, items, ctx):
                return {"dots per drawing": bootstrap_mean([float(dots(r)) for _, _, r in items])}
    ''',
    "vad_dots/task.py": '''
        import dataclasses

        from vad.tasks import TableSpec, register_task
        from vad.tasks.draw import DrawTask


        @register_task("dotdraw")
        class DotDraw(DrawTask):
            """Draw, in a table of its own that the plugin's scorer fills."""

            order = 90
            table = TableSpec("Dot draw", ("model", "language"),
                              (("render rate %", "render"), ("dots per drawing", "dot_count")))

            def jobs(self, spec, concepts, models, runs_root):
                return [dataclasses.replace(job, sample_id="dot" + job.sample_id, task=self.name)
                        for job in super().jobs(spec, concepts, models, runs_root)]
    ''',
    "vad_dots/strategy.py": """
        from vad.generate.strategies import STRATEGIES, rounds


        @STRATEGIES.register("dots-rounds")
        def dots_rounds(concepts, seed):
            return rounds("dots-rounds", concepts, seed)
    """,
}

# Run in the fresh environment: what is registered, and the jail around the renderer.
CHECK = """
import json, sys
from pathlib import Path

from vad.generate.strategies import STRATEGIES
from vad.languages import get_language, language_names
from vad.render import RenderPool
from vad.scoring.base import scorer_names
from vad.tasks import task_names

dots = get_language("dots")
renderer = Path(dots.renderer)
found = {"languages": language_names(), "scorers": scorer_names(), "tasks": task_names(),
         "strategies": STRATEGIES.names(), "renderer": str(renderer)}
programs = {
    "plain": "DOTS\\ndot 0.5 0.5 0.3 #d03030",
    "its own folder": f"DOTS\\ninclude {renderer}\\ndot 0.5 0.5 0.3 #d03030",
    "the plugin's package": f"DOTS\\ninclude {renderer.parent.parent / 'language.py'}\\n"
                            "dot 0.5 0.5 0.3 #d03030",
}
with RenderPool(size=1, languages=["dots"]) as pool:
    for name, code in programs.items():
        result = pool.render("dots", code, 64, 64, Path(sys.argv[1]) / f"{len(found)}.png")
        found[name] = [str(result.status), result.reason]
print(json.dumps(found))
"""


class _DotsServer(FakeOpenAI):
    """Answers DOTS prompts with a DOTS program of two dots."""

    def _answer(self, path: str, body: dict[str, Any], batched: bool = False) -> Any:
        status, reply = super()._answer(path, body, batched)
        prompt = " ".join(m["content"] for m in body.get("messages", []))
        if "DOTS program" in prompt:
            reply["choices"][0]["message"]["content"] = (
                "Here:\n```dots\nDOTS\ndot 0.5 0.5 0.3 #d03030 % a body\n"
                "dot 0.7 0.3 0.1 #3030d0\n```"
            )
        return status, reply


@pytest.fixture
def plugin_env() -> Iterator[tuple[Path, Path]]:
    """A fresh virtual environment (vad and its dependencies reached through a .pth
    file) with the plugin installed by pip, offline; and the plugin's source folder."""
    top = Path(tempfile.mkdtemp(prefix="vad-plugin-test-"))
    os.chmod(top, 0o755)  # the jail's own uid may enter (the plugin's renderer is bound)
    try:
        source = top / "vad-dots"
        for name, text in PLUGIN.items():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_text(textwrap.dedent(text).lstrip())
        venv = top / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                       timeout=120)  # fmt: skip
        purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
        shared = [p for p in site.getsitepackages() if Path(p).is_dir()]
        (Path(purelib) / "_vad_dev.pth").write_text(
            "".join(f"import site; site.addsitedir({p!r})\n" for p in shared)
        )
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps",
             "--no-build-isolation", "--no-index", "--quiet", "-e", str(source)],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        yield venv / "bin" / "python", source
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _in(python: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=os.environ.copy())  # fmt: skip


@pytest.mark.slow
def test_an_installed_plugin_draws_in_the_jail_and_is_scored(
    plugin_env: tuple[Path, Path], tmp_path: Path
) -> None:
    python, source = plugin_env
    # (a) registered beside vad's own, and listed by the command line
    done = _in(python, "-c", CHECK, str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert {"dots", "svg"} <= set(found["languages"])
    assert {"dot_count", "render"} <= set(found["scorers"])
    assert {"dotdraw", "draw"} <= set(found["tasks"])
    assert {"dots-rounds", "vad"} <= set(found["strategies"])
    assert found["renderer"] == str(source.resolve() / "vad_dots/render/dots_renderer.py")
    # the jail shows the renderer's folder, read-only, and nothing else of the plugin
    assert found["plain"] == ["ok", ""]
    assert found["its own folder"] == ["ok", ""]
    assert (source / "vad_dots" / "language.py").is_file()
    assert found["the plugin's package"][0] == "runtime_error"
    assert "No such file or directory" in found["the plugin's package"][1]
    assert "dots" in _in(python, "-m", "vad", "draw", "--help").stdout

    # (b) a run of the plugin's task in the plugin's language, in the real jail
    with _DotsServer() as server:
        spec = tmp_path / "dots.yaml"
        spec.write_text(json.dumps({
            "name": "dots", "models": [{"name": "openai/fake", "api_base": server.api_base}],
            "tasks": ["dotdraw"], "levels": ["shapes"], "languages": ["dots"], "limit": 2,
        }))  # fmt: skip
        done = _in(python, "-m", "vad", "run", str(spec), "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    (samples,) = (Path(os.environ["VAD_RUNS_DIR"])).glob("*/samples.jsonl")
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(records) == 2
    for record in records:
        assert (record["task"], record["language"], record["status"]) == ("dotdraw", "dots", "ok")
        assert (samples.parent / record["image"]).read_bytes().startswith(b"\x89PNG")

    # ... and the plugin's scorer fills the plugin task's leaderboard table
    site_dir = tmp_path / "site"
    done = _in(python, "-m", "vad", "leaderboard", samples.parent.name, "--out", str(site_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = csv.DictReader((site_dir / "dotdraw.csv").open())
    assert row["language"] == "dots" and float(row["dots per drawing"]) == 2.0
    assert float(row["render rate %"]) == 100.0
    assert "Dot draw" in (site_dir / "leaderboard.md").read_text()

    # (c) the languages' contract tests over the plugin's language (but the description's:
    # it asks for correct and completion templates, which this tiny plugin leaves out)
    done = _in(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_languages.py",
               "-k", "(dots and not description) or every_language_has_probes")  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " failed" not in done.stdout and " passed" in done.stdout

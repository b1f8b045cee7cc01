"""The wheel `pip wheel` builds from the checkout, installed in a fresh venv, runs away
from the checkout.

The venv sees neither the checkout nor the test's own environment: it is made without
pip, the wheel goes in with ``pip --python``, and the dependencies are the installed
files of the running environment's distributions, hard-linked (or copied) into the
venv's own site-packages, so that the jail, which shows the renderers only the Python
install, finds them there as it would in any venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

import pytest
from openai_server import FakeOpenAI
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from vad import _paths
from vad.errors import InstallError, TrainError
from vad.provenance import git_commit
from vad.rundir import read_samples

CHECKOUT = Path(__file__).resolve().parent.parent
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "vad", "prompts",
                "renderers")  # fmt: skip
DATA_FOLDERS = ("prompts", "renderers")
OUTSIDE = ("VAD_HOME", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")  # what could point back
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output if it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore
    assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    return done


def _copy_sources(dest: Path) -> Path:
    """The build inputs of the checkout, without its build/ and caches."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in BUILD_INPUTS:
        src = CHECKOUT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _build_wheel(source: Path, out: Path) -> Path:
    """``pip wheel`` of a source tree or an sdist, offline, with the running setuptools."""
    offline = ["--no-deps", "--no-build-isolation", "--no-index"]
    _run([*PIP, "wheel", *offline, "-w", str(out), str(source)])
    return next(out.glob("vad-*.whl"))


def _shipped(folder: Path) -> set[str]:
    """The files of a data folder, as the wheel names them."""
    return {
        f"vad/_data/{p.relative_to(folder.parent).as_posix()}"
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]


def _dependencies(requires: list[str]) -> dict[str, Distribution]:
    """The installed distributions that ``requires`` needs, recursively, markers honoured."""
    found: dict[str, Distribution] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(text, "") for text in requires]
    while todo:
        text, extra = todo.pop()
        req = Requirement(text)
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        try:
            dist = found.get(name) or distribution(req.name)
        except PackageNotFoundError:
            continue  # pip would have refused the environment; the import will say it
        found[name] = dist
        for want in ("", *req.extras):
            if (name, want) not in seen:
                seen.add((name, want))
                todo += [(child, want) for child in dist.requires or []]
    return found


def _link_installed(dist: Distribution, site: Path) -> None:
    """Every file the distribution installed under its site-packages, linked into ``site``."""
    for entry in dist.files or []:
        rel = Path(str(entry))
        src = Path(str(dist.locate_file(entry)))
        dest = site / rel
        if ".." in rel.parts or not src.is_file() or dest.exists():
            continue  # scripts live outside site-packages; the venv does not need them
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = _copy_sources(tmp_path_factory.mktemp("source"))
    return _build_wheel(source, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A venv holding the wheel and its dependencies, and nothing of the checkout."""
    root = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    python = root / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
                .stdout.strip())  # fmt: skip
    for dist in _dependencies(_requirements(wheel)).values():
        _link_installed(dist, site)
    _run([*PIP, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)])
    return root


def _env() -> dict[str, str]:
    """The test's environment (runs and caches under tmp_path) without the checkout in it."""
    return {k: v for k, v in os.environ.items() if k not in OUTSIDE}


@pytest.mark.slow
def test_the_wheel_carries_prompts_and_renderers(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for folder in DATA_FOLDERS:
        shipped = _shipped(CHECKOUT / folder)
        assert shipped and shipped <= names, shipped - names
    assert not [n for n in names if n.startswith(("prompts/", "renderers/", "tests/"))]
    assert not [n for n in names if "__pycache__" in n]


@pytest.mark.slow
def test_a_wheel_built_from_the_sdist_is_the_same(wheel: Path, tmp_path: Path) -> None:
    source = _copy_sources(tmp_path / "source")
    done = _run([sys.executable, "-c", "import sys; from setuptools.build_meta import "
                 "build_sdist; print(build_sdist(sys.argv[1]))", str(tmp_path / "sdist")],
                cwd=source)  # fmt: skip
    sdist = tmp_path / "sdist" / done.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tf:
        members = {m.name.split("/", 1)[1] for m in tf.getmembers() if m.isfile()}
    assert {"prompts/draw.yaml", "renderers/worker.py", "setup.py"} <= members
    again = _build_wheel(sdist, tmp_path / "wheel")
    with zipfile.ZipFile(wheel) as a, zipfile.ZipFile(again) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())


@pytest.mark.slow
def test_the_installed_wheel_draws_and_renders_away_from_the_checkout(
    venv: Path, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    python, vad = str(venv / "bin" / "python"), str(venv / "bin" / "vad")

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        return _run(list(cmd), cwd=work, env=_env())

    where = json.loads(run(python, "-c", WHERE).stdout)
    for path in (where["vad"], where["prompts"], where["renderers"]):
        assert Path(path).is_relative_to(venv), where
    assert where["checkout"] is None

    listing = run(vad, "concepts", "--level", "shapes", "--limit", "3").stdout
    assert listing.count("\n") == 4 and "# 3 concepts" in listing

    drawn = run(vad, "draw", "--model", "openai/fake", "--api-base", fake_openai.api_base,
                "--limit", "2", "--no-progress")  # fmt: skip
    assert "rendered" in drawn.stdout, drawn.stderr
    (folder,) = (tmp_path / "runs").glob("draw-*")
    assert [r["status"] for r in read_samples(folder / "samples.jsonl")] == ["ok", "ok"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["prompt_versions"] and manifest["git"]["commit"] is None

    rendered = json.loads(run(python, "-c", RENDER, json.dumps(GOOD)).stdout)
    assert rendered["statuses"] == {lang: "ok" for lang in GOOD}, rendered
    assert rendered["argv"][0].endswith("bwrap")  # through the jail
    assert str(Path(where["renderers"]) / "worker.py") in rendered["argv"]
    for lang in GOOD:
        assert (work / f"{lang}.png").stat().st_size > 100


WHERE = """
import json, vad
from vad._paths import checkout, project_dir
print(json.dumps({"vad": vad.__file__, "prompts": str(project_dir("prompts")),
                  "renderers": str(project_dir("renderers")),
                  "checkout": checkout() and str(checkout())}))
"""

RENDER = """
import json, sys
from pathlib import Path
from vad.render import RenderPool
with RenderPool(size=1) as pool:
    statuses = {lang: str(pool.render(lang, code, 64, 64, Path(f"{lang}.png")).status)
                for lang, code in json.loads(sys.argv[1]).items()}
    argv = list(pool._workers[0].proc.args)
print(json.dumps({"statuses": statuses, "argv": argv}))
"""

GOOD = {
    "svg": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
    '<circle cx="5" cy="5" r="3" fill="red"/></svg>',
    "matplotlib": "import matplotlib.pyplot as plt\nplt.plot([0, 1], [0, 1])\n",
    "tikz": "\\begin{tikzpicture}\\fill[red] (0,0) circle (1);\\end{tikzpicture}",
    "turtle": "import turtle\nturtle.pensize(9)\nturtle.forward(200)\n",
}


# -- where project_dir looks, without building anything ---------------------------------------


def _fake_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ROOT is a site-packages without a checkout; the package data holds both folders."""
    site, data = tmp_path / "site-packages", tmp_path / "site-packages" / "vad" / "_data"
    for folder in DATA_FOLDERS:
        (data / folder).mkdir(parents=True)
    monkeypatch.setattr(_paths, "ROOT", site)
    monkeypatch.setattr(_paths, "PACKAGE_DATA", data)
    monkeypatch.delenv("VAD_HOME", raising=False)
    return data


def test_the_checkout_comes_before_the_package_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAD_HOME", raising=False)
    assert _paths.checkout() == CHECKOUT
    assert _paths.project_dir("renderers") == CHECKOUT / "renderers"


def test_an_installed_package_reads_its_own_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _fake_install(tmp_path, monkeypatch)
    (tmp_path / "site-packages" / "prompts").mkdir()  # another distribution's folder
    assert _paths.checkout() is None
    assert _paths.project_dir("prompts") == data / "prompts"


def test_vad_home_overrides_and_a_missing_folder_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _fake_install(tmp_path, monkeypatch)
    monkeypatch.setenv("VAD_HOME", str(CHECKOUT))
    assert _paths.project_dir("prompts") == CHECKOUT / "prompts"
    monkeypatch.setenv("VAD_HOME", str(tmp_path))
    with pytest.raises(InstallError, match="VAD_HOME must be the root of a vad checkout"):
        _paths.project_dir("prompts")
    monkeypatch.delenv("VAD_HOME")
    shutil.rmtree(data / "renderers")
    with pytest.raises(InstallError, match="reinstall vad"):
        _paths.project_dir("renderers")


def test_an_installed_package_records_no_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_install(tmp_path, monkeypatch)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    _run([*git, "init", "-q"])
    _run([*git, "commit", "-q", "--allow-empty", "-m", "a repository around the venv"])
    assert git_commit() == {"commit": None, "dirty": None}


def test_the_default_photos_need_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from vad.train.evaluate import default_photos

    _fake_install(tmp_path, monkeypatch)
    monkeypatch.delenv("VAD_PHOTOS", raising=False)
    with pytest.raises(TrainError, match="set VAD_PHOTOS"):
        default_photos()
    monkeypatch.setenv("VAD_PHOTOS", str(tmp_path))
    assert default_photos() == tmp_path

"""`vad doctor` on this machine: every check reports, and the machine CI runs on passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from vad import doctor
from vad.languages import language_names


def test_a_failing_check_is_an_error_line_with_its_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken():
        yield doctor.Check("tex", doctor.ERROR, "pdflatex missing", "apt-get install texlive")
        raise RuntimeError("kaboom")

    monkeypatch.setattr(doctor, "CHECKS", [("tex", broken), ("python", doctor.check_python)])
    lines: list[str] = []
    assert doctor.run_doctor(lines.append) == 1
    assert lines[0].split()[:2] == ["error", "tex"] and "-> apt-get install texlive" in lines[0]
    assert lines[1].startswith("error") and "the check failed: RuntimeError: kaboom" in lines[1]
    assert lines[2].startswith("ok") and "python" in lines[2]
    assert lines[-1] == "2 error(s)"


@pytest.mark.slow
def test_doctor_reports_every_check_on_this_machine() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vad.cli", "doctor"],
        capture_output=True, text=True, timeout=600, env=os.environ.copy(),
    )  # fmt: skip
    lines = done.stdout.splitlines()
    status = {}
    for line in lines[:-1]:
        word, rest = line.split(None, 1)
        assert word in ("ok", "warning", "error"), line
        status[rest[:26].strip()] = word
    expected = [
        "python", "packages", "optional packages", "cpu", "engine", "engine variant x64",
        "engine variant haswell", "engine variant icelake", "jail", "jail uid", "cgroups", "tex",
        "tex format", "tex packages", *(f"render {lang}" for lang in language_names()),
        "model qwen2.5-coder-0.5b", "model gemma-3-270m", "clip",
    ]  # fmt: skip
    assert sorted(status) == sorted(expected), done.stdout
    errors = [line for line in lines if line.startswith("error")]
    assert done.returncode == 0 and not errors, done.stdout
    assert lines[-1] == "all checks passed"
    model_line = next(line for line in lines if "model qwen2.5-coder-0.5b" in line)
    assert "tokens/s" in model_line and "CPU variant" in model_line


@pytest.mark.slow
def test_doctor_probes_runs_every_languages_containment_probes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from vad import doctor
    from vad.cli import main

    monkeypatch.setattr(doctor, "CHECKS", [])  # the probes alone
    assert main(["doctor", "--probes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    contained = [ln.split()[2] for ln in lines if ln.startswith("ok") and "contain" in ln]
    assert contained == language_names(), lines
    assert lines[-1] == "all checks passed"


@pytest.mark.skipif(shutil.which("kpsewhich") is None, reason="no TeX")
def test_tex_packages_off_this_machine_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vad.render.texformat.allowed_packages", lambda: ["tikz", "nosuchpkgxyz"])
    check = doctor.check_tex_packages()
    assert check.status == doctor.WARNING and "1 of the 2" in check.detail
    assert "nosuchpkgxyz" in check.detail and "tikz," not in check.detail
    assert "texlive-science" in check.fix

"""Every test writes runs and caches under tmp_path; model weights, engine builds and
the TikZ preamble's format stay shared."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from openai_server import FakeOpenAI

_SHARED_CACHE = Path(os.environ.get("VAD_CACHE_DIR") or Path.home() / ".cache" / "vad")
_SHARED_MODELS = Path(os.environ.get("VAD_MODELS_DIR") or _SHARED_CACHE / "models")
_SHARED_ENGINE = Path(os.environ.get("VAD_ENGINE_DIR") or _SHARED_CACHE / "engine")
_SHARED_TEX = Path(os.environ.get("VAD_TEX_FORMATS_DIR") or _SHARED_CACHE / "tex-formats")


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAD_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("VAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VAD_MODELS_DIR", str(_SHARED_MODELS))
    monkeypatch.setenv("VAD_ENGINE_DIR", str(_SHARED_ENGINE))
    monkeypatch.setenv("VAD_TEX_FORMATS_DIR", str(_SHARED_TEX))  # built once, checked on use
    monkeypatch.delenv("VAD_TIKZ_FORMAT", raising=False)
    monkeypatch.delenv("VAD_ENGINE_CPU", raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With $VAD_TEST_TIMES set, each test's phases and seconds go to that file as they
    end (to find what belongs under ``-m slow``)."""
    path = os.environ.get("VAD_TEST_TIMES")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{report.duration:.2f}\t{report.when}\t{report.nodeid}\n")

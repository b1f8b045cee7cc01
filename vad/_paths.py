"""Where the project's data folders and the user's caches live."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def project_dir(name: str) -> Path:
    """A top-level folder of the checkout (``prompts``, ``renderers``)."""
    base = Path(os.environ.get("VAD_HOME", ROOT))
    path = base / name
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path} not found: vad runs from a checkout (pip install -e .); "
            "set VAD_HOME to the checkout's root if it lives elsewhere"
        )
    return path


def cache_dir() -> Path:
    """Model weights and the response store: $VAD_CACHE_DIR or ~/.cache/vad."""
    path = Path(os.environ.get("VAD_CACHE_DIR") or Path.home() / ".cache" / "vad")
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """Assembled model weights: $VAD_MODELS_DIR or <cache_dir>/models."""
    path = Path(os.environ.get("VAD_MODELS_DIR") or cache_dir() / "models")
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Run outputs: the flag, else $VAD_RUNS_DIR, else ./runs/out."""
    return Path(override or os.environ.get("VAD_RUNS_DIR") or Path("runs") / "out")


def engine_dir() -> Path:
    """Builds of the embedded engine: $VAD_ENGINE_DIR or <cache_dir>/engine."""
    path = Path(os.environ.get("VAD_ENGINE_DIR") or cache_dir() / "engine")
    path.mkdir(parents=True, exist_ok=True)
    return path

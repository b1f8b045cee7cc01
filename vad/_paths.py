"""Where the project's data folders and the user's caches live."""

from __future__ import annotations

import os
from pathlib import Path

from vad.errors import InstallError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = Path(__file__).resolve().parent / "_data"  # a wheel's prompts and renderers


def checkout() -> Path | None:
    """The repository the package runs from (``pip install -e .``); None when installed."""
    return ROOT if (ROOT / "pyproject.toml").is_file() and (ROOT / "vad").is_dir() else None


def project_dir(name: str) -> Path:
    """``prompts`` or ``renderers``: $VAD_HOME/name, else the checkout's, else the copy
    a wheel installs as ``vad/_data/name``."""
    home = os.environ.get("VAD_HOME")
    if home:
        path = Path(home) / name
        if not path.is_dir():
            raise InstallError(
                f"{path} not found: VAD_HOME must be the root of a vad checkout (the "
                "folder that holds prompts/ and renderers/); unset it to use the installed copy"
            )
        return path
    root = checkout()
    for path in [*([root / name] if root else []), PACKAGE_DATA / name]:
        if path.is_dir():
            return path
    raise InstallError(
        f"{name}/ is neither in a checkout ({ROOT}) nor in the installed package "
        f"({PACKAGE_DATA}): reinstall vad (pip install -e . from a checkout, or a wheel "
        "built with pip wheel .), or set VAD_HOME to a checkout's root"
    )


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


def tex_formats_dir() -> Path:
    """The TikZ preamble dumped into pdfTeX formats: $VAD_TEX_FORMATS_DIR or
    <cache_dir>/tex-formats."""
    path = Path(os.environ.get("VAD_TEX_FORMATS_DIR") or cache_dir() / "tex-formats")
    path.mkdir(parents=True, exist_ok=True)
    return path

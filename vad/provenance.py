"""What a run records about itself: spec, code version, package versions, models."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from vad import __version__
from vad._paths import checkout
from vad.rundir import now_iso

PACKAGES = ("litellm", "openai", "cairosvg", "pyyaml", "pillow")


def git_commit() -> dict[str, Any]:
    """The checkout's commit and whether it has uncommitted changes (None outside git, and
    for an installed package, whatever repository its folder may sit in)."""
    root = checkout()
    if root is None:
        return {"commit": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if dirty is not None else None}


def package_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"vad": __version__, "python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def new_manifest(
    spec: Any, prompt_versions: dict[str, Any], models: list[tuple[Any, str]]
) -> dict[str, Any]:
    from vad.models.engines import engine_for

    model_info = []
    for model, style in models:
        info = {"name": model.name, "provider": model.provider, "style": style}
        engine = engine_for(model.provider)
        if engine is not None and model.local:
            info.update(engine.weights(model.local))
        model_info.append(info)
    return {
        "format": 1,
        "run": spec.folder_name(),
        "spec": spec.to_dict(),
        "spec_hash": spec.spec_hash(),
        "tasks": list(spec.tasks),
        "prompt_versions": prompt_versions,
        "models": model_info,
        "git": git_commit(),
        "versions": package_versions(),
        "platform": platform.platform(),
        "started_at": now_iso(),
        "status": "running",
    }

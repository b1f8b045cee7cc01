"""CLIP through open_clip: weights only from the user's cache or a path, never downloaded.

Where no weights are available every CLIP-based number is reported as unavailable,
with the reason and how to provide them; no value is ever made up.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

HOW_TO = (
    "install open_clip_torch and point VAD_CLIP_WEIGHTS at a checkpoint file "
    "(with VAD_CLIP_MODEL, e.g. ViT-B-32), or put the weights in open_clip's cache"
)


def clip_status() -> str:
    """'available: ...' or 'unavailable: <reason>; <how to fix>'."""
    if importlib.util.find_spec("open_clip") is None:
        return f"CLIP scores unavailable: open_clip_torch is not installed; to enable, {HOW_TO}."
    weights = os.environ.get("VAD_CLIP_WEIGHTS")
    if not weights:
        return f"CLIP scores unavailable: no CLIP weights given; to enable, {HOW_TO}."
    if not Path(weights).is_file():
        return f"CLIP scores unavailable: {weights} does not exist; to enable, {HOW_TO}."
    return f"CLIP weights at {weights}"

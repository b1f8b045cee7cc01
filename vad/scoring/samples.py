"""Per-sample scores: what each rendered drawing is scored by as it is made.

:func:`sample_scorers` gives the pipeline (vad.pipeline.draw) the scorers of one
concept's drawings; each returns a JSON record kept in the sample's ``scores``. Today:
the shapes verifier, for concepts whose ``attrs`` it can check. :func:`verdict` reads a
record's verifier verdict back, computing it again from the image when the record has
none or one of another verifier version, so every table counts one verifier's verdicts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vad.concepts import Concept, generate_shapes
from vad.scoring import verifier

VERIFIER = "verifier"


def sample_scorers(concept: Concept) -> dict[str, Callable[[Path], dict[str, Any]]]:
    """The per-sample scorers of ``concept``'s drawings, by name."""
    if not verifier.applies(concept.attrs):
        return {}
    attrs = dict(concept.attrs)
    return {VERIFIER: lambda image: verifier.verify(image, attrs).to_record()}


@functools.cache
def _builtin_attrs() -> dict[str, dict[str, Any]]:
    return {cid: attrs for cid, _, attrs in generate_shapes()}


def verifiable_attrs(record: dict[str, Any]) -> dict[str, Any] | None:
    """The attrs a record's drawing is verified against: those its verdict was made
    with, else the built-in shape concept's of its id; None when it has none."""
    stored = ((record.get("scores") or {}).get(VERIFIER) or {}).get("attrs")
    if verifier.applies(stored):
        return stored
    if record.get("level") == "shapes":
        attrs = _builtin_attrs().get(str(record.get("concept_id")))
        if attrs is not None and verifier.applies(attrs):
            return attrs
    return None


def verdict(record: dict[str, Any], folder: Path | None) -> dict[str, Any] | None:
    """The verifier's record of a sample's drawing (None: not rendered, or no image to
    read): the stored one when made by this verifier version, else made now."""
    if not record.get("image"):
        return None
    stored = (record.get("scores") or {}).get(VERIFIER)
    if (isinstance(stored, dict) and stored.get("version") == verifier.VERSION
            and isinstance(stored.get("checks"), dict)
            and isinstance(stored.get("verified"), bool)):  # fmt: skip
        return stored
    attrs = verifiable_attrs(record)
    if attrs is None or folder is None:
        return None
    image = folder / str(record["image"])
    if not image.is_file():
        return None
    try:
        return verifier.verify(image, attrs).to_record()
    except Exception as exc:  # an image it cannot read: not verified, with the reason
        return {"version": verifier.VERSION, "verified": False, "checks": {},
                "reason": f"unreadable image: {type(exc).__name__}", "attrs": attrs}  # fmt: skip

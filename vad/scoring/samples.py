"""Per-sample scores: what each rendered drawing is scored by as it is made.

:func:`sample_scorers` gives the pipeline (vad.pipeline.draw) the scorers of one
concept's drawings; each returns a JSON record kept in the sample's ``scores``. Today:
the shapes verifier, for concepts whose ``attrs`` it can check. :func:`verdict` reads a
record's verifier verdict back, computing it again from the image when the record has
none or one of another verifier version, so every table counts one verifier's verdicts.
:func:`keep` decides ``vad generate --keep-if`` from the same scores.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
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
    image = (folder / str(record["image"])).resolve()
    if not image.is_relative_to(folder.resolve()) or not image.is_file():
        return None  # a record naming a file outside its run is read by nobody
    try:
        return verifier.verify(image, attrs).to_record()
    except Exception as exc:  # an image it cannot read: not verified, with the reason
        return {"version": verifier.VERSION, "verified": False, "checks": {},
                "reason": f"unreadable image: {type(exc).__name__}", "attrs": attrs}  # fmt: skip


# ---------------------------------------------------------------- keeping by score

# What a drawing's per-sample scores give as numbers: the verifier's verdict (1 or 0) and
# each of its attributes (present only where the concept has the attribute).
KEEP_SCORES = ("verified", *verifier.ATTRIBUTES)
_OPS = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__,
        "==": float.__eq__}  # fmt: skip


@dataclass(frozen=True)
class Condition:
    """``SCORE OP X`` (``verified`` alone: ``verified>=1``)."""

    score: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.score}{self.op}{self.value:g}"


def parse_condition(text: str) -> Condition:
    """A --keep-if condition, or ValueError naming what is allowed."""
    raw = text.strip()
    for op in sorted(_OPS, key=len, reverse=True):
        if op in raw:
            name, _, value = raw.partition(op)
            break
    else:
        name, op, value = raw, ">=", "1"
    name = name.strip()
    if name not in KEEP_SCORES:
        raise ValueError(f"{text!r}: unknown score {name!r}; choose from {', '.join(KEEP_SCORES)}"
                         " (as SCORE>=X, or a score alone for SCORE>=1)")  # fmt: skip
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{text!r}: {value.strip()!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r}: the threshold must be a finite number")
    passing = [v for v in (0.0, 1.0) if _OPS[op](v, number)]  # every score is 0 or 1
    if not passing:
        raise ValueError(f"{text!r} can never pass: {name} is 0 or 1 (e.g. {name}>=1)")
    if len(passing) == 2:
        raise ValueError(f"{text!r} keeps everything: {name} is 0 or 1 (e.g. {name}>=1)")
    return Condition(name, op, number)


def score_values(scores: dict[str, Any] | None) -> dict[str, float]:
    """The numbers a drawing's per-sample scores give, by :data:`KEEP_SCORES` name."""
    found = (scores or {}).get(VERIFIER)
    if not isinstance(found, dict) or "checks" not in found:
        return {}
    values = {"verified": 1.0 if found.get("verified") is True else 0.0}
    for attribute, ok in (found.get("checks") or {}).items():
        values[attribute] = 1.0 if ok is True else 0.0
    return values


def keep(conditions: list[Condition], scores: dict[str, Any] | None) -> str | None:
    """None when the drawing passes every condition, else why not (a score it lacks
    fails: a concept the verifier cannot check is not verified)."""
    values = score_values(scores)
    for cond in conditions:
        if cond.score not in values:
            found = (scores or {}).get(VERIFIER) or {}
            why = found.get("error") or "no such score for this drawing"
            return f"{cond}: {why}"
        if not _OPS[cond.op](values[cond.score], cond.value):
            reason = ((scores or {}).get(VERIFIER) or {}).get("reason") or ""
            return f"{cond} failed" + (f" ({reason})" if reason else "")
    return None

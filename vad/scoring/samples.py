"""Per-sample scores: what each rendered drawing is scored by as it is made.

:func:`sample_scorers` gives the pipeline (vad.pipeline.draw) the scorers of one
concept's drawings; each returns a JSON record kept in the sample's ``scores``. Today:
the shapes verifier, for concepts whose ``attrs`` it can check. :func:`verdict` reads a
record's verifier verdict back, computing it again from the image when the record has
none or one of another verifier version, so every table counts one verifier's verdicts.
:func:`keep` decides ``vad generate --keep-if`` from the same scores (and from a vision
judge's fidelity rating, the scorer ``vad generate --judge`` adds: vad.judge.scorer).
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
# each of its attributes (present only where the concept has the attribute), and a vision
# judge's fidelity rating (1 to 10; ``vad generate --judge``).
FIDELITY = "fidelity"
KEEP_SCORES = ("verified", *verifier.ATTRIBUTES, FIDELITY)
_VALUES = {FIDELITY: tuple(float(v) for v in range(1, 11))}  # the rest: 0 or 1
_OPS = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__,
        "==": float.__eq__}  # fmt: skip


def _source(score: str) -> str:
    """The per-sample scorer whose record gives ``score``."""
    return FIDELITY if score == FIDELITY else VERIFIER


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
    for wrong, right in (("=>", ">="), ("=<", "<=")):
        if wrong in raw:
            raise ValueError(f"{text!r}: write {right}, not {wrong} (e.g. "
                             f"{raw.replace(wrong, right)})")  # fmt: skip
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
    values = _VALUES.get(name, (0.0, 1.0))
    passing = [v for v in values if _OPS[op](v, number)]
    span = f"{name} is {values[0]:g} to {values[-1]:g}" if len(values) > 2 else f"{name} is 0 or 1"
    example = f"{name}>={values[-1] if len(values) == 2 else 7:g}"
    if not passing:
        raise ValueError(f"{text!r} can never pass: {span} (e.g. {example})")
    if len(passing) == len(values):
        raise ValueError(f"{text!r} keeps everything: {span} (e.g. {example})")
    return Condition(name, op, number)


def score_values(scores: dict[str, Any] | None) -> dict[str, float]:
    """The numbers a drawing's per-sample scores give, by :data:`KEEP_SCORES` name."""
    values: dict[str, float] = {}
    found = (scores or {}).get(VERIFIER)
    if isinstance(found, dict) and "checks" in found:
        values["verified"] = 1.0 if found.get("verified") is True else 0.0
        for attribute, ok in (found.get("checks") or {}).items():
            values[attribute] = 1.0 if ok is True else 0.0
    judged = (scores or {}).get(FIDELITY)
    if isinstance(judged, dict) and isinstance(judged.get("score"), int | float):
        values[FIDELITY] = float(judged["score"])
    return values


def keep(conditions: list[Condition], scores: dict[str, Any] | None) -> str | None:
    """None when the drawing passes every condition, else why not (a score it lacks
    fails: a concept the verifier cannot check is not verified; a judge's reply without
    a score is not a rating)."""
    values = score_values(scores)
    for cond in conditions:
        found = (scores or {}).get(_source(cond.score)) or {}
        if cond.score not in values:
            why = found.get("error") or ("the judge's reply gave no score"
                                         if found.get("parsed") is False
                                         else "no such score for this drawing")  # fmt: skip
            return f"{cond}: {why}"
        if not _OPS[cond.op](values[cond.score], cond.value):
            reason = found.get("reason") or ""
            return f"{cond} failed" + (f" ({reason})" if reason else "")
    return None


def needs_verifier(conditions: list[Condition]) -> bool:
    return any(_source(c.score) == VERIFIER for c in conditions)


def needs_judge(conditions: list[Condition]) -> bool:
    return any(_source(c.score) == FIDELITY for c in conditions)

"""Load concepts: the shipped dataset plus user files (CSV or JSONL), with filters."""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vad.concepts.shapes import generate_shapes
from vad.errors import ConceptFileError, VadError

LEVELS = ("shapes", "objects", "scenes")
DATA_DIR = Path(__file__).parent / "data"
MAX_ID, MAX_LEVEL = 128, 32
_ID_RE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID - 1}}}$")
_LEVEL_RE = re.compile(rf"^[a-z][a-z0-9_-]{{0,{MAX_LEVEL - 1}}}$")
ID_RULE = "ASCII letters, digits, '.', '_' or '-' (starting with a letter or digit)"
LEVEL_RULE = "lower-case ASCII letters, digits, '_' or '-' (starting with a letter)"
MAX_CAPTION = 300


@dataclass(frozen=True)
class Concept:
    """One thing to draw: a stable id, its level and the caption shown to models."""

    id: str
    level: str
    caption: str
    attrs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    source: str = field(default="builtin", compare=False)


def _check_row(row: dict[str, Any], path: str, line: int) -> Concept:
    for name in ("id", "level", "caption"):
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConceptFileError(path, line, name, f"missing or empty; every row needs '{name}'")
        if not isinstance(value, str):
            raise ConceptFileError(path, line, name, f"must be text, got {type(value).__name__}")
    cid, level, caption = row["id"].strip(), row["level"].strip(), row["caption"].strip()
    if not _ID_RE.match(cid):
        raise ConceptFileError(path, line, "id", _bad_name(cid, "id", MAX_ID, ID_RULE))
    if not _LEVEL_RE.match(level):
        raise ConceptFileError(
            path, line, "level", _bad_name(level, "level", MAX_LEVEL, LEVEL_RULE)
        )
    if len(caption) > MAX_CAPTION or "\n" in caption:
        raise ConceptFileError(
            path, line, "caption", f"must be one line of at most {MAX_CAPTION} characters"
        )
    attrs = row.get("attrs") or {}
    if not isinstance(attrs, dict):
        raise ConceptFileError(path, line, "attrs", "must be a JSON object when present")
    extra = {k: v for k, v in row.items() if k not in ("id", "level", "caption", "attrs")}
    extra = {k: v for k, v in extra.items() if k and v not in (None, "")}
    return Concept(cid, level, caption, {**extra, **attrs}, source=path)


def _bad_name(value: str, what: str, longest: int, rule: str) -> str:
    """Why an id or level is refused, and what it may be."""
    shown = repr(value if len(value) <= 40 else value[:40] + "...")
    odd = sorted({ch for ch in value if not ch.isascii()})
    if odd:
        why = f"has characters outside ASCII ({''.join(odd[:5])!r})"
    elif len(value) > longest:
        why = f"is {len(value)} characters long, over the limit of {longest}"
    else:
        why = "is not valid"
    article = "an" if what[0] in "aeiou" else "a"
    return f"{shown} {why}: {article} {what} is {rule}, at most {longest} characters"


def _read_text(path: Path) -> str:
    """The file as text: UTF-8 with or without a BOM; any other encoding is refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VadError(f"cannot read concept file {path} ({exc.strerror}): check it") from None
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start
        utf16 = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ConceptFileError(
            str(path),
            data[:offset].count(b"\n") + 1,
            "-",
            f"not UTF-8 text: byte {offset} is 0x{data[offset]:02x}{utf16}; save it as UTF-8",
        ) from None


def _rows_csv(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with io.StringIO(_read_text(path), newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("id", "level", "caption") if c not in (reader.fieldnames or [])]
        if missing:
            raise ConceptFileError(
                str(path), 1, missing[0], "the header row must name columns id, level, caption"
            )
        for row in reader:
            if None in row:
                raise ConceptFileError(
                    str(path),
                    reader.line_num,
                    "caption",
                    "more values than header columns; quote captions that contain commas",
                )
            yield reader.line_num, row


def _rows_jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with io.StringIO(_read_text(path), newline=None) as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConceptFileError(
                    str(path), number, "-", f"not valid JSON ({exc.msg})"
                ) from None
            if not isinstance(row, dict):
                raise ConceptFileError(str(path), number, "-", "each line must be a JSON object")
            yield number, row


def read_concept_file(path: str | Path) -> list[Concept]:
    """Read a user concept file (``.csv`` or ``.jsonl``); bad rows raise ConceptFileError."""
    path = Path(path)
    if not path.is_file():
        raise VadError(f"concept file {path} does not exist: check the path")
    if path.suffix.lower() == ".csv":
        rows = _rows_csv(path)
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = _rows_jsonl(path)
    else:
        raise VadError(f"concept file {path}: use a .csv or .jsonl file")
    concepts, seen = [], {}
    for line, row in rows:
        concept = _check_row(row, str(path), line)
        if concept.id in seen:
            raise ConceptFileError(
                str(path), line, "id", f"{concept.id!r} repeats line {seen[concept.id]}"
            )
        seen[concept.id] = line
        concepts.append(concept)
    return concepts


def builtin_concepts() -> list[Concept]:
    """The shipped dataset, in a fixed order: shapes, objects, scenes."""
    shapes = [Concept(cid, "shapes", cap, attrs) for cid, cap, attrs in generate_shapes()]
    return (
        shapes
        + read_concept_file(DATA_DIR / "objects.csv")
        + read_concept_file(DATA_DIR / "scenes.csv")
    )


def load_concepts(
    levels: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    limit: int | dict[str, int] | None = None,
    seed: int = 0,
    extra_files: Sequence[str | Path] = (),
    builtin: bool = True,
) -> list[Concept]:
    """Select concepts.

    ``levels`` and ``ids`` filter; ``limit`` keeps at most N per level (an int for every
    level, or a dict by level), drawn by a seeded sample that keeps dataset order.
    """
    pool = builtin_concepts() if builtin else []
    for extra in extra_files:
        pool.extend(read_concept_file(extra))
    known: dict[str, Concept] = {}
    for concept in pool:
        if concept.id in known:
            raise VadError(
                f"concept id {concept.id!r} appears in both {known[concept.id].source} and "
                f"{concept.source}: rename one of them"
            )
        known[concept.id] = concept
    if levels:
        present = {c.level for c in pool}
        unknown = [lv for lv in levels if lv not in present]
        if unknown:
            raise VadError(
                f"unknown level {unknown[0]!r}: choose from {', '.join(sorted(present))}"
            )
        pool = [c for c in pool if c.level in levels]
    if ids:
        missing = [i for i in ids if i not in known]
        if missing:
            raise VadError(f"unknown concept id {missing[0]!r}: see `vad concepts` for ids")
        wanted = set(ids)
        pool = [c for c in pool if c.id in wanted]
    if limit is not None:
        pool = _limit_per_level(pool, limit, seed)
    return pool


def _limit_per_level(pool: list[Concept], limit: int | dict[str, int], seed: int) -> list[Concept]:
    by_level: dict[str, list[int]] = {}
    for index, concept in enumerate(pool):
        by_level.setdefault(concept.level, []).append(index)
    keep: set[int] = set()
    for level, indices in by_level.items():
        n = limit.get(level, 0) if isinstance(limit, dict) else limit
        if n < 0:
            raise VadError(f"limit for {level} must be >= 0")
        rng = random.Random(f"{seed}:{level}")
        keep.update(indices if n >= len(indices) else rng.sample(indices, n))
    return [c for i, c in enumerate(pool) if i in keep]

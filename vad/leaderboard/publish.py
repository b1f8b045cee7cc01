"""The leaderboard's samples as a dataset any ML user can load: Parquet with the images.

``write_dataset`` writes, under ``out``::

    data/train-00000-of-0000N.parquet   one row per sample: its fields, every score, and
                                        the drawing (the Hugging Face ``Image`` layout)
    README.md                           the dataset card: YAML header, columns, runs

in the layout Hugging Face ``datasets`` reads as it is (``load_dataset("parquet",
data_dir=out / "data")`` or ``load_dataset(out)``, through the card's ``configs``), so
publishing is the user's own ``huggingface-cli upload``. Nothing here needs ``datasets``:
its feature description is written by hand into each shard's schema metadata, so a reader
decodes ``image`` to a PIL image. Shards are written a row group at a time, so a board of
100k drawings never holds more than a row group's images in memory.

Model-written text (code, replies, renderers' reasons) is data, not markup: it is kept as
written, NULs and escapes included, but for lone surrogates, which are not UTF-8 and which
Parquet refuses; they become U+FFFD.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from vad.errors import VadError
from vad.fsutil import read_regular
from vad.scoring.base import Sample

ROW_GROUP = 100  # rows (images) in memory at once; small groups also suit the HF viewer
CLIP_COLUMNS = {"clip_rank": "rank", "clip_top1": "top1", "clip_top5": "top5",
                "clipscore": "clipscore"}  # fmt: skip
# column -> (Hugging Face dtype, meaning); ``image`` is the Image feature
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("string", "unique key: run/sample_id"),
    "run": ("string", "the run folder the sample came from"),
    "sample_id": ("string", "the sample's id in its run (task:model:language:concept:index...)"),
    "line": ("int64", "its line (1-based) in the run's samples.jsonl"),
    "task": ("string", "draw, recognize, correct, ..."),
    "model": ("string", "the model asked (provider/name)"),
    "concept_id": ("string", "the concept to draw or recognise"),
    "level": ("string", "the concept's level (shapes, objects, scenes, ...)"),
    "caption": ("string", "the concept's caption, as given to the model"),
    "language": ("string", "the drawing language (svg, tikz, matplotlib, ...)"),
    "sample_index": ("int64", "which of the samples asked per concept"),
    "round": ("int64", "the correction round (correct task); null otherwise"),
    "prompt_version": ("string", "the version of the task's prompt templates"),
    "status": ("string", "ok, or why there is no drawing (no_code, syntax_error, timeout...)"),
    "reason": ("string", "the renderer's reason for a failed render (untrusted text)"),
    "verified": ("bool", "the shapes verifier's verdict: every attribute right (null: none)"),
    "correct": ("bool", "recognize: the model named the concept; null for other tasks"),
    "clip_rank": ("float64", "CLIP rank (0 = best) of the true caption among the level's captions"),
    "clip_top1": ("float64", "CLIP: the true caption ranked first (1.0) or not (0.0)"),
    "clip_top5": ("float64", "CLIP: the true caption in the top five"),
    "clipscore": ("float64", "CLIPScore of the drawing and its caption"),
    "scores": ("string", "JSON of the sample's per-sample scores (verifier verdict, checks...)"),
    "code": ("string", "the drawing program (the model's; recognize: the one shown)"),
    "raw_reply": ("string", "the model's whole reply (untrusted)"),
    "prompt_tokens": ("int64", "prompt tokens billed"),
    "completion_tokens": ("int64", "completion tokens billed"),
    "cost_usd": ("float64", "cost in US dollars; null where unknown"),
    "latency_s": ("float64", "seconds the model call took"),
    "image": ("image", "the rendered drawing (PNG); null where there is none"),
    "extra": ("string", "JSON of the record's other fields (settings, render details...)"),
}
_RECORD_COLUMNS = {"sample_id", "task", "model", "concept_id", "level", "caption", "language",
                   "sample_index", "round", "prompt_version", "status", "reason", "correct",
                   "scores", "code", "raw_reply", "prompt_tokens", "completion_tokens",
                   "cost_usd", "latency_s", "image"}  # fmt: skip
_SURROGATE = re.compile("[\ud800-\udfff]")
# what the card shows escaped: C0 controls, DEL, C1 controls, lone surrogates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SHARD = re.compile(r"train-\d{5}-of-\d{5}\.parquet")


def write_dataset(
    out: Path,
    samples: list[Sample],
    folders: dict[str, Path],
    scores: dict[tuple[str, int], dict[str, Any]] | None = None,
    manifests: list[dict[str, Any]] | None = None,
    shard_rows: int = 5000,
) -> Path:
    """Write ``samples`` as Parquet shards under ``out/data`` and the card ``out/README.md``.

    ``folders`` maps each run to its folder, where images are read (never through a
    symlink or from outside it: such an image is left null); ``scores`` are the CLIP
    numbers per (run, line), where CLIP ran; ``manifests`` the runs' manifests (with
    ``run``), named in the card. Shards from an earlier write are replaced. Returns ``out``.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise VadError("writing the dataset needs pyarrow: pip install 'vad[train]'") from None
    if shard_rows < 1:
        raise VadError(f"shard_rows must be at least 1, not {shard_rows}")
    data = Path(out) / "data"
    if data.is_symlink():
        raise VadError(f"{data} is a symlink: choose another folder to write the dataset to")
    data.mkdir(parents=True, exist_ok=True)
    for old in data.iterdir():  # a smaller board must not keep an earlier write's last
        if _SHARD.fullmatch(old.name) and (old.is_symlink() or old.is_file()):
            old.unlink()  # shards; and a shard's name must not lead out through a symlink
    schema = _schema(pa)
    n = max(1, math.ceil(len(samples) / shard_rows))  # an empty board is one empty shard
    for i in range(n):
        part = samples[i * shard_rows : (i + 1) * shard_rows]
        with pq.ParquetWriter(data / f"train-{i:05d}-of-{n:05d}.parquet", schema) as writer:
            for group in _groups(part, ROW_GROUP):
                rows = [_row(s, folders, scores or {}) for s in group]
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            if not part:
                writer.write_table(schema.empty_table())
    card = _card(len(samples), manifests or [])
    (Path(out) / "README.md").write_text(card, encoding="utf-8")
    return Path(out)


def _groups(items: list[Sample], size: int) -> Iterator[list[Sample]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _features() -> dict[str, Any]:
    """The ``datasets`` Features of the columns, as ``Features.to_dict()`` writes them."""
    return {name: {"_type": "Image"} if dtype == "image" else {"dtype": dtype, "_type": "Value"}
            for name, (dtype, _) in COLUMNS.items()}  # fmt: skip


def _schema(pa: Any) -> Any:
    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
             "bool": pa.bool_(), "image": pa.struct([("bytes", pa.binary()),
                                                     ("path", pa.string())])}  # fmt: skip
    meta = {b"huggingface": json.dumps({"info": {"features": _features()}}).encode()}
    return pa.schema([(name, types[dtype]) for name, (dtype, _) in COLUMNS.items()], meta)


def _row(
    sample: Sample, folders: dict[str, Path], clip: dict[tuple[str, int], Any]
) -> dict[str, Any]:
    """One sample's row; numbers of the wrong type (an older run's record) are left null."""
    run, line, rec = sample
    per_sample = rec.get("scores") if isinstance(rec.get("scores"), dict) else {}
    verifier = per_sample.get("verifier")
    render = rec.get("render") if isinstance(rec.get("render"), dict) else {}
    numbers = clip.get((run, line)) or {}
    row = {
        "id": _text(f"{run}/{rec.get('sample_id')}"),
        "run": _text(run),
        "line": line,
        "reason": _text(rec.get("reason") or render.get("reason") or None),
        "verified": _flag(verifier.get("verified")) if isinstance(verifier, dict) else None,
        "correct": _flag(rec.get("correct")),
        "scores": _json(per_sample) if per_sample else None,
        "image": _image(run, rec.get("image"), folders),
        "extra": _json({k: v for k, v in rec.items() if k not in _RECORD_COLUMNS}),
    }
    row |= {col: _number(numbers.get(key), float) for col, key in CLIP_COLUMNS.items()}
    for name, (dtype, _) in COLUMNS.items():
        if name not in row:
            value = rec.get(name)
            row[name] = (_text(value) if dtype == "string" else
                         _number(value, int if dtype == "int64" else float))  # fmt: skip
    return row


def _text(value: Any) -> str | None:
    """A string Parquet accepts: lone surrogates (not UTF-8) made U+FFFD, all else kept."""
    if value is None:
        return None
    return _SURROGATE.sub("\ufffd", value if isinstance(value, str) else str(value))


def _json(value: Any) -> str:
    return _text(json.dumps(value, ensure_ascii=False, default=str)) or ""


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _number(value: Any, kind: type) -> int | float | None:
    """``value`` as ``kind``, or None where it is missing or not a number (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind is int:
        whole = isinstance(value, int) or value.is_integer()
        return int(value) if whole and -(2**63) <= value < 2**63 else None  # int64
    try:
        return float(value)
    except OverflowError:  # an int past float's range
        return None


def _image(run: str, rel: Any, folders: dict[str, Path]) -> dict[str, Any] | None:
    """The Image cell of a record's drawing: None where there is none, it is not a regular
    file inside its run (a symlink, an escape) or it is not an image PIL can open."""
    if not isinstance(rel, str) or not rel or run not in folders:
        return None
    data = read_regular(folders[run], rel)
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:  # the header only: a reader can decode it
            img.size  # noqa: B018
    except Exception:  # PIL raises many kinds on bad bytes (and on decompression bombs)
        return None
    return {"bytes": data, "path": _text(f"{run}/{rel}")}


def _code(text: object) -> str:
    """``text`` as Markdown inline code: controls visible, no backtick to break out."""
    shown = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))
    return "`" + shown.replace("`", "'") + "`"


def _card(rows: int, manifests: list[dict[str, Any]]) -> str:
    """The dataset card: the YAML header ``datasets`` and the Hub read, then the body."""
    header = {
        "license": "other",
        "task_categories": ["text-to-image", "image-to-text"],
        "tags": ["code-generation", "svg", "tikz", "drawing", "benchmark", "vad"],
        "pretty_name": "vad: drawings by text-only language models",
        "size_categories": [_size(rows)],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": "train", "path": "data/train-*"}]}],
        "dataset_info": {  # (no splits: the Hub wants their Arrow size, which it computes)
            "features": [{"name": name, "dtype": dtype} for name, (dtype, _) in COLUMNS.items()],
        },
    }  # fmt: skip
    columns = "\n".join(f"| `{name}` | {dtype} | {meaning} |"
                        for name, (dtype, meaning) in COLUMNS.items())  # fmt: skip
    runs = "\n".join(_run_line(m) for m in manifests) or "- (no manifest given)"
    return f"""---
{yaml.safe_dump(header, sort_keys=False, allow_unicode=False)}---

# vad: drawings by text-only language models

Text-only language models were asked to write code (SVG, TikZ, matplotlib, ...) that draws
a concept; the code was rendered in a sandbox. One row per sample ({rows} rows): what was
asked, what the model wrote, the rendered drawing, and every score the leaderboard has.

**Model-written text is untrusted data.** `code`, `raw_reply`, `reason` and the other text
columns hold what models (or renderers on their code) wrote, as written: control
characters, markup and anything else. Do not run the code outside a sandbox, and escape
the text before showing it in a page or terminal.

## Loading

```python
from datasets import load_dataset

ds = load_dataset("path/to/this/folder", split="train")  # or the Hub repo's name
ds = load_dataset("parquet", data_dir="path/to/this/folder/data", split="train")
ds[0]["image"]  # a PIL image (None where the sample has no drawing)
```

## Columns

| column | type | meaning |
|---|---|---|
{columns}

`scores` and `extra` are JSON strings: `json.loads(row["scores"])`. A row has no image where
its task draws nothing (recognize reads a reference drawing) or its drawing failed: then
`status` says why.

## Runs

{runs}
"""


def _run_line(manifest: dict[str, Any]) -> str:
    models = manifest.get("models")
    names = [m.get("name") for m in models if isinstance(m, dict)] if isinstance(
        models, list) else []  # fmt: skip
    commit = (manifest.get("git") or {}).get("commit") if isinstance(
        manifest.get("git"), dict) else None  # fmt: skip
    return (f"- run {_code(manifest.get('run'))}: models {', '.join(_code(n) for n in names)}"
            f"; prompt versions {_code(json.dumps(manifest.get('prompt_versions')))}"
            f"; commit {_code(commit)}")  # fmt: skip


def _size(rows: int) -> str:
    """The Hub's size category for ``rows``."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M")):  # fmt: skip
        if rows < limit:
            return name
    return "1M<n<10M"

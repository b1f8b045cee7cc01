"""Generation settings from a YAML file and flags, validated like run specs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vad.errors import SpecError
from vad.fsutil import sha256_file
from vad.spec import FieldCheck, retry_fields
from vad.store import cache_key
from vad.textfile import read_mapping


@dataclass(frozen=True)
class GenerateSpec:
    """What a generation makes. ``n`` and how it is run are not in the settings hash:
    the same settings with a larger ``n`` go on from where a run stopped."""

    models: tuple[str, ...] = ("local/qwen2.5-coder-0.5b",)
    languages: tuple[str, ...] = ("svg",)
    strategy: str = "vad"
    levels: tuple[str, ...] = ("shapes", "objects", "scenes")
    concept_files: tuple[str, ...] = ()
    n: int = 100
    size: int = 64
    temperature: float = 1.0
    max_tokens: int = 1024
    seed: int = 0
    width: int = 224
    height: int = 224
    api_base: str | None = None
    dedupe_distance: int = 4
    min_std: float = 4.0
    max_dominant: float = 0.995
    shard_size: int = 1000
    max_connections: int | None = None  # None: 4, an embedded model its slots (models.seam)
    slots: int | None = None
    max_requests: int | None = None  # default 20 x n: a model whose drawings all fail stops
    shard: tuple[int, int] = (0, 1)  # (I, N): this run does items I, I+N, I+2N, ... only
    source: str | None = None  # vary: the set whose kept programs are varied
    proposals: str | None = None  # propose: concepts proposed by an earlier run

    def settings(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("n", "shard_size", "max_connections", "slots", "max_requests"):
            data.pop(key)
        # A concept file edited in place changes what the stream's positions mean.
        data["concept_files_sha256"] = [
            sha256_file(f) if Path(f).is_file() else None for f in self.concept_files
        ]
        if self.proposals is None:
            data.pop("proposals")  # (the settings of sets made before the field existed)
        else:
            data["proposals_sha256"] = (
                sha256_file(self.proposals) if Path(self.proposals).is_file() else None
            )
        return data

    def settings_hash(self) -> str:
        return cache_key(self.settings())[:10]


# field -> (flag, kind, low, high); kinds: int, number, names, languages, name, path, shard, bool
FIELDS: dict[str, tuple[str, str, float | None, float | None]] = {
    "out": ("--out", "path", None, None),
    "n": ("--n", "int", 1, 10**9),
    "models": ("--model", "names", None, None),
    "api_base": ("--api-base", "name", None, None),
    "languages": ("--lang", "languages", None, None),
    "strategy": ("--strategy", "name", None, None),
    "levels": ("--level", "names", None, None),
    "concept_files": ("--concepts", "names", None, None),
    "source": ("--from", "path", None, None),
    "proposals": ("--proposals", "path", None, None),
    "size": ("--size", "int", 8, 4096),
    "temperature": ("--temperature", "number", 0, 2),
    "max_tokens": ("--max-tokens", "int", 1, 10**6),
    "seed": ("--seed", "int", 0, None),
    "dedupe_distance": ("--dedupe-distance", "int", -1, 32),
    "shard_size": ("--shard-size", "int", 1, 10**7),
    "max_requests": ("--max-requests", "int", 1, 10**12),
    "max_connections": ("--max-connections", "int", 1, 4096),
    "slots": ("--slots", "int", 1, 256),
    "shard": ("--shard", "shard", None, None),
    "max_cost": ("--max-cost", "cost", None, None),
    "batch": ("--batch", "bool", None, None),
    "batch_size": ("--batch-size", "int", 1, 50_000),
    "batch_poll": ("--batch-poll", "number", 0.01, 3600),
    # timeout, max_retries, base_delay, max_delay: as in run specs (--timeout, --max-retries)
    "retry": ("--timeout", "retry", None, None),
}
DEFAULTS: dict[str, Any] = {"shard": (0, 1), "batch": False, "batch_size": 1000,
                            "batch_poll": 30.0}  # fmt: skip


def _shard(check: FieldCheck, name: str, value: Any) -> tuple[int, int]:
    index, _, count = str(value).partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise check.bad(name, value, "must be I/N with 0 <= I < N, e.g. 0/4")
    return int(index), int(count)


def check_value(check: FieldCheck, name: str, value: Any) -> Any:
    """One setting, validated: the message names the file's field or the flag."""
    _, kind, low, high = FIELDS[name]
    if kind == "int":
        return check.integer(name, value, int(low or 0), None if high is None else int(high))
    if kind == "number":
        return check.number(name, value, low or 0, high)
    if kind == "cost":
        return check.number(name, value, 0, above=True)
    if kind == "names":
        return check.names(name, value, nonempty=True)
    if kind == "languages":
        return check.languages(name, value)
    if kind == "shard":
        return _shard(check, name, value)
    if kind == "retry":
        return check.mapping(name, value, retry_fields(check))
    if kind == "bool":
        if not isinstance(value, bool):
            raise check.bad(name, value, "must be true or false")
        return value
    if not isinstance(value, str) or not value.strip():
        raise check.bad(name, value, "must be a non-empty string")
    return str(Path(value).resolve()) if kind == "path" else value


def load_settings(path: str | Path) -> dict[str, Any]:
    """A generation spec file: a mapping of the settings above (``out`` relative to it)."""
    path = Path(path)
    data = read_mapping(path, "generation spec", "settings (out, n, models, ...: the flags' "
                        "names)")  # fmt: skip
    check = FieldCheck(str(path))
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise check.bad(str(unknown[0]), data[unknown[0]],
                        f"unknown field; valid: {', '.join(FIELDS)}")  # fmt: skip
    return {k: check_value(check, k, v) for k, v in data.items()}


def settings_from_flags(values: dict[str, Any]) -> dict[str, Any]:
    """The flags that were given, validated and named as flags."""
    check = FieldCheck("command line")
    out = {}
    for name, value in values.items():
        if value is None or (name == "batch" and value is False):
            continue
        flag = FIELDS[name][0]
        try:
            out[name] = check_value(check, name, value)
        except SpecError as exc:  # name the flag, not the field
            raise SpecError(str(exc).replace(check.name(name), flag, 1)) from None
    return out

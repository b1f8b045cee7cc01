"""Run specs: YAML files or CLI flags, validated into one frozen config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vad.errors import SpecError
from vad.store import cache_key

TASKS = ("draw", "recognize", "correct")
STYLES = ("auto", "chat", "completion")


@dataclass(frozen=True)
class ModelEntry:
    """One model of a run: its name, an optional endpoint and prompt style."""

    name: str
    api_base: str | None = None
    style: str = "auto"


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run. Fields under ``_NOT_IN_HASH`` do not change outputs."""

    name: str = "draw"
    tasks: tuple[str, ...] = ("draw",)
    models: tuple[ModelEntry, ...] = (ModelEntry("local/qwen2.5-coder-0.5b"),)
    levels: tuple[str, ...] = ("shapes",)
    languages: tuple[str, ...] = ("svg",)
    samples: int = 1
    limit: int | dict[str, int] | None = None
    ids: tuple[str, ...] = ()
    concept_seed: int = 0
    concept_files: tuple[str, ...] = ()
    temperature: float = 0.8
    max_tokens: int = 1024
    seed: int = 0
    width: int = 224
    height: int = 224
    recognize: dict[str, Any] = field(default_factory=dict)  # modes, options, sources
    correct: dict[str, Any] = field(default_factory=dict)  # rounds
    max_connections: int = 4
    sandbox: bool = True
    rate_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    retry: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def spec_hash(self) -> str:
        """Hash of the output-affecting fields: same hash, same run folder."""
        data = {k: v for k, v in self.to_dict().items() if k not in _NOT_IN_HASH}
        return cache_key(data)[:10]

    def folder_name(self) -> str:
        return f"{self.name}-{self.spec_hash()}"


_NOT_IN_HASH = {"name", "max_connections", "rate_limits", "retry", "sandbox"}
_RETRY_KEYS = {"max_retries", "base_delay", "max_delay", "timeout"}
_LIMIT_KEYS = {"max_connections", "rpm"}


def _as_tuple(value: Any, key: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple):
        return tuple(value)
    raise SpecError(f"'{key}' must be a list or a comma-separated string")


def _model_entry(value: Any) -> ModelEntry:
    if isinstance(value, str):
        return ModelEntry(value)
    if isinstance(value, dict) and "name" in value:
        unknown = set(value) - {"name", "api_base", "style"}
        if unknown:
            raise SpecError(f"model entry {value['name']!r}: unknown key {sorted(unknown)[0]!r}")
        return ModelEntry(value["name"], value.get("api_base"), value.get("style", "auto"))
    raise SpecError("each model is a name or a mapping with 'name' (and api_base, style)")


def spec_from_dict(data: dict[str, Any], source: str = "spec") -> RunSpec:
    """Validate a mapping (from YAML or flags) into a RunSpec; errors name the field."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a run spec is a mapping of fields")
    known = {f.name for f in dataclasses.fields(RunSpec)} | {"task"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(
            f"{source}: unknown field {unknown[0]!r}; known: {', '.join(sorted(known))}"
        )
    values = dict(data)
    if "task" in values:  # one task: a shorthand for tasks: [task]
        values["tasks"] = [values.pop("task")]
    if "models" in values:
        values["models"] = tuple(_model_entry(m) for m in _as_tuple(values["models"], "models"))
    for key in ("tasks", "levels", "languages", "ids", "concept_files"):
        if key in values:
            values[key] = tuple(str(v) for v in _as_tuple(values[key], key))
    try:
        spec = RunSpec(**values)
    except TypeError as exc:
        raise SpecError(f"{source}: {exc}") from None
    _check(spec, source)
    return spec


def _check(spec: RunSpec, source: str) -> None:
    def bad(field_name: str, problem: str) -> SpecError:
        return SpecError(f"{source}: field '{field_name}' {problem}")

    if not spec.tasks or set(spec.tasks) - set(TASKS):
        raise bad("tasks", f"must be among {TASKS}")
    if set(spec.recognize) - {"modes", "options", "sources", "languages"}:
        raise bad("recognize", "keys must be among modes, options, sources, languages")
    if set(spec.correct) - {"rounds"}:
        raise bad("correct", "keys must be among rounds")
    if not spec.models:
        raise bad("models", "needs at least one model")
    for entry in spec.models:
        if entry.style not in STYLES:
            raise bad("models", f"style of {entry.name} must be one of {STYLES}")
    if not spec.languages:
        raise bad("languages", "needs at least one language")
    for key, low in (
        ("samples", 1),
        ("max_tokens", 1),
        ("width", 8),
        ("height", 8),
        ("max_connections", 1),
    ):
        value = getattr(spec, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise bad(key, f"must be an integer >= {low}")
    if not isinstance(spec.temperature, int | float) or not 0 <= spec.temperature <= 2:
        raise bad("temperature", "must be a number between 0 and 2")
    if spec.limit is not None and not isinstance(spec.limit, int | dict):
        raise bad("limit", "must be an integer or a mapping level -> integer")
    if set(spec.retry) - _RETRY_KEYS:
        raise bad("retry", f"keys must be among {sorted(_RETRY_KEYS)}")
    for provider, limits in spec.rate_limits.items():
        if not isinstance(limits, dict) or set(limits) - _LIMIT_KEYS:
            raise bad("rate_limits", f"{provider}: keys must be among {sorted(_LIMIT_KEYS)}")


def load_spec(path: str | Path) -> RunSpec:
    """Read ``runs/<name>.yaml``; the run's name defaults to the file's stem."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"run spec {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML ({exc})") from None
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return spec_from_dict(data, str(path))

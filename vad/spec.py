"""Run specs: YAML files or CLI flags, validated into one frozen config."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vad.concepts.loader import LEVELS, load_concepts
from vad.errors import SpecError
from vad.fields import FieldCheck, as_tuple
from vad.store import cache_key
from vad.textfile import read_mapping

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
    # each task's block (``recognize: {...}``), as given; the task owns its keys
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # requests in flight to each model (None: 4, an embedded model its slots) and the
    # embedded engine's slots (None: the connections, else 8): see vad.models.seam
    max_connections: int | None = None
    slots: int | None = None
    sandbox: bool = True
    rate_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    retry: dict[str, float] = field(default_factory=dict)

    def task_options(self, task: str) -> dict[str, Any]:
        """The block of ``task`` as the spec gives it (its defaults are the task's)."""
        return self.options.get(task, {})

    def to_dict(self) -> dict[str, Any]:
        """The fields as a spec file writes them: each task's block under its name."""
        out: dict[str, Any] = {}
        for key, value in dataclasses.asdict(self).items():
            if key != "options":
                out[key] = value
                continue
            for task in _option_tasks():
                block = self.options.get(task.name, {})
                if block or task.hash_empty_options:
                    out[task.name] = block
        return out

    def spec_hash(self) -> str:
        """Hash of the output-affecting fields: same hash, same run folder."""
        data = {k: v for k, v in self.to_dict().items() if k not in _NOT_IN_HASH}
        if self.concept_files:  # edited in place, a file is other concepts: another run
            data["concept_files_sha256"] = self.concept_files_digest()
        return cache_key(data)[:10]

    def concept_files_digest(self) -> str:
        """Hash of the concepts the extra concept files hold (ids, captions, attributes),
        so that a caption edited in a file is a new run, not one already done."""
        pool = load_concepts(extra_files=self.concept_files, builtin=False)
        return cache_key({"concepts": [[c.id, c.level, c.caption, c.attrs] for c in pool]})

    def folder_name(self) -> str:
        return f"{self.name}-{self.spec_hash()}"


_NOT_IN_HASH = {"name", "max_connections", "slots", "rate_limits", "retry", "sandbox"}


def _option_tasks() -> list[Any]:
    """The registered tasks that take a block of options, in their order."""
    from vad.tasks import task_classes  # the tasks import this module: looked up late

    return [task for task in task_classes() if task.options]


def retry_fields(c: FieldCheck) -> dict[str, Any]:
    """The keys of ``retry:`` (run and generation specs alike), each with its check.

    ``timeout`` bounds each request as a whole (connecting, the headers and the body);
    ``max_retries`` counts the tries after the first for errors that pass (429, 503,
    timeouts, a lost connection), waiting ``base_delay`` x 2^k seconds (at most
    ``max_delay``) in between.
    """
    return {
        "max_retries": lambda f, x: c.integer(f, x, 0, 100),
        "base_delay": lambda f, x: c.number(f, x, 0, 3600),
        "max_delay": lambda f, x: c.number(f, x, 0, 86400),
        "timeout": lambda f, x: c.number(f, x, 0, 86400, above=True),
    }


def retry_from_flags(timeout: float | None, max_retries: int | None) -> dict[str, Any]:
    """``--timeout`` and ``--max-retries`` as ``retry:`` keys, checked like the spec's."""
    check = FieldCheck("command line")
    given = {"timeout": timeout, "max_retries": max_retries}
    return check.mapping("retry", {k: v for k, v in given.items() if v is not None},
                         retry_fields(check))  # fmt: skip


def _model_entry(value: Any, check: FieldCheck) -> ModelEntry:
    if isinstance(value, str) and value.strip():
        return ModelEntry(value.strip())
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        unknown = [k for k in value if k not in ("name", "api_base", "style")]
        if unknown:
            raise check.bad(f"models.{unknown[0]}", value[unknown[0]],
                            "unknown key; valid: name, api_base, style")  # fmt: skip
        api_base, style = value.get("api_base"), value.get("style") or "auto"
        if api_base is not None and not (
            isinstance(api_base, str) and api_base.startswith(("http://", "https://"))
        ):
            raise check.bad("models.api_base", api_base, "must be an http(s) URL")  # fmt: skip
        if style not in STYLES:
            raise check.bad("models.style", style, f"must be one of {', '.join(STYLES)}")
        return ModelEntry(value["name"], api_base, style)
    raise check.bad("models", value, "each model is a name or a mapping with 'name' "
                    "(and api_base, style)")  # fmt: skip


def _limit(
    check: FieldCheck, value: Any, levels: tuple[str, ...], files: tuple[str, ...]
) -> int | dict[str, int] | None:
    """``limit``: concepts per level. Level names are checked here, or (when concept
    files may add levels) by the runner once the concepts are loaded."""
    if value is None:
        return None
    if isinstance(value, dict):
        if not value:
            raise check.bad("limit", value, "needs at least one level (or leave it out)")
        valid = levels or LEVELS
        for level, n in value.items():
            if level not in valid and not (files and not levels):
                raise check.bad(f"limit.{level}", n, f"unknown level; valid: {', '.join(valid)}")
            check.integer(f"limit.{level}", n, 1)
        return dict(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return check.integer("limit", value, 1)
    raise check.bad("limit", value, "must be an integer >= 1 or a mapping level -> integer")


def spec_from_dict(data: dict[str, Any], source: str = "spec") -> RunSpec:
    """Validate a mapping (from YAML or flags) into a RunSpec; errors name the field.

    Every field is checked for its type and range, and every nested mapping for unknown
    keys, so that a typo fails here instead of silently changing the run.
    """
    check = FieldCheck(source)
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a run spec is a mapping of fields")
    blocks = _option_tasks()
    known: list[str] = []
    for f in dataclasses.fields(RunSpec):
        known += [task.name for task in blocks] if f.name == "options" else [f.name]
    known.append("task")
    unknown = [k for k in data if k not in known]
    if unknown:
        raise check.bad(unknown[0], data[unknown[0]], f"unknown field; valid: {', '.join(known)}")
    v = dict(data)
    if "task" in v:  # one task: a shorthand for tasks: [task]
        if "tasks" in v:
            raise check.bad("task", v["task"], "give 'task' or 'tasks', not both")
        v["tasks"] = [v.pop("task")]
    out: dict[str, Any] = {}
    if "name" in v:
        if not isinstance(v["name"], str) or not _NAME_RE.match(v["name"]):
            raise check.bad("name", v["name"], "must be letters, digits, '.', '_' or '-'")
        out["name"] = v["name"]
    if "tasks" in v:
        from vad.tasks import task_names

        out["tasks"] = check.names("tasks", v["tasks"], tuple(task_names()), nonempty=True)
    if "models" in v:
        out["models"] = tuple(_model_entry(m, check) for m in as_tuple(v["models"], "models",
                                                                         check))  # fmt: skip
        if not out["models"]:
            raise check.bad("models", v["models"], "needs at least one model")
        names = [m.name for m in out["models"]]
        twice = [n for i, n in enumerate(names) if n in names[:i]]
        if twice:
            raise check.bad("models", twice[0], "appears twice")
    for key in ("levels", "ids", "concept_files"):
        if key in v:  # given: at least one entry (leave it out for the default)
            out[key] = check.names(key, v[key], nonempty=v[key] is not None)
    if "languages" in v:
        out["languages"] = check.languages("languages", v["languages"])
    out["limit"] = _limit(
        check, v.get("limit"), out.get("levels", RunSpec.levels), out.get("concept_files", ())
    )
    for key, low, high in (("samples", 1, 100_000), ("max_tokens", 1, 1_000_000),
                           ("width", 8, 4096), ("height", 8, 4096),
                           ("max_connections", 1, 4096), ("slots", 1, 256),
                           ("concept_seed", 0, None),
                           ("seed", 0, None)):  # fmt: skip
        if key in v:
            out[key] = check.integer(key, v[key], low, high)
    if "temperature" in v:
        out["temperature"] = check.number("temperature", v["temperature"], 0, 2)
    if "sandbox" in v:
        if not isinstance(v["sandbox"], bool):
            raise check.bad("sandbox", v["sandbox"], "must be true or false")
        out["sandbox"] = v["sandbox"]
    c = check
    out["retry"] = c.mapping("retry", v.get("retry"), retry_fields(c))
    limits = {"max_connections": lambda f, x: c.integer(f, x, 1, 4096),
              "rpm": lambda f, x: c.number(f, x, 0.01, 1e6)}  # fmt: skip
    out["rate_limits"] = {
        str(provider): c.mapping(f"rate_limits.{provider}", value, limits)
        for provider, value in c.mapping("rate_limits", v.get("rate_limits"), None).items()
    }
    options = {task.name: task.check_options(c, v.get(task.name)) for task in blocks}
    out["options"] = {name: block for name, block in options.items() if block}
    return RunSpec(**out)


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def load_spec(path: str | Path) -> RunSpec:
    """Read ``runs/<name>.yaml``; the run's name defaults to the file's stem."""
    path = Path(path)
    data = read_mapping(path, "run spec", "fields (models, levels, languages, ...) as in "
                        "runs/*.yaml", ": give the path of a YAML file (the examples in runs/ "
                        "come with the repository, not with an installed package)")  # fmt: skip
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return spec_from_dict(data, str(path))

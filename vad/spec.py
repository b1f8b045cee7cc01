"""Run specs, declared once (vad/settings.py): the spec file's fields, `vad draw`'s flags,
their defaults and help, the JSON Schema (`vad schema run`) and the spec hash all come
from :class:`RunSpec`. YAML files and flags are validated into one frozen config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from vad.concepts.loader import LEVELS, load_concepts
from vad.errors import SpecError
from vad.fields import FieldCheck, as_tuple
from vad.models.seam import CONNECTIONS_HELP, SLOTS_HELP
from vad.settings import Settings, setting
from vad.store import cache_key
from vad.textfile import read_mapping

STYLES = ("auto", "chat", "completion")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # the whole name (fullmatch)
NAME_PATTERN = rf"^{_NAME_RE.pattern}(?![\s\S])"  # the same in JSON Schema (ECMA and Python)


class ModelEntry(BaseModel):
    """One model of a run: its name, an optional endpoint and prompt style."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="provider/model or alias (see `vad models`)", pattern=r"\S")
    api_base: str | None = Field(None, description="OpenAI-compatible endpoint (vLLM, ...)",
                                 pattern="^https?://")  # fmt: skip
    style: Literal["auto", "chat", "completion"] = Field(
        "auto", description="prompt style (auto: the model's own)"
    )


# -- the checks of fields whose values are more than a type and bounds --------------------
def _name(check: FieldCheck, name: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise check.bad(name, value, "must be letters, digits, '.', '_' or '-'")
    return value


def _tasks(check: FieldCheck, name: str, value: Any) -> tuple[str, ...]:
    from vad.tasks import task_names  # the tasks import this module: looked up late

    return check.names(name, value, tuple(task_names()), nonempty=True)


def _model_entry(value: Any, check: FieldCheck) -> ModelEntry:
    if isinstance(value, str) and value.strip():
        return ModelEntry(name=value.strip())
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        if not value["name"].strip():
            raise check.bad("models.name", value["name"], "must be provider/model or an alias")
        unknown = [k for k in value if k not in ModelEntry.model_fields]
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
        return ModelEntry(name=value["name"], api_base=api_base, style=style)
    raise check.bad("models", value, "each model is a name or a mapping with 'name' "
                    "(and api_base, style)")  # fmt: skip


def _models(check: FieldCheck, name: str, value: Any) -> tuple[ModelEntry, ...]:
    models = tuple(_model_entry(m, check) for m in as_tuple(value, name, check))
    if not models:
        raise check.bad(name, value, "needs at least one model")
    names = [m.name for m in models]
    twice = [n for i, n in enumerate(names) if n in names[:i]]
    if twice:
        raise check.bad(name, twice[0], "appears twice")
    return models


def _names(check: FieldCheck, name: str, value: Any) -> tuple[str, ...]:
    """Given: at least one entry (leave the field out for its default)."""
    return check.names(name, value, nonempty=value is not None)


def _languages(check: FieldCheck, name: str, value: Any) -> tuple[str, ...]:
    return check.languages(name, value)


def _limit(check: FieldCheck, name: str, value: Any) -> int | dict[str, int] | None:
    """Concepts per level: one number for every level, or a number per level. Level names
    are checked by :func:`spec_from_dict` (or, when concept files may add levels, by the
    runner once the concepts are loaded)."""
    if value is None:
        return None
    if isinstance(value, dict):
        if not value:
            raise check.bad(name, value, "needs at least one level (or leave it out)")
        for level in value:
            if not isinstance(level, str) or not level:
                raise check.bad(f"{name}.{level}", value[level], "a level is a name")
        return {level: check.integer(f"{name}.{level}", n, 1) for level, n in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return check.integer(name, value, 1)
    raise check.bad(name, value, "must be an integer >= 1 or a mapping level -> integer")


def _sandbox(check: FieldCheck, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise check.bad(name, value, "must be true or false")
    return value


def _rate_limits(check: FieldCheck, name: str, value: Any) -> dict[str, dict[str, float]]:
    limits = {"max_connections": lambda f, x: check.integer(f, x, 1, 4096),
              "rpm": lambda f, x: check.number(f, x, 0.01, 1e6)}  # fmt: skip
    return {str(provider): check.mapping(f"{name}.{provider}", block, limits)
            for provider, block in check.mapping(name, value, None).items()}  # fmt: skip


def _retry(check: FieldCheck, name: str, value: Any) -> dict[str, Any]:
    return check.mapping(name, value, retry_fields(check))


RETRY_HELP = "request deadline and retries: timeout, max_retries, base_delay, max_delay"
NAMES = {"anyOf": [{"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                    "uniqueItems": True},
                   {"type": "string", "pattern": "[^,\\s]"}]}  # fmt: skip
NAMES_OR_NULL = {"anyOf": [*NAMES["anyOf"], {"type": "null"}]}  # null: the default
LIMIT = {"anyOf": [{"type": "integer", "minimum": 1},
                   {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1},
                    "minProperties": 1},
                   {"type": "null"}], "default": None}  # fmt: skip
RATE_LIMITS = {"type": ["object", "null"], "additionalProperties": {
    "type": ["object", "null"], "additionalProperties": False,
    "properties": {"max_connections": {"type": "integer", "minimum": 1, "maximum": 4096},
                   "rpm": {"type": "number", "minimum": 0.01, "maximum": 1e6}}}}  # fmt: skip
RETRY = {"type": ["object", "null"], "additionalProperties": False, "properties": {
    "max_retries": {"type": "integer", "minimum": 0, "maximum": 100},
    "base_delay": {"type": "number", "minimum": 0, "maximum": 3600},
    "max_delay": {"type": "number", "minimum": 0, "maximum": 86400},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400}}}  # fmt: skip


class RunSpec(Settings):
    """Everything that defines a run. Fields with ``hashed=False`` do not change outputs:
    runs that differ only in them are one run (one folder)."""

    kind = "run spec"

    name: str = setting("draw", "--name", "the run's name, the first part of its folder's "
                        "(a file's default: its own name)", hashed=False, check=_name,
                        schema={"type": "string", "pattern": NAME_PATTERN})  # fmt: skip
    tasks: tuple[str, ...] = setting(("draw",), None, "tasks: draw, recognize, correct, or "
                                     "those of installed plugins (`task:` for one)",
                                     check=_tasks)  # fmt: skip
    models: tuple[ModelEntry, ...] = setting(
        (ModelEntry(name="local/qwen2.5-coder-0.5b"),), None, "models: each a name "
        "(provider/model or alias) or a mapping with name, api_base and style", check=_models,
    )  # fmt: skip
    levels: tuple[str, ...] = setting(("shapes",), "--level", "concept levels: shapes, "
                                      "objects, scenes (or those of concept files)",
                                      check=_names, metavar="L", schema=NAMES_OR_NULL)  # fmt: skip
    languages: tuple[str, ...] = setting(("svg",), "--lang", "drawing languages (`vad draw --help` "
                                         "lists them)", check=_languages, metavar="LANG",
                                         schema=NAMES)  # fmt: skip
    samples: int = setting(1, "--samples", "samples per concept", ge=1, le=100_000, metavar="N")
    limit: int | dict[str, int] | None = setting(
        None, "--limit", "at most N concepts per level (a seeded sample; a spec file may "
        "give N per level: {shapes: 5, objects: 2})", check=_limit, metavar="N",
        flag_type=int, schema=LIMIT,
    )  # fmt: skip
    ids: tuple[str, ...] = setting((), "--ids", "concept ids to draw (comma-separated)",
                                   check=_names, metavar="IDS", schema=NAMES_OR_NULL)  # fmt: skip
    concept_seed: int = setting(0, "--concept-seed", "seed of the concept sample", ge=0,
                                metavar="N")  # fmt: skip
    concept_files: tuple[str, ...] = setting(
        (), "--concepts", "extra concepts from .csv/.jsonl files (id, level, caption)",
        check=_names, metavar="FILE", split=False, schema=NAMES_OR_NULL,
    )  # fmt: skip
    temperature: int | float = setting(0.8, "--temperature", "sampling temperature", ge=0,
                                       le=2, metavar="T")  # fmt: skip
    max_tokens: int = setting(1024, "--max-tokens", "tokens a reply may have", ge=1,
                              le=1_000_000, metavar="N")  # fmt: skip
    seed: int = setting(0, "--seed", "base seed; sample i is sent seed+i", ge=0, metavar="N")
    width: int = setting(224, None, "width of each rendering in px", ge=8, le=4096)
    height: int = setting(224, None, "height of each rendering in px", ge=8, le=4096)
    # each task's block (``recognize: {...}`` in a file), as given; the task owns its keys
    options: dict[str, dict[str, Any]] = Field(default_factory=dict, exclude=True)
    max_connections: int | None = setting(None, None, CONNECTIONS_HELP, ge=1, le=4096,
                                          hashed=False)  # fmt: skip
    slots: int | None = setting(None, None, SLOTS_HELP, ge=1, le=256, hashed=False)
    sandbox: bool = setting(True, None, "render in the jail (false: only for trusted code)",
                            hashed=False, check=_sandbox)  # fmt: skip
    rate_limits: dict[str, dict[str, Any]] = setting(
        {}, None, "per provider: max_connections and rpm", hashed=False, check=_rate_limits,
        schema=RATE_LIMITS,
    )  # fmt: skip
    retry: dict[str, Any] = setting({}, None, RETRY_HELP, hashed=False, check=_retry,
                                      schema=RETRY)  # fmt: skip

    _source: str = PrivateAttr(default="spec")  # the file (or "command line") it came from

    @property
    def source(self) -> str:
        """Where the spec came from, for messages: its file, or "command line"."""
        return self._source

    def task_options(self, task: str) -> dict[str, Any]:
        """The block of ``task`` as the spec gives it (its defaults are the task's)."""
        return self.options.get(task, {})

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with ``changes`` (values already checked)."""
        return self.model_copy(update=changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a spec file writes them: each task's block under its name."""
        out = self.model_dump()
        for task in _option_tasks():
            block = self.options.get(task.name, {})
            if block or task.hash_empty_options:
                out[task.name] = block
        return out

    def spec_hash(self) -> str:
        """Hash of the output-affecting fields: same hash, same run folder."""
        skip = self.unhashed()
        data = {k: v for k, v in self.to_dict().items() if k not in skip}
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

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The JSON Schema of a run spec file: the fields, ``task`` (one task), and each
        task's block of options under its name."""
        out = super().schema()
        props = out["properties"]
        props.pop("options", None)
        entry = {"anyOf": [{"type": "string", "pattern": r"\S"}, {"$ref": "#/$defs/ModelEntry"}]}
        models = {k: v for k, v in props["models"].items() if k in ("description", "default")}
        props["models"] = {**models, "anyOf": [
            {"type": "array", "minItems": 1, "items": entry}, {"type": "string", "minLength": 1}
        ]}  # fmt: skip
        from vad.languages import language_names
        from vad.tasks import task_names

        tasks = {"type": "string", "enum": list(task_names())}
        props["tasks"] = {
            **props["tasks"],
            "anyOf": [{"type": "array", "items": tasks, "minItems": 1, "uniqueItems": True}, tasks],
        }
        languages = {"type": "string", "enum": list(language_names())}
        props["languages"] = {**props["languages"], "anyOf": [
            {"type": "array", "items": languages, "minItems": 1, "uniqueItems": True},
            {"type": "string", "minLength": 1}]}  # fmt: skip
        props["task"] = {**tasks, "description": "one task: a shorthand for tasks"}
        props["tasks"]["anyOf"].append({"type": "string", "pattern": ","})  # "draw,recognize"
        # "task" or "tasks", not both
        out["not"] = {"required": ["task", "tasks"]}
        entry_style = out["$defs"]["ModelEntry"]["properties"]["style"]
        entry_style["anyOf"] = [{"enum": list(STYLES)}, {"type": "null"}, {"const": ""}]
        for key in ("enum", "type"):
            entry_style.pop(key, None)
        for task in _option_tasks():
            props[task.name] = {
                "type": ["object", "null"],
                "additionalProperties": False,
                "description": f"options of the {task.name} task",
                "properties": {
                    key: {**option.schema, "default": option.default}
                    for key, option in task.options.items()
                },
            }
        for prop in props.values():  # null leaves a field at its default
            _nullable(prop)
        return out


def _nullable(prop: dict[str, Any]) -> None:
    if "anyOf" in prop:
        if {"type": "null"} not in prop["anyOf"]:
            prop["anyOf"].append({"type": "null"})
    elif isinstance(prop.get("type"), str):
        prop["type"] = [prop["type"], "null"]
    elif "$ref" in prop:
        prop["anyOf"] = [{"$ref": prop.pop("$ref")}, {"type": "null"}]


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


def spec_from_dict(data: dict[str, Any], source: str = "spec") -> RunSpec:
    """Validate a mapping (from YAML or flags) into a RunSpec; errors name the field.

    Every field is checked by its declaration, and every nested mapping for unknown
    keys, so that a typo fails here instead of silently changing the run.
    """
    check = FieldCheck(source)
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a run spec is a mapping of fields")
    blocks = _option_tasks()
    known = [n for n in RunSpec.model_fields if n != "options"]
    known += [task.name for task in blocks] + ["task"]
    unknown = [k for k in data if k not in known]
    if unknown:
        raise check.bad(unknown[0], data[unknown[0]], f"unknown field; valid: {', '.join(known)}")
    v = {k: value for k, value in data.items() if value is not None}  # null: the default
    if "task" in v:  # one task: a shorthand for tasks: [task]
        if "tasks" in v:
            raise check.bad("task", v["task"], "give 'task' or 'tasks', not both")
        v["tasks"] = _tasks(check, "task", [v.pop("task")])
    out = {k: RunSpec.check_field(check, k, value) for k, value in v.items()
           if k in RunSpec.model_fields}  # fmt: skip
    levels = out.get("levels", RunSpec.model_fields["levels"].default)
    files = out.get("concept_files", ())
    if not files:  # (concept files may add levels: the runner checks them once loaded)
        for level in levels:
            if level not in LEVELS:
                raise check.bad("levels", level, f"unknown level; valid: {', '.join(LEVELS)} "
                                "(or those of concept_files)")  # fmt: skip
    if isinstance(out.get("limit"), dict):
        valid = levels or LEVELS
        for level, n in out["limit"].items():
            if level not in valid and not (files and not levels):
                raise check.bad(f"limit.{level}", n, f"unknown level; valid: {', '.join(valid)}")
    out["retry"] = out.get("retry", {})
    options = {task.name: task.check_options(check, v.get(task.name)) for task in blocks}
    out["options"] = {name: block for name, block in options.items() if block}
    try:
        spec = RunSpec(**out)
        spec._source = source
        return spec
    except ValidationError as exc:  # a value the checks above let through: still a spec error
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise check.bad(where, first.get("input"), str(first["msg"]).lower()) from None


def load_spec(path: str | Path) -> RunSpec:
    """Read ``runs/<name>.yaml``; the run's name defaults to the file's stem."""
    path = Path(path)
    data = read_mapping(path, "run spec", "fields (models, levels, languages, ...) as in "
                        "runs/*.yaml", ": give the path of a YAML file (the examples in runs/ "
                        "come with the repository, not with an installed package)")  # fmt: skip
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return spec_from_dict(data, str(path))

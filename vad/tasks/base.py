"""What a task provides: its jobs, and how to run one job through a JobContext."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vad.concepts import Concept
from vad.fields import FieldCheck
from vad.models import ResolvedModel
from vad.registry import Registry
from vad.tasks.context import JobContext

if TYPE_CHECKING:  # the spec looks tasks up: tasks name it in annotations only
    from vad.spec import RunSpec


@dataclass(frozen=True)
class Option:
    """One key of a task's block in the run spec: its default and its check.

    ``check(fields, name, value)`` returns the value to keep or raises ``fields.bad``
    (``<file>: field '<task>.<key>' = <value>: <what is allowed>``).
    """

    default: Any
    check: Callable[[FieldCheck, str, Any], Any]
    # True when the option changes what a sample means (the options of a choice, the
    # rounds of a chain): runs that differ in it are other leaderboard rows. Options
    # that only select samples (modes, sources, languages) leave rows as they are.
    in_rows: bool = False
    schema: dict[str, Any] = field(default_factory=dict)  # its JSON Schema in `vad schema run`


@dataclass(frozen=True)
class TableSpec:
    """A task's leaderboard table: one row per group of its records by ``keys``, and
    ``columns`` as (column, the name of the scorer that fills it, see vad.scoring).
    In ``note``, ``{clip}`` becomes what CLIP says (the model used, or why none)."""

    title: str
    keys: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    note: str = ""


@dataclass(frozen=True)
class Job:
    """One unit of work for one model; it writes the records named by ``sample_ids``."""

    sample_id: str
    task: str
    concept: Concept
    model: ResolvedModel
    style: str
    language: str
    sample_index: int
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def sample_ids(self) -> list[str]:
        return list(self.extra.get("sample_ids", [self.sample_id]))

    def record(self) -> dict[str, Any]:
        """The fields every record of this job starts with."""
        return {
            "sample_id": self.sample_id, "task": self.task, "concept_id": self.concept.id,
            "level": self.concept.level, "caption": self.concept.caption,
            "language": self.language, "image": None,
        }  # fmt: skip


class Task:
    """Base class; subclasses are registered with :func:`register_task`."""

    name: str = ""
    order = 100  # where it comes in lists (the spec's choices, the leaderboard): lower first
    draws_images = False  # its records carry a rendered drawing (render rate, CLIP, export)
    options: ClassVar[dict[str, Option]] = {}  # its block in a run spec: ``<name>: {...}``
    # True only for blocks that were always hashed before tasks owned their options
    # (recognize, correct): the hash keeps them, empty or not, so run folders keep their
    # names. Any other block enters the spec hash only when given.
    hash_empty_options = False
    table: TableSpec | None = None  # its leaderboard table, if any
    # A task that redoes one sample in rounds (records with ``round``): the prompt set of
    # round 0 and of the later rounds; its rows' prompt version names both.
    round_prompts: tuple[str, str] | None = None

    @classmethod
    def check_options(cls, fields: FieldCheck, block: Any) -> dict[str, Any]:
        """The task's block of a run spec, checked key by key (unknown keys refused)."""
        checks = {key: _bound(fields, option) for key, option in cls.options.items()}
        return fields.mapping(cls.name, block, checks)

    @classmethod
    def settings(cls, spec: RunSpec) -> dict[str, Any]:
        """The task's options under ``spec``: what the spec gives, else the defaults."""
        return {key: spec.task_options(cls.name).get(key, option.default)
                for key, option in cls.options.items()}  # fmt: skip

    def jobs(
        self,
        spec: RunSpec,
        concepts: list[Concept],
        models: list[tuple[ResolvedModel, str]],
        runs_root: Path,
    ) -> list[Job]:
        """The task's jobs for ``concepts`` x ``models`` under ``spec``; ``runs_root`` is the
        runs folder of this run (where runs named by the spec are looked up)."""
        raise NotImplementedError

    def run(self, job: Job, ctx: JobContext) -> None:
        """Do the job; write every record through ``ctx.write``."""
        raise NotImplementedError

    def versions(self) -> dict[str, Any]:
        return {}


def _bound(fields: FieldCheck, option: Option) -> Callable[[str, Any], Any]:
    return lambda name, value: option.check(fields, name, value)


def names_option(default: list[str] | None, choices: tuple[str, ...] | None = None) -> Option:
    """A list of names (entries among ``choices``, when given), at least one."""
    entry: dict[str, Any] = {"type": "string", "minLength": 1}
    if choices is not None:
        entry["enum"] = list(choices)
    schema = {"anyOf": [{"type": "array", "items": entry, "minItems": 1}, {"type": "string"}]}
    return Option(default, lambda f, name, x: list(f.names(name, x, choices, nonempty=True)),
                  schema=schema)  # fmt: skip


def integer_option(default: int, low: int, high: int, in_rows: bool = False) -> Option:
    schema = {"type": "integer", "minimum": low, "maximum": high}
    return Option(default, lambda f, name, x: f.integer(name, x, low, high), in_rows, schema)


# Tasks of installed packages (entry points "vad.tasks", vad/plugins.py) join on first look-up.
TASKS: Registry[Task] = Registry("unknown task {name}: choose from {choices}", "vad.tasks")
register_task = TASKS.register


def task_classes() -> list[type[Task]]:
    """Every registered task, in its ``order``."""
    return sorted(TASKS.all().values(), key=lambda task: (task.order, task.name))


def task_names() -> list[str]:
    return [task.name for task in task_classes()]


def task_class(name: str) -> type[Task] | None:
    """The task registered as ``name``, or None (a record of a task not known here)."""
    return TASKS.all().get(name)


def get_task(name: str) -> Task:
    return TASKS.get(name)()


def draws_images(name: str) -> bool:
    """Whether the task called ``name`` draws images (False for a name not registered)."""
    task = task_class(name)
    return task is not None and task.draws_images

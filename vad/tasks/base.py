"""What a task provides: its jobs, and how to run one job through a JobContext."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vad.concepts import Concept
from vad.errors import SpecError
from vad.models import ResolvedModel
from vad.spec import RunSpec
from vad.tasks.context import JobContext


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

    def jobs(
        self, spec: RunSpec, concepts: list[Concept], models: list[tuple[ResolvedModel, str]]
    ) -> list[Job]:
        raise NotImplementedError

    def run(self, job: Job, ctx: JobContext) -> None:
        """Do the job; write every record through ``ctx.write``."""
        raise NotImplementedError

    def versions(self) -> dict[str, Any]:
        return {}


_TASKS: dict[str, type[Task]] = {}


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    def decorate(cls: type[Task]) -> type[Task]:
        cls.name = name
        _TASKS[name] = cls
        return cls

    return decorate


def task_names() -> list[str]:
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    if name not in _TASKS:
        raise SpecError(f"unknown task {name!r}: choose from {', '.join(sorted(_TASKS))}")
    return _TASKS[name]()

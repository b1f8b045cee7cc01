"""What a task provides: its jobs, and how to run one job through a JobContext."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vad.concepts import Concept
from vad.models import ResolvedModel
from vad.registry import Registry
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
    draws_images = False  # its records carry a rendered drawing (render rate, CLIP, export)

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


TASKS: Registry[Task] = Registry("unknown task {name}: choose from {choices}")
register_task = TASKS.register
task_names = TASKS.names


def get_task(name: str) -> Task:
    return TASKS.get(name)()


def draws_images(name: str) -> bool:
    """Whether the task called ``name`` draws images (False for a name not registered)."""
    task = TASKS.all().get(name)
    return task is not None and task.draws_images

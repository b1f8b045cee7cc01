"""What a task provides: its jobs, the prompt of a job, and how to read the reply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vad.concepts import Concept
from vad.errors import SpecError
from vad.extract import Extraction
from vad.models import ResolvedModel
from vad.prompts import Prompt
from vad.spec import RunSpec


@dataclass(frozen=True)
class Job:
    """One sample to produce: a concept drawn by a model in a language."""

    sample_id: str
    task: str
    concept: Concept
    model: ResolvedModel
    style: str
    language: str
    sample_index: int


class Task:
    """Base class; subclasses are registered with :func:`register_task`."""

    name: str = ""

    def jobs(
        self, spec: RunSpec, concepts: list[Concept], models: list[tuple[ResolvedModel, str]]
    ) -> list[Job]:
        raise NotImplementedError

    def prompt(self, job: Job, spec: RunSpec) -> Prompt:
        raise NotImplementedError

    def extract(self, job: Job, prompt: Prompt, text: str, truncated: bool) -> Extraction:
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


def get_task(name: str) -> Task:
    if name not in _TASKS:
        raise SpecError(f"unknown task {name!r}: choose from {', '.join(sorted(_TASKS))}")
    return _TASKS[name]()

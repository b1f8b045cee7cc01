"""Draw: ask for code that draws a concept, in each language, N samples each."""

from __future__ import annotations

from typing import Any

from vad.concepts import Concept
from vad.extract import Extraction, extract_chat, extract_completion
from vad.models import ResolvedModel
from vad.prompts import Prompt, load_prompts
from vad.spec import RunSpec
from vad.tasks.base import Job, Task, register_task


@register_task("draw")
class DrawTask(Task):
    def __init__(self) -> None:
        self.prompts = load_prompts("draw")

    def jobs(
        self, spec: RunSpec, concepts: list[Concept], models: list[tuple[ResolvedModel, str]]
    ) -> list[Job]:
        for language in spec.languages:
            self.prompts.styles(language)  # fails early on a language without prompts
        return [
            Job(
                f"draw:{model.name}:{language}:{concept.id}:{index}",
                "draw",
                concept,
                model,
                style,
                language,
                index,
            )
            for model, style in models
            for language in spec.languages
            for concept in concepts
            for index in range(spec.samples)
        ]

    def prompt(self, job: Job, spec: RunSpec) -> Prompt:
        values = {"caption": job.concept.caption, "width": spec.width, "height": spec.height}
        return self.prompts.render(job.language, job.style, values)

    def extract(self, job: Job, prompt: Prompt, text: str, truncated: bool) -> Extraction:
        if prompt.style == "chat":
            return extract_chat(text, job.language)
        return extract_completion(
            text, job.language, prompt.code_start, prompt.code_end, prompt.stop, truncated
        )

    def versions(self) -> dict[str, Any]:
        return {"draw": self.prompts.version}

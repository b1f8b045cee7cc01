"""Draw: ask for code that draws a concept, in each language, N samples each."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vad.concepts import Concept
from vad.models import ResolvedModel
from vad.prompts import Prompt, load_prompts
from vad.tasks.base import Job, TableSpec, Task, register_task
from vad.tasks.context import JobContext, slug

if TYPE_CHECKING:  # the spec looks tasks up: tasks name it in annotations only
    from vad.spec import RunSpec


def image_path(job: Job, suffix: str = "") -> Path:
    return (Path("images") / slug(job.model.name) / job.language / job.concept.level
            / f"{slug(job.concept.id)}__s{job.sample_index}{suffix}.png")  # fmt: skip


def draw_once(
    job: Job,
    ctx: JobContext,
    prompt: Prompt,
    record: dict[str, Any],
    round_index: int = 0,
    suffix: str = "",
) -> dict[str, Any]:
    """Draw once through the pipeline and write its record; return it."""
    rel = image_path(job, suffix)
    asked, drawing = ctx.draw(job.concept, job.language, prompt, job.sample_index, round_index,
                              rel)  # fmt: skip
    record = {**record, **asked.record}
    if asked.reply is None:
        record.update(status="model_error", error=asked.error)
        ctx.write(record)
        return record
    result = drawing.result
    assert drawing.extraction is not None and result is not None
    record.update(
        extraction=drawing.extraction.as_record(),
        code=drawing.code,
        image=str(rel) if result.ok else None,
        status=str(result.status),
        render=result.to_record(),
    )
    if drawing.scores:
        record["scores"] = drawing.scores
    ctx.write(record)
    return record


@register_task("draw")
class DrawTask(Task):
    order = 10
    draws_images = True
    table = TableSpec(
        "Draw",
        ("model", "prompt version", "level", "language"),
        (("render rate %", "render"), ("verified %", "verified"), ("CLIP top-1 %", "clip"),
         ("CLIP top-5 %", "clip"), ("CLIPScore", "clip"), ("diversity", "diversity")),
        "{clip}",
    )  # fmt: skip

    def __init__(self) -> None:
        self.prompts = load_prompts("draw")

    def jobs(
        self,
        spec: RunSpec,
        concepts: list[Concept],
        models: list[tuple[ResolvedModel, str]],
        runs_root: Path,
    ) -> list[Job]:
        for language in spec.languages:
            self.prompts.styles(language)  # fails early on a language without prompts
        return [
            Job(f"draw:{model.name}:{language}:{concept.id}:{index}", "draw", concept, model,
                style, language, index)
            for model, style in models
            for language in spec.languages
            for concept in concepts
            for index in range(spec.samples)
        ]  # fmt: skip

    def prompt(self, job: Job, spec: RunSpec) -> Prompt:
        values = {"caption": job.concept.caption, "width": spec.width, "height": spec.height}
        return self.prompts.render(job.language, job.style, values)

    def run(self, job: Job, ctx: JobContext) -> None:
        draw_once(job, ctx, self.prompt(job, ctx.spec), job.record())

    def versions(self) -> dict[str, Any]:
        return {"draw": self.prompts.version}

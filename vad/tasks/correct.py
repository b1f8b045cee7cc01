"""Correct: the model improves its own drawing with text-only feedback, round by round.

Round 0 is a plain draw. In each later round the model gets its previous code and
the renderer's verdict (an error message when the render failed) and is asked for a
better drawing. Every round is one record (``round``: 0..T) with its own image, so
scores per round and the change from round 0 come straight from samples.jsonl. A
killed run resumes at the first round that has no record.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vad.concepts import Concept
from vad.models import ResolvedModel
from vad.outcomes import is_scored
from vad.prompts import load_prompts
from vad.tasks.base import Job, Option, TableSpec, Task, integer_option, register_task
from vad.tasks.context import JobContext
from vad.tasks.draw import DrawTask, draw_once
from vad.tasks.recognize import language_name

if TYPE_CHECKING:  # the spec looks tasks up: tasks name it in annotations only
    from vad.spec import RunSpec


def feedback(previous: dict[str, Any]) -> str:
    """What the model is told about its last attempt: only text, never the image."""
    status = previous.get("status")
    if status == "ok":
        return "It renders without errors."
    render = previous.get("render") or {}
    reason = (render.get("reason") or "").strip()[:400]
    return (
        f"Rendering it failed ({status}): {reason}. Fix this."
        if reason
        else (f"Rendering it failed ({status}). Fix this.")
    )


@register_task("correct")
class CorrectTask(Task):
    order = 30
    draws_images = True
    options: ClassVar[dict[str, Option]] = {"rounds": integer_option(3, 1, 20, in_rows=True)}
    hash_empty_options = True
    round_prompts = ("draw", "correct")
    table = TableSpec(
        "Correct",
        ("model", "prompt version", "language", "round"),
        (("render rate %", "render"), ("change from round 0 (pts)", "render_change"),
         ("verified %", "verified"),
         ("verified change from round 0 (pts)", "verified_change"),
         ("CLIP top-1 %", "clip"), ("CLIPScore", "clip"),
         ("CLIPScore change from round 0", "clip_change")),
        "Round 0 is a plain draw; each later round gets its own code and the renderer's "
        "verdict as text. Changes from round 0 are paired per sample: render rate (pts) "
        "over every scored sample, verified rate (shape concepts) likewise, CLIPScore over "
        "the samples whose both rounds rendered.",
    )  # fmt: skip

    def __init__(self) -> None:
        self.prompts = load_prompts("correct")
        self.draw = DrawTask()

    def versions(self) -> dict[str, Any]:
        return {"correct": self.prompts.version, "draw": self.draw.prompts.version}

    def jobs(
        self,
        spec: RunSpec,
        concepts: list[Concept],
        models: list[tuple[ResolvedModel, str]],
        runs_root: Path,
    ) -> list[Job]:
        rounds = int(self.settings(spec)["rounds"])
        jobs = []
        for job in self.draw.jobs(spec, concepts, models, runs_root):
            base = job.sample_id.replace("draw:", "correct:", 1)
            ids = [f"{base}:r{t}" for t in range(rounds + 1)]
            jobs.append(Job(ids[0], "correct", job.concept, job.model, job.style, job.language,
                            job.sample_index, {"sample_ids": ids}))  # fmt: skip
        return jobs

    def run(self, job: Job, ctx: JobContext) -> None:
        """Round 0 draws; each later round corrects the one before.

        A round whose model call failed is no round: the chain stops there and the next
        run goes on from it (redoing every later round, whose input may change).
        """
        previous: dict[str, Any] | None = None
        redo = False
        for round_index, sid in enumerate(job.sample_ids):
            if sid in ctx.done and not redo:
                previous = ctx.done[sid]
                continue
            redo = True
            if previous is not None and not is_scored(previous):
                return
            if previous is None or not previous.get("code"):
                prompt = self.draw.prompt(job, ctx.spec)  # round 0, or start over
            else:
                values = {"language": language_name(job.language),
                          "caption": job.concept.caption, "code": previous["code"],
                          "feedback": feedback(previous), "width": ctx.spec.width,
                          "height": ctx.spec.height}  # fmt: skip
                prompt = self.prompts.render(job.language, job.style, values)
            record = {**job.record(), "sample_id": sid, "round": round_index}
            previous = draw_once(job, ctx, prompt, record, round_index, f"_r{round_index}")

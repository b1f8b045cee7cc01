"""What a task's job can do: ask the model and draw (through vad.pipeline), write records."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vad import pipeline
from vad.concepts import Concept
from vad.models import ModelClient, Reply, ResolvedModel, SamplingParams
from vad.prompts import Prompt
from vad.render import RenderPool
from vad.rundir import RunFolder, now_iso
from vad.store import ResponseStore

if TYPE_CHECKING:  # the spec looks tasks up: tasks name it in annotations only
    from vad.spec import RunSpec


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in text)


@dataclass
class Asked:
    """A model's answer to one prompt (``reply`` is None when the call failed), with the
    fields of a task's record that describe the request and the reply."""

    reply: Reply | None
    cached: bool
    record: dict[str, Any]
    error: str | None = None


@dataclass
class Counters:
    """Replies a model's jobs took from the response store (calls are the client's)."""

    cache_hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class JobContext:
    """Shared by every job of one model in one run; safe to use from several threads."""

    def __init__(
        self,
        spec: RunSpec,
        model: ResolvedModel,
        client: ModelClient,
        store: ResponseStore,
        pool: RenderPool,
        folder: RunFolder,
        done: dict[str, dict[str, Any]],
        write: Callable[[dict[str, Any]], None],
        counters: Counters,
        scorers: Callable[[Concept], dict[str, pipeline.SampleScorer]] | None = None,
    ) -> None:
        self.spec, self.model, self.client, self.store = spec, model, client, store
        self.pool, self.folder, self.done, self._write = pool, folder, done, write
        self.counters = counters
        # the per-sample scorers of a concept's drawings (vad.scoring.samples)
        self.scorers = scorers or (lambda concept: {})

    def params(self, sample_index: int, round_index: int = 0) -> SamplingParams:
        seed = self.spec.seed + sample_index + 1000 * round_index
        return SamplingParams(self.spec.temperature, self.spec.max_tokens, seed)

    def ask(self, sample_index: int, prompt: Prompt, round_index: int = 0) -> Asked:
        """Send ``prompt`` unless its reply is in the store; return reply and base record."""
        params, created_at = self.params(sample_index, round_index), now_iso()
        request = pipeline.Request(self.model, prompt, params, sample_index)
        asked = pipeline.ask(self.store, self.client, request)
        return self._asked(asked, prompt, params, sample_index, created_at)

    def draw(
        self,
        concept: Concept,
        language: str,
        prompt: Prompt,
        sample_index: int,
        round_index: int,
        rel: Path,
    ) -> tuple[Asked, pipeline.Drawing]:
        """Ask, extract, render and score one drawing of ``concept`` into the run folder
        (see vad.pipeline)."""
        params, created_at = self.params(sample_index, round_index), now_iso()
        request = pipeline.Request(self.model, prompt, params, sample_index)
        drawing = pipeline.draw(self.store, self.client, request, language, self.pool.render,
                                (self.spec.width, self.spec.height), self.folder.path / rel,
                                scorers=self.scorers(concept))  # fmt: skip
        return self._asked(drawing.asked, prompt, params, sample_index, created_at), drawing

    def _asked(
        self,
        asked: pipeline.Asked,
        prompt: Prompt,
        params: SamplingParams,
        sample_index: int,
        created_at: str,
    ) -> Asked:
        """The task's view of a reply: counted if it came from the store, and the fields
        of the record that describe the request (stamped when it was made) and the reply."""
        if asked.cached:
            with self.counters.lock:
                self.counters.cache_hits += 1
        record = {
            "model": self.model.name, "style": prompt.style, "sample_index": sample_index,
            "template": prompt.template_id, "prompt_version": prompt.version,
            "temperature": params.temperature, "max_tokens": params.max_tokens,
            "seed": params.seed, "request_key": asked.key, "created_at": created_at,
            "prompt": prompt.payload(),  # as sent (an image as its sha256)
            **asked.fields(),
        }  # fmt: skip
        return Asked(asked.reply, asked.cached, record, asked.error)

    def write(self, record: dict[str, Any]) -> None:
        self._write(record)

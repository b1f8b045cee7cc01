"""What a task's job can do: ask the model (store first), render code, write records."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vad.errors import ModelCallError
from vad.models import ModelClient, Reply, ResolvedModel, SamplingParams
from vad.prompts import Prompt
from vad.render import RenderPool, RenderResult, RenderStatus
from vad.rundir import RunFolder, now_iso
from vad.store import ResponseStore, cache_key

if TYPE_CHECKING:  # the spec looks tasks up: tasks name it in annotations only
    from vad.spec import RunSpec


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in text)


def request_key(
    model: ResolvedModel, prompt: Prompt, params: SamplingParams, sample_index: int
) -> str:
    """Content address of a request: only fields that change the reply."""
    return cache_key({
        "model": model.name,
        "api_base": None if model.is_local else model.api_base,
        "style": prompt.style,
        "payload": prompt.payload(),
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
        "template": prompt.template_id,
        "prompt_version": prompt.version,
        "sample_index": sample_index,
    })  # fmt: skip


def stored_reply(stored: Any) -> Reply | None:
    """A reply from the store, or None if what is stored does not make one."""
    if not isinstance(stored, dict):
        return None
    try:
        reply = Reply(**stored)
    except TypeError:
        return None
    return reply if isinstance(reply.text, str) else None


@dataclass
class Asked:
    """A model's answer to one prompt (``reply`` is None when the call failed)."""

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
    ) -> None:
        self.spec, self.model, self.client, self.store = spec, model, client, store
        self.pool, self.folder, self.done, self._write = pool, folder, done, write
        self.counters = counters

    def params(self, sample_index: int, round_index: int = 0) -> SamplingParams:
        seed = self.spec.seed + sample_index + 1000 * round_index
        return SamplingParams(self.spec.temperature, self.spec.max_tokens, seed)

    def ask(self, sample_index: int, prompt: Prompt, round_index: int = 0) -> Asked:
        """Send ``prompt`` unless its reply is in the store; return reply and base record."""
        params = self.params(sample_index, round_index)
        key = request_key(self.model, prompt, params, sample_index)
        record = {
            "model": self.model.name, "style": prompt.style, "sample_index": sample_index,
            "template": prompt.template_id, "prompt_version": prompt.version,
            "temperature": params.temperature, "max_tokens": params.max_tokens,
            "seed": params.seed, "request_key": key, "created_at": now_iso(),
        }  # fmt: skip
        stored = self.store.get(key)
        reply = stored_reply(stored)
        if reply is None:
            stored = None  # absent, or not a reply of this version: asked again
        if reply is not None:
            with self.counters.lock:
                self.counters.cache_hits += 1
        else:
            try:
                reply = self.client.complete(prompt, params)
            except ModelCallError as exc:
                return Asked(None, False, record, str(exc))
            self.store.put(
                key,
                self.model.name,
                {"template": prompt.template_id, **prompt.payload()},
                reply.to_dict(),
            )
        record.update(cached=stored is not None, raw_reply=reply.text,
                      finish_reason=reply.finish_reason, prompt_tokens=reply.prompt_tokens,
                      completion_tokens=reply.completion_tokens, cost_usd=reply.cost_usd,
                      latency_s=reply.latency_s, attempts=reply.attempts)  # fmt: skip
        return Asked(reply, stored is not None, record)

    def render(
        self, language: str, code: str | None, rel: Path, no_code_reason: str = ""
    ) -> tuple[RenderResult, str | None]:
        """Render into the run folder; returns the result and the image's relative path."""
        if code is None:
            return RenderResult(RenderStatus.NO_CODE, no_code_reason), None
        try:
            result = self.pool.render(
                language, code, self.spec.width, self.spec.height, self.folder.path / rel
            )
        except Exception as exc:  # a host-side bug must not lose the sample silently
            result = RenderResult(RenderStatus.CRASH, f"host error: {type(exc).__name__}: {exc}")
        return result, (str(rel) if result.ok else None)

    def write(self, record: dict[str, Any]) -> None:
        self._write(record)

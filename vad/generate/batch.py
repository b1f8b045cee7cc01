"""Requests through the OpenAI Batch API (half price): JSONL upload, submit, poll, download.

A batch's id and the request keys it carries are appended to ``batches.jsonl`` in the
generation folder before anything waits on it, so a killed run picks its batches up
again instead of paying twice. Every reply lands in the response store under its
request key: the generation then reads it like any cached reply (and a later run, batch
or not, is a cache hit). Lines that failed, and lines of a batch that expired before
reaching them, are simply not in the store: a later batch asks them again, at most
``MAX_TRIES`` times each.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vad.errors import ModelConfigError, VadError
from vad.models import ResolvedModel
from vad.models.client import Reply, SamplingParams
from vad.prompts import Prompt
from vad.rundir import now_iso
from vad.store import ResponseStore

DONE = {"completed", "expired", "failed", "cancelled"}
MAX_TRIES = 3  # batches a request may fail in before it is a model_error
DISCOUNT = 0.5  # batch prices are half the synchronous ones


@dataclass
class BatchRequest:
    key: str
    prompt: Prompt
    params: SamplingParams


class BatchError(VadError):
    """A batch could not be submitted or read."""


class BatchClient:
    """One model's batches; state in ``<folder>/batches.jsonl``."""

    def __init__(
        self,
        model: ResolvedModel,
        folder: Path,
        store: ResponseStore,
        prices: tuple[float, float] | None,
        poll_s: float = 30.0,
        say: Callable[[str], None] = print,
    ) -> None:
        if model.provider not in ("openai",) and not model.api_base:
            raise ModelConfigError(
                f"--batch speaks the OpenAI Batch API: {model.name} is not an OpenAI model "
                "or an OpenAI-compatible --api-base"
            )
        from openai import OpenAI

        from vad.models.registry import api_key_for

        key = api_key_for(model) or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ModelConfigError("--batch needs OPENAI_API_KEY")
        self.model, self.store, self.prices = model, store, prices
        self.path, self.poll_s, self.say = folder / "batches.jsonl", poll_s, say
        self.api = OpenAI(base_url=model.api_base, api_key=key, max_retries=5)
        self.tries: dict[str, int] = {}
        self.failures: dict[str, str] = {}  # request key -> why its line failed

    # -- state -------------------------------------------------------------------------
    def _log(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({**entry, "at": now_iso()}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _entries(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn last line: that batch was never recorded as submitted
            if isinstance(entry, dict) and entry.get("model") == self.model.name:
                entries.append(entry)
        return entries

    def outstanding(self) -> list[str]:
        """Batches submitted (by this or a killed run) whose results are not collected."""
        submitted, collected = [], set()
        for entry in self._entries():
            if entry.get("event") == "submitted":
                submitted.append(entry["id"])
                for key in entry.get("keys", []):
                    self.tries[key] = self.tries.get(key, 0) + 1
            elif entry.get("event") == "collected":
                collected.add(entry["id"])
        return [b for b in submitted if b not in collected]

    # -- one batch ----------------------------------------------------------------------
    def run(self, requests: list[BatchRequest]) -> dict[str, str]:
        """Collect what is outstanding, then submit ``requests`` and collect them.

        Returns request key -> why it failed, for the requests that failed for good."""
        for batch_id in self.outstanding():
            self.collect(batch_id)
        todo = [r for r in requests if self.store.get(r.key) is None]
        if todo:
            self.collect(self.submit(todo))
        return {r.key: self.failures.get(r.key, "not answered by the batch")
                for r in todo if self.store.get(r.key) is None
                and self.tries.get(r.key, 0) >= MAX_TRIES}  # fmt: skip

    def submit(self, requests: list[BatchRequest]) -> str:
        lines = [json.dumps(self._line(r)) for r in requests]
        try:
            upload = self.api.files.create(
                file=("requests.jsonl", ("\n".join(lines) + "\n").encode()), purpose="batch"
            )
            endpoint = "/v1/chat/completions" if requests[0].prompt.style == "chat" else (
                "/v1/completions")  # fmt: skip
            batch = self.api.batches.create(input_file_id=upload.id, endpoint=endpoint,
                                            completion_window="24h")  # fmt: skip
        except Exception as exc:
            raise BatchError(f"{self.model.name}: the batch could not be submitted: "
                             f"{type(exc).__name__}: {str(exc)[:300]}") from None  # fmt: skip
        self._log({"event": "submitted", "model": self.model.name, "id": batch.id,
                   "input_file": upload.id, "keys": [r.key for r in requests]})  # fmt: skip
        for r in requests:
            self.tries[r.key] = self.tries.get(r.key, 0) + 1
        self.say(f"batch {batch.id}: {len(requests)} requests submitted")
        return str(batch.id)

    def collect(self, batch_id: str) -> None:
        """Wait for the batch to end; put its replies in the store; log what it did."""
        while True:
            try:
                batch = self.api.batches.retrieve(batch_id)
            except Exception as exc:
                raise BatchError(f"batch {batch_id}: cannot read its status: "
                                 f"{type(exc).__name__}: {str(exc)[:300]}") from None  # fmt: skip
            if batch.status in DONE:
                break
            time.sleep(self.poll_s)
        ok = failed = 0
        if batch.output_file_id:
            for line in self._download(batch.output_file_id):
                if self._store_line(line):
                    ok += 1
                else:
                    failed += 1
        if batch.error_file_id:
            for line in self._download(batch.error_file_id):
                failed += 1
                key = str(line.get("custom_id"))
                self.failures[key] = json.dumps(line.get("error") or line.get("response"))[:300]
        self._log({"event": "collected", "model": self.model.name, "id": batch_id,
                   "status": batch.status, "ok": ok, "failed": failed})  # fmt: skip
        self.say(f"batch {batch_id}: {batch.status}, {ok} replies, {failed} failed")

    def _download(self, file_id: str) -> list[dict[str, Any]]:
        text = self.api.files.content(file_id).text
        rows = []
        for raw in text.splitlines():
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def _line(self, r: BatchRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model.served_name,
                                "temperature": r.params.temperature,
                                "max_tokens": r.params.max_tokens}  # fmt: skip
        if r.params.seed is not None:
            body["seed"] = r.params.seed
        if r.prompt.stop:
            body["stop"] = r.prompt.stop
        if r.prompt.style == "chat":
            body["messages"] = r.prompt.messages
            url = "/v1/chat/completions"
        else:
            body["prompt"] = r.prompt.prompt
            url = "/v1/completions"
        return {"custom_id": r.key, "method": "POST", "url": url, "body": body}

    def _store_line(self, line: dict[str, Any]) -> bool:
        """One output line into the store; False when it holds no usable reply."""
        key = line.get("custom_id")
        response = line.get("response") or {}
        body = response.get("body") if isinstance(response, dict) else None
        if not isinstance(key, str) or response.get("status_code") != 200:
            self.failures[str(key)] = json.dumps(line.get("error") or response)[:300]
            return False
        try:
            choice = body["choices"][0]
            text = (choice.get("message") or {}).get("content") or choice.get("text") or ""
            usage = body.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            self.failures[key] = "a reply without choices"
            return False
        cost = None
        if self.prices is not None:
            cost = DISCOUNT * (prompt_tokens * self.prices[0] + completion_tokens * self.prices[1])
        reply = Reply(str(text), choice.get("finish_reason"), prompt_tokens, completion_tokens,
                      cost, 0.0, 1)  # fmt: skip
        self.store.put(key, self.model.name, {"batch": True}, reply.to_dict())
        return True

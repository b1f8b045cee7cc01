"""Requests through the providers' batch APIs (half price): the OpenAI Batch API (JSONL
upload, submit, poll, download) and Anthropic Message Batches (submit, poll, results).

A batch's id and the request keys it carries are appended to a log (``batches.jsonl`` in
a generation folder; for ``vad judge``, one beside the response store) before anything
waits on it, so a killed run picks its batches up
again instead of paying twice. The intent (a token and the keys) is logged before the
submission, and an OpenAI batch carries the token in its metadata: a run killed between
the provider's answer and the log finds that batch by its token. (Anthropic's batches
carry no metadata: such a batch is submitted again.) Every reply lands in the response
store under its request key: the generation then reads it like any cached reply (and a
later run, batch or not, is a cache hit). Lines that failed, and lines of a batch that
expired before reaching them, are simply not in the store: a later batch asks them
again, at most ``MAX_TRIES`` times each.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vad.errors import ModelConfigError, VadError
from vad.models import ResolvedModel
from vad.models.client import Reply, SamplingParams, clean_text
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
    """One model's batches; state in the JSONL file ``log``. Subclasses speak an API."""

    def __init__(
        self,
        model: ResolvedModel,
        log: Path,
        store: ResponseStore,
        prices: tuple[float, float] | None,
        poll_s: float = 30.0,
        say: Callable[[str], None] = print,
        paid: Callable[[str, float | None, str], None] | None = None,
    ) -> None:
        self.model, self.store, self.prices = model, store, prices
        self.paid = paid or (lambda key, usd, ref: None)  # (request key, cost, batch id)
        self.path, self.poll_s, self.say = log, poll_s, say
        self.tries: dict[str, int] = {}
        self.failures: dict[str, str] = {}  # request key -> why its line failed

    def submit_lines(self, requests: list[BatchRequest], token: str) -> str:
        raise NotImplementedError

    def find(self, token: str) -> str | None:
        """The id of a batch submitted with ``token``, if the API can tell."""
        return None

    def poll(self, batch_id: str) -> tuple[bool, str]:
        """(ended, status)."""
        raise NotImplementedError

    def results(self, batch_id: str) -> list[tuple[str, Reply | None, str]]:
        """(request key, reply or None, why not) for every line the batch answered."""
        raise NotImplementedError

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
        tries: dict[str, int] = {}
        intents: dict[str, list[str]] = {}  # token -> keys, of submissions not yet logged
        for entry in self._entries():
            if entry.get("event") == "submitting":
                intents[str(entry.get("token"))] = list(entry.get("keys", []))
            elif entry.get("event") in ("submitted", "unsent"):
                intents.pop(str(entry.get("token")), None)
            if entry.get("event") == "submitted":
                submitted.append(entry["id"])
                for key in entry.get("keys", []):
                    tries[key] = tries.get(key, 0) + 1
            elif entry.get("event") == "collected":
                collected.add(entry["id"])
        for token, keys in intents.items():  # killed between submitting and logging
            try:
                found = self.find(token)
            except Exception as exc:
                raise BatchError(f"{self.model.name}: cannot look for the batch of an "
                                 f"interrupted submission: {type(exc).__name__}: "
                                 f"{str(exc)[:300]}") from None  # fmt: skip
            if found is None:
                self._log({"event": "unsent", "model": self.model.name, "token": token})
                continue
            self._log({"event": "submitted", "model": self.model.name, "id": found,
                       "token": token, "keys": keys, "recovered": True})  # fmt: skip
            self.say(f"batch {found}: found by its token after an interrupted submission")
            submitted.append(found)
            for key in keys:
                tries[key] = tries.get(key, 0) + 1
        self.tries = tries  # the log is the count: read again, not added again
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
        token, keys = uuid.uuid4().hex, [r.key for r in requests]
        self._log({"event": "submitting", "model": self.model.name, "token": token,
                   "keys": keys})  # fmt: skip
        try:
            batch_id = self.submit_lines(requests, token)
        except Exception as exc:
            raise BatchError(f"{self.model.name}: the batch could not be submitted: "
                             f"{type(exc).__name__}: {str(exc)[:300]}") from None  # fmt: skip
        self._log({"event": "submitted", "model": self.model.name, "id": batch_id,
                   "token": token, "keys": keys})  # fmt: skip
        for r in requests:
            self.tries[r.key] = self.tries.get(r.key, 0) + 1
        self.say(f"batch {batch_id}: {len(requests)} requests submitted")
        return batch_id

    def collect(self, batch_id: str) -> None:
        """Wait for the batch to end; put its replies in the store; log what it did."""
        while True:
            try:
                ended, status = self.poll(batch_id)
            except Exception as exc:
                raise BatchError(f"batch {batch_id}: cannot read its status: "
                                 f"{type(exc).__name__}: {str(exc)[:300]}") from None  # fmt: skip
            if ended:
                break
            time.sleep(self.poll_s)
        ok = failed = 0
        for key, reply, why in self.results(batch_id):
            if reply is None:
                failed += 1
                self.failures[key] = why[:300]
            elif self.store.get(key) is not None:
                ok += 1  # collected before (a run killed while collecting): paid then
            else:
                ok += 1
                self.paid(key, reply.cost_usd, batch_id)  # before the store: never unpaid
                self.store.put(key, self.model.name, {"batch": batch_id}, reply.to_dict())
        self._log({"event": "collected", "model": self.model.name, "id": batch_id,
                   "status": status, "ok": ok, "failed": failed})  # fmt: skip
        self.say(f"batch {batch_id}: {status}, {ok} replies, {failed} failed")

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.prices is None:
            return None
        return DISCOUNT * (prompt_tokens * self.prices[0] + completion_tokens * self.prices[1])


class OpenAIBatches(BatchClient):
    """The OpenAI Batch API, or any server that speaks its files + batches protocol."""

    def __init__(self, model: ResolvedModel, *args: Any, **kwargs: Any) -> None:
        super().__init__(model, *args, **kwargs)
        from openai import OpenAI

        from vad.models.registry import api_key_for

        key = api_key_for(model) or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ModelConfigError("--batch needs OPENAI_API_KEY")
        self.api = OpenAI(base_url=model.api_base, api_key=key, max_retries=5)

    def submit_lines(self, requests: list[BatchRequest], token: str) -> str:
        lines = [json.dumps(self._line(r)) for r in requests]
        upload = self.api.files.create(
            file=("requests.jsonl", ("\n".join(lines) + "\n").encode()), purpose="batch"
        )
        chat = requests[0].prompt.style == "chat"
        batch = self.api.batches.create(
            input_file_id=upload.id,
            endpoint="/v1/chat/completions" if chat else "/v1/completions",
            completion_window="24h",
            metadata={"vad_token": token},
        )
        return str(batch.id)

    def find(self, token: str) -> str | None:
        for seen, batch in enumerate(self.api.batches.list(limit=100)):
            if (batch.metadata or {}).get("vad_token") == token:
                return str(batch.id)
            if seen >= 1000:  # newest first: a lost submission is among the latest
                break
        return None

    def poll(self, batch_id: str) -> tuple[bool, str]:
        batch = self.api.batches.retrieve(batch_id)
        self._files = (batch.output_file_id, batch.error_file_id)
        return batch.status in DONE, str(batch.status)

    def results(self, batch_id: str) -> list[tuple[str, Reply | None, str]]:
        output, errors = self._files
        out = [self._parse(line) for line in self._download(output)] if output else []
        for line in self._download(errors) if errors else []:
            why = json.dumps(line.get("error") or line.get("response"))
            out.append((str(line.get("custom_id")), None, why))
        return out

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
            body["messages"] = r.prompt.chat_messages()  # images as data URLs
            url = "/v1/chat/completions"
        else:
            body["prompt"] = r.prompt.prompt
            url = "/v1/completions"
        return {"custom_id": r.key, "method": "POST", "url": url, "body": body}

    def _parse(self, line: dict[str, Any]) -> tuple[str, Reply | None, str]:
        key = str(line.get("custom_id"))
        response = line.get("response") if isinstance(line.get("response"), dict) else {}
        body = response.get("body")
        if response.get("status_code") != 200:
            return key, None, json.dumps(line.get("error") or response)
        try:
            choice = body["choices"][0]
            text = (choice.get("message") or {}).get("content") or choice.get("text") or ""
            usage = body.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            return key, None, "a reply without choices"
        cost = self._cost(prompt_tokens, completion_tokens)
        return key, Reply(clean_text(text), choice.get("finish_reason"), prompt_tokens,
                          completion_tokens, cost, 0.0, 1), ""  # fmt: skip


class AnthropicBatches(BatchClient):
    """Anthropic Message Batches: requests in one POST, poll, then the results JSONL."""

    VERSION = "2023-06-01"

    def __init__(self, model: ResolvedModel, *args: Any, **kwargs: Any) -> None:
        super().__init__(model, *args, **kwargs)
        import httpx

        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ModelConfigError("--batch with an Anthropic model needs ANTHROPIC_API_KEY")
        base = (model.api_base or "https://api.anthropic.com").rstrip("/")
        headers = {"x-api-key": key, "anthropic-version": self.VERSION}
        self.http = httpx.Client(base_url=base, timeout=120, headers=headers)
        self._ended: dict[str, dict[str, Any]] = {}

    def submit_lines(self, requests: list[BatchRequest], token: str) -> str:
        items = []
        for r in requests:
            if r.prompt.style != "chat":
                raise ModelConfigError("Anthropic batches take chat prompts only")
            messages = [anthropic_message(m) for m in r.prompt.chat_messages()]
            system = [m["content"] for m in messages if m["role"] == "system"]
            params: dict[str, Any] = {
                "model": self.model.model_id, "max_tokens": r.params.max_tokens,
                "temperature": r.params.temperature,
                "messages": [m for m in messages if m["role"] != "system"],
            }  # fmt: skip
            if system:
                params["system"] = "\n\n".join(system)
            if r.prompt.stop:
                params["stop_sequences"] = r.prompt.stop
            items.append({"custom_id": r.key, "params": params})
        resp = self.http.post("/v1/messages/batches", json={"requests": items})
        resp.raise_for_status()
        return str(resp.json()["id"])

    def poll(self, batch_id: str) -> tuple[bool, str]:
        resp = self.http.get(f"/v1/messages/batches/{batch_id}")
        resp.raise_for_status()
        batch = resp.json()
        if batch.get("processing_status") == "ended":
            self._ended[batch_id] = batch
            counts = batch.get("request_counts") or {}
            status = "expired" if counts.get("expired") else "completed"
            return True, status
        return False, str(batch.get("processing_status"))

    def results(self, batch_id: str) -> list[tuple[str, Reply | None, str]]:
        url = self._ended[batch_id].get("results_url")
        if not url:
            return []
        resp = self.http.get(url)
        resp.raise_for_status()
        out = []
        for raw in resp.text.splitlines():
            try:
                line = json.loads(raw)
                key, result = str(line["custom_id"]), line["result"]
            except (ValueError, KeyError, TypeError):
                continue
            if result.get("type") != "succeeded":
                out.append((key, None, json.dumps(result)))
                continue
            try:
                message = result["message"]
                text = "".join(b.get("text", "") for b in message["content"]
                               if b.get("type") == "text")  # fmt: skip
                usage = message.get("usage") or {}
                tokens = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
            except (KeyError, TypeError, AttributeError, ValueError):
                out.append((key, None, "a message without content"))
                continue
            out.append((key, Reply(clean_text(text), message.get("stop_reason"), *tokens,
                                   self._cost(*tokens), 0.0, 1), ""))  # fmt: skip
        return out


def anthropic_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message of :meth:`Prompt.chat_messages` in Anthropic's form: an image part (an
    OpenAI data URL) becomes a base64 ``image`` block."""
    content = message.get("content")
    if not isinstance(content, list):
        return message
    blocks = []
    for part in content:
        if part.get("type") == "image_url":
            head, _, data = str(part["image_url"]["url"]).partition(",")
            media = head.removeprefix("data:").removesuffix(";base64")
            source = {"type": "base64", "media_type": media, "data": data}
            blocks.append({"type": "image", "source": source})
        else:
            blocks.append(part)
    return {**message, "content": blocks}


def check_batch_api(model: ResolvedModel) -> None:
    """Raise (one line) when the model's provider has no batch API vad speaks."""
    if model.provider not in ("anthropic", "openai") and not model.api_base:
        raise ModelConfigError(
            f"--batch speaks the OpenAI Batch API and Anthropic Message Batches: {model.name} "
            "is neither (nor an OpenAI-compatible --api-base); run it without --batch"
        )


def batch_client(model: ResolvedModel, *args: Any, **kwargs: Any) -> BatchClient:
    """The batch API of the model's provider."""
    check_batch_api(model)
    if model.provider == "anthropic":
        return AnthropicBatches(model, *args, **kwargs)
    return OpenAIBatches(model, *args, **kwargs)

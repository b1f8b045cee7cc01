"""Calls through litellm with per-provider limits, one deadline per request, backoff
for errors that pass, and a quick stop for errors that repeat.

litellm takes seconds to import: it is imported only when a model is called (or
resolved by a provider name only litellm knows), and :func:`preload_litellm` starts
that import in the background while a command does its other startup work.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from vad.errors import ModelCallError, ModelConfigError, ProviderError
from vad.models.litellm_setup import deadline, quiet_litellm
from vad.models.registry import ResolvedModel, api_key_for
from vad.prompts import Prompt


@dataclass(frozen=True)
class SamplingParams:
    """Output-affecting parameters: all of them enter the cache key."""

    temperature: float = 0.8
    max_tokens: int = 1024
    seed: int | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try; none of this enters the cache key."""

    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 300.0


@dataclass
class Reply:
    """What a model returned, with usage and timing."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_s: float
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clean_text(text: Any) -> str:
    """A reply's text as valid UTF-8 (a lone surrogate could not be stored or written)."""
    return str(text).encode("utf-8", "replace").decode("utf-8")


class Stopped(Exception):
    """The run is stopping (Ctrl-C): no new request is sent and no retry is made."""


class Unsent(Stopped):
    """Stopped before the request was ever sent: nothing can have been billed."""


class RateLimiter:
    """At most ``max_connections`` requests in flight and ``rpm`` starts per minute."""

    def __init__(
        self, max_connections: int, rpm: float | None = None, stop: threading.Event | None = None
    ) -> None:
        self._slots = threading.BoundedSemaphore(max(1, max_connections))
        self._interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self.stop = stop or threading.Event()

    def __enter__(self) -> RateLimiter:
        """Take a slot, then wait for the next start time; a stopping run raises Stopped."""
        while not self._slots.acquire(timeout=0.5):
            if self.stop.is_set():
                raise Stopped
        if self._interval:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next)
                self._next = start + self._interval
            if self.stop.wait(max(0.0, start - now)):
                self._slots.release()
                raise Stopped
        return self

    def __exit__(self, *exc: object) -> None:
        self._slots.release()


MAX_REPLY_CHARS = 500_000  # far above any max_tokens; a larger reply is refused
STOP_AFTER = 5  # calls in a row that failed (each after its retries): the run stops


class ReplyTooLarge(ValueError):
    """A reply longer than MAX_REPLY_CHARS (not retried: the same request repeats it)."""


@dataclass(frozen=True)
class Failure:
    """What one failed attempt came to: how it reads, and whether to try again."""

    what: str  # "the server answered HTTP 404 (an HTML page)", ...
    kind: str  # "transient" (retried), "server" (retried twice), "lasting" (not retried)
    connection: bool = False  # no answer at all (refused, reset, timed out)
    fix: str = ""
    # The request's own fault (its prompt is too long for the context, a content filter,
    # a reply with no choices or too large): the server is fine, the run goes on.
    per_request: bool = False


_TRANSIENT_STATUS = {408, 409, 425, 429, 502, 503, 504}
_PAGE_MARKS = ("<!doctype html", "<html", "<head", "<body")


def _snippet(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 120 else text[:117] + "..."


def _describe(exc: BaseException, timeout: float, api: str = "the API's") -> Failure:
    """Sort a failed attempt: what came back, and whether it can pass."""
    if isinstance(exc, ValueError) and not hasattr(exc, "status_code"):  # vad's own checks
        return Failure(str(exc), "lasting", per_request=True,
                       fix="check that the server speaks the OpenAI API")  # fmt: skip
    litellm = quiet_litellm()
    if isinstance(exc, litellm.ContextWindowExceededError | litellm.ContentPolicyViolationError):
        return Failure(f"{type(exc).__name__}: {_snippet(str(exc))}", "lasting",
                       per_request=True)  # fmt: skip
    if isinstance(exc, litellm.Timeout) or "deadline passed" in str(exc):
        return Failure(f"no complete reply within {timeout:g} s", "transient", connection=True,
                       fix="check the server's load, raise --timeout (retry: timeout) or "
                       "lower --max-connections")  # fmt: skip
    if isinstance(exc, litellm.APIConnectionError) or "Connection error" in str(exc):
        return Failure(f"no answer (connection failed: {_snippet(str(exc).split(' - ')[-1])})",
                       "transient", connection=True,
                       fix="check that the server runs and that the URL is right")  # fmt: skip
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None) or getattr(response, "status_code", None)
    headers = getattr(response, "headers", None) or {}
    kind_header = str(headers.get("content-type", "")) if hasattr(headers, "get") else ""
    try:
        body = response.text if response is not None else ""
    except Exception:
        body = ""
    text = str(exc)
    page = any(m in (body or text).lower() for m in _PAGE_MARKS) or "html" in kind_header
    with contextlib.suppress(Exception):  # an API's JSON error: its message
        body = str(json.loads(body)["error"]["message"])
    if not kind_header and status == 500 and not body:
        # litellm stands for the server here: HTTP 200 with a body that is no reply of the API
        shown = "an HTML page" if page else _snippet(text.split(" - ", 1)[-1])
        return Failure(f"a reply that is not in {api} format ({shown})", "lasting",
                       fix="check that the URL is the API's base (for OpenAI-compatible "
                       "servers it often ends in /v1), not a web page")  # fmt: skip
    if isinstance(status, int):
        what = f"the server answered HTTP {status}"
        what += " (an HTML page)" if page else f" ({_snippet(body or text)})"
        if status in _TRANSIENT_STATUS:
            return Failure(what, "transient", fix="check the server's load, try again later, "
                           "or lower --max-connections")  # fmt: skip
        if status >= 500:
            return Failure(what, "server", fix="check the server's log, or try again later")
        if status == 404:
            fix = ("check the URL (for OpenAI-compatible servers the API's base often ends "
                   "in /v1) and the model's name")  # fmt: skip
        elif page:
            fix = "check that the URL is the API's base, not a web page"
        else:
            fix = "check the model's name and the request settings (max_tokens, temperature)"
        # A JSON error of 400/413/422 is about this request's prompt or settings.
        mine = status in (400, 413, 422) and not page
        return Failure(what, "lasting", fix=fix, per_request=mine)
    return Failure(f"{type(exc).__name__}: {_snippet(text)}", "lasting",
                   fix="check the model's name and its server")  # fmt: skip


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        delay = float(value) if value is not None else None
    except ValueError:
        return None
    return delay if delay is not None and 0 <= delay < 1e6 else None


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ModelClient:
    """Sends prompts to one model; counts calls so that cache behaviour can be checked.

    Each attempt has one deadline (``retry.timeout``) for connecting, the headers and
    the whole body. Errors that pass (429, 502-504, timeouts, a refused or reset
    connection) are retried with exponential backoff, at most ``retry.max_retries``
    times, each wait announced through ``say``; a 5xx is retried twice; an error that
    repeats whatever the wait (an HTML page, 400, 404, a reply that is not the API's)
    is not retried. The ``STOP_AFTER``-th call in a row that failed, with no reply
    between them, raises :class:`ProviderError`: the run stops with one line. (A call
    that failed with an error that passes counts only if it waited out retries.)

    ``guard``, for a server vad started itself, is called after every failed request:
    it waits out a restart of the server, and raises when the server is gone for good,
    so that a dead server stops the run instead of being retried.
    """

    def __init__(
        self,
        model: ResolvedModel,
        limiter: RateLimiter,
        retry: RetryPolicy | None = None,
        guard: Callable[[], None] | None = None,
        stop: threading.Event | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.model, self.limiter, self.retry = model, limiter, retry or RetryPolicy()
        self.guard = guard
        self.stop = stop or threading.Event()
        self.say = say or _stderr_line
        self.calls = 0
        self.failed_in_a_row = 0
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The model and, for a server at a URL, the URL."""
        at = f" at {self.model.api_base}" if self.model.api_base else ""
        return f"model {self.model.name}{at}"

    def complete(self, prompt: Prompt, params: SamplingParams) -> Reply:
        """Send one request, retrying what may pass with exponential backoff."""
        if prompt.style not in self.model.styles:
            raise ModelConfigError(
                f"{self.model.name} does not support {prompt.style} prompts; "
                f"use style {' or '.join(self.model.styles)}"
            )
        litellm = quiet_litellm()

        kwargs: dict[str, Any] = {
            "model": self.model.litellm_name(prompt.style),
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
            "timeout": self.retry.timeout,
            "num_retries": 0,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if prompt.stop:
            kwargs["stop"] = prompt.stop
        if self.model.api_base:
            kwargs["api_base"] = self.model.api_base
        if (key := api_key_for(self.model)) is not None:
            kwargs["api_key"] = key
        openai = kwargs["model"].startswith(("openai/", "text-completion-openai/"))
        api = "the OpenAI API's" if openai else "the API's"
        attempt = 0
        sent = False
        while True:
            attempt += 1
            if self.stop.is_set():
                raise Stopped if sent else Unsent
            try:
                with self.limiter:
                    if self.stop.is_set():  # set while this request waited for a slot
                        raise Stopped
                    started = time.monotonic()  # latency of the request, not of the queue
                    sent = True
                    with self._lock:
                        self.calls += 1
                    with deadline(self.retry.timeout):
                        if prompt.style == "chat":
                            resp = litellm.completion(messages=prompt.chat_messages(), **kwargs)
                        else:
                            resp = litellm.text_completion(prompt=prompt.prompt, **kwargs)
                reply = self._reply(resp, time.monotonic() - started, attempt)
            except Stopped:
                if not sent:
                    raise Unsent from None
                raise
            except litellm.AuthenticationError as exc:
                raise ModelConfigError(
                    f"{self.where}: the provider rejected the API key "
                    f"({_snippet(str(exc))}); check it"
                ) from None
            except Exception as exc:
                failure = _describe(exc, self.retry.timeout, api)
                retries = self.retry.max_retries
                if failure.kind == "server":
                    retries = min(retries, 2)
                elif failure.kind == "lasting":
                    retries = 0
                if self.guard is not None:
                    self.guard()  # raises EngineError when the server is gone for good
                    if not failure.connection:
                        retries = min(retries, 1)  # a live local server's 5xx repeats
                if attempt > retries:
                    # Counted toward the stop: a server that fails whatever is asked (no
                    # answer at all, a 5xx, a page that is no API), not a request's own
                    # fault; a rate limit counts only once retries were waited out.
                    waited = failure.kind != "transient" or failure.connection or attempt > 1
                    if waited and not failure.per_request:
                        self._failed(failure, exc)
                    raise ModelCallError(
                        f"{self.model.name}: {type(exc).__name__}: {failure.what}"
                    ) from exc
                delay = _retry_after(exc)
                if delay is not None:
                    delay = min(delay, self.retry.max_delay)
                else:
                    delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
                    delay *= 0.5 + random.random() / 2
                self.say(f"retrying {self.where}: {failure.what}; try {attempt + 1} of "
                         f"{retries + 1} in {delay:.1f} s")  # fmt: skip
                if self.stop.wait(delay):
                    raise Stopped from None
            else:
                with self._lock:
                    self.failed_in_a_row = 0
                return reply

    def _failed(self, failure: Failure, exc: BaseException) -> None:
        """Count a failed call; raise ProviderError when too many failed in a row."""
        with self._lock:
            self.failed_in_a_row += 1
            count = self.failed_in_a_row
        if count >= STOP_AFTER:
            self.stop.set()
            raise ProviderError(
                f"{self.where}: {failure.what}, {count} calls in a row; {failure.fix}"
            ) from exc

    def _reply(self, resp: Any, latency: float, attempts: int) -> Reply:
        if not getattr(resp, "choices", None):
            raise ValueError("the provider's reply holds no choices")
        choice = resp.choices[0]
        message = getattr(choice, "message", None)
        text = (message.content if message is not None else getattr(choice, "text", "")) or ""
        if len(text) > MAX_REPLY_CHARS:
            raise ReplyTooLarge(
                f"the reply holds {len(text):,} characters, over the cap of "
                f"{MAX_REPLY_CHARS:,}: the provider ignored max_tokens; nothing of it is kept"
            )
        text = clean_text(text)
        usage = getattr(resp, "usage", None)
        return Reply(
            text=text,
            finish_reason=getattr(choice, "finish_reason", None),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=self._cost(resp),
            latency_s=round(latency, 4),
            attempts=attempts,
        )

    def _cost(self, resp: Any) -> float | None:
        if self.model.is_local:
            return 0.0
        litellm = quiet_litellm()

        try:
            return float(litellm.completion_cost(completion_response=resp))
        except Exception:
            return None  # price unknown to litellm's map: reported as unknown, not 0

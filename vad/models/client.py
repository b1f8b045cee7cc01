"""Calls through litellm with per-provider limits and exponential backoff."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from vad.errors import ModelCallError, ModelConfigError
from vad.models.registry import ResolvedModel, api_key_for
from vad.prompts import Prompt

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import


def quiet_litellm() -> Any:
    """Import litellm with its banners and log lines off: vad reports errors itself."""
    import litellm

    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm


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


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        delay = float(value) if value is not None else None
    except ValueError:
        return None
    return delay if delay is not None and 0 <= delay < 1e6 else None


def _connection_error(exc: BaseException) -> bool:
    litellm = quiet_litellm()
    return isinstance(exc, litellm.APIConnectionError | litellm.Timeout) or (
        "Connection error" in str(exc)
    )


MAX_REPLY_CHARS = 500_000  # far above any max_tokens; a larger reply is refused


class ReplyTooLarge(ValueError):
    """A reply longer than MAX_REPLY_CHARS (not retried: the same request repeats it)."""


def _retryable(exc: BaseException) -> bool:
    litellm = quiet_litellm()

    if isinstance(exc, litellm.RateLimitError | litellm.Timeout | litellm.APIConnectionError):
        return True
    if isinstance(
        exc,
        litellm.InternalServerError | litellm.ServiceUnavailableError | litellm.BadGatewayError,
    ):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


class ModelClient:
    """Sends prompts to one model; counts calls so that cache behaviour can be checked.

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
    ) -> None:
        self.model, self.limiter, self.retry = model, limiter, retry or RetryPolicy()
        self.guard = guard
        self.stop = stop or threading.Event()
        self.calls = 0
        self._lock = threading.Lock()

    def complete(self, prompt: Prompt, params: SamplingParams) -> Reply:
        """Send one request, retrying 429s, 5xx and timeouts with exponential backoff."""
        litellm = quiet_litellm()

        if prompt.style not in self.model.styles:
            raise ModelConfigError(
                f"{self.model.name} does not support {prompt.style} prompts; "
                f"use style {' or '.join(self.model.styles)}"
            )
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
        attempt = 0
        while True:
            attempt += 1
            if self.stop.is_set():
                raise Stopped
            try:
                with self.limiter:
                    if self.stop.is_set():  # set while this request waited for a slot
                        raise Stopped
                    started = time.monotonic()  # latency of the request, not of the queue
                    with self._lock:
                        self.calls += 1
                    if prompt.style == "chat":
                        resp = litellm.completion(messages=prompt.messages, **kwargs)
                    else:
                        resp = litellm.text_completion(prompt=prompt.prompt, **kwargs)
                return self._reply(resp, time.monotonic() - started, attempt)
            except Stopped:
                raise
            except litellm.AuthenticationError as exc:
                raise ModelConfigError(
                    f"{self.model.name}: the provider rejected the API key ({exc}); check it"
                ) from None
            except Exception as exc:
                retries = self.retry.max_retries
                if self.guard is not None:
                    self.guard()  # raises EngineError when the server is gone for good
                    if not _connection_error(exc):
                        retries = min(retries, 1)  # a live local server's 5xx repeats
                if not _retryable(exc) or attempt > retries:
                    raise ModelCallError(
                        f"{self.model.name}: {type(exc).__name__}: {str(exc)[:500]}"
                    ) from exc
                delay = _retry_after(exc)
                if delay is not None:
                    delay = min(delay, self.retry.max_delay)
                else:
                    delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
                    delay *= 0.5 + random.random() / 2
                if self.stop.wait(delay):
                    raise Stopped from None

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
        if self.model.provider == "local":
            return 0.0
        litellm = quiet_litellm()

        try:
            return float(litellm.completion_cost(completion_response=resp))
        except Exception:
            return None  # price unknown to litellm's map: reported as unknown, not 0

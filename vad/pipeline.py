"""One path for a drawing: ask (the store first) -> extract -> render -> score -> one record.

The draw and correct tasks and ``vad generate`` draw through :func:`draw` (generation's
proposals ask through :func:`ask`). One policy everywhere:

- a reply comes from the response store when it is there, else from the model, and is
  stored before anything is done with it;
- a model call that fails (:class:`~vad.errors.ModelCallError`) is a ``model_error``
  record; anything else the client raises (a rejected key, a dead engine, a provider
  that keeps failing, Ctrl-C) stops the run;
- a failure on the host while rendering one drawing is a ``crash`` record (not scored),
  never a stopped run; a jail that cannot start at all (no drawing can render) stops it;
- nothing a jailed program says about itself is taken as its status (the pool decides);
- each rendered drawing is scored by the per-sample scorers the caller gives (the shapes
  verifier: vad.scoring.samples), from the image the host re-encoded; a scorer that
  fails on one drawing records its error there and stops nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vad.errors import ModelCallError, VadError
from vad.extract import Extraction, extract_chat, extract_completion
from vad.models import Reply, ResolvedModel, SamplingParams
from vad.models.client import Stopped, Unsent
from vad.prompts import Prompt
from vad.render import RenderResult, RenderStatus
from vad.render.jail import JailUnavailable
from vad.store import ResponseStore, cache_key


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


@dataclass(frozen=True)
class Request:
    """One request: which model is asked what, with which sampling, as which sample."""

    model: ResolvedModel
    prompt: Prompt
    params: SamplingParams
    sample_index: int

    @property
    def key(self) -> str:
        return request_key(self.model, self.prompt, self.params, self.sample_index)


def stored_reply(stored: Any) -> Reply | None:
    """A reply from the store, or None if what is stored does not make one."""
    if not isinstance(stored, dict):
        return None
    try:
        reply = Reply(**stored)
    except TypeError:
        return None
    return reply if isinstance(reply.text, str) else None


class Client(Protocol):
    def complete(self, prompt: Prompt, params: SamplingParams) -> Reply: ...


class Meter(Protocol):
    """What a caller that pays for requests hears of each call (``vad generate``'s
    ledger): ``begin`` before a request may be sent, then exactly one of ``paid`` (a
    reply came) or ``unpaid`` (it failed or was stopped: it may still be billed; with
    ``sent`` False it was stopped before it was ever sent: nothing to pay)."""

    def begin(self, key: str) -> str: ...
    def paid(self, key: str, reply: Reply, attempt: str) -> None: ...
    def unpaid(self, key: str, attempt: str, sent: bool = True) -> None: ...


@dataclass
class Asked:
    """A model's answer to one prompt (``reply`` None when the call failed)."""

    reply: Reply | None
    cached: bool
    key: str
    error: str | None = None

    def fields(self) -> dict[str, Any]:
        """What a record says of the reply."""
        if self.reply is None:
            return {}
        r = self.reply
        return {"cached": self.cached, "raw_reply": r.text, "finish_reason": r.finish_reason,
                "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                "cost_usd": r.cost_usd, "latency_s": r.latency_s,
                "attempts": r.attempts}  # fmt: skip


def ask(
    store: ResponseStore, client: Client | None, request: Request, meter: Meter | None = None
) -> Asked:
    """The reply to ``request``: from the store, else from the model (then stored).

    With ``client`` None only the store is read (a reply not there is an error: a batch
    that did not answer it). A failed call is an ``Asked`` with ``error``; what stops a
    run is raised.
    """
    key, prompt = request.key, request.prompt
    reply = stored_reply(store.get(key))
    if reply is not None:
        return Asked(reply, True, key)
    if client is None:
        return Asked(None, False, key, "not answered")
    attempt = meter.begin(key) if meter is not None else ""
    try:
        reply = client.complete(prompt, request.params)
    except ModelCallError as exc:
        if meter is not None:
            meter.unpaid(key, attempt)
        return Asked(None, False, key, str(exc))
    except Unsent:
        if meter is not None:
            meter.unpaid(key, attempt, sent=False)
        raise
    except BaseException:
        if meter is not None:
            meter.unpaid(key, attempt)
        raise
    if meter is not None:
        meter.paid(key, reply, attempt)
    store.put(key, request.model.name, {"template": prompt.template_id, **prompt.payload()},
              reply.to_dict())  # fmt: skip
    return Asked(reply, False, key)


def extract(prompt: Prompt, language: str, text: str, truncated: bool) -> Extraction:
    """Code from a reply, for chat or completion prompts."""
    if prompt.style == "chat":
        return extract_chat(text, language)
    return extract_completion(
        text, language, prompt.code_start, prompt.code_end, prompt.stop, truncated
    )


Renderer = Callable[[str, str, int, int, Path], RenderResult]  # RenderPool.render


def render(
    renderer: Renderer, language: str, code: str | None, width: int, height: int, dest: Path,
    no_code_reason: str = "",
) -> RenderResult:  # fmt: skip
    """Render ``code`` to ``dest`` in the jail; a failure of the host is a ``crash``."""
    if code is None:
        return RenderResult(RenderStatus.NO_CODE, no_code_reason)
    try:
        return renderer(language, code, width, height, dest)
    except JailUnavailable:
        raise  # no drawing can render now: the run stops (a later run redoes them)
    except Exception as exc:  # a host-side bug must not lose the sample, nor stop the run
        return RenderResult(RenderStatus.CRASH, f"host error: {type(exc).__name__}: {exc}")


SampleScorer = Callable[[Path], dict[str, Any]]  # a rendered image -> what it scores


def score(scorers: dict[str, SampleScorer], image: Path) -> dict[str, Any]:
    """Each scorer's record of one rendered image; a scorer that fails says so there."""
    out: dict[str, Any] = {}
    for name, scorer in scorers.items():
        try:
            out[name] = scorer(image)
        except (Stopped, VadError):
            raise  # the run is stopping, or a scorer's model is refused: not scored now
        except Exception as exc:  # one drawing a scorer cannot read is not a stopped run
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return out


@dataclass
class Drawing:
    """One drawing's way through the pipeline: the reply, the code, the render, scores."""

    asked: Asked
    extraction: Extraction | None = None
    result: RenderResult | None = None
    scores: dict[str, Any] | None = None  # per scorer, of a drawing that rendered

    @property
    def code(self) -> str | None:
        return self.extraction.code if self.extraction is not None else None


def draw(
    store: ResponseStore,
    client: Client | None,
    request: Request,
    language: str,
    renderer: Renderer,
    size: tuple[int, int],
    dest: Path,
    meter: Meter | None = None,
    scorers: dict[str, SampleScorer] | None = None,
) -> Drawing:
    """Ask, extract, render one drawing of ``request`` in ``language`` to ``dest``, and
    score it with ``scorers`` when it rendered."""
    asked = ask(store, client, request, meter)
    prompt = request.prompt
    drawing = Drawing(asked)
    if asked.reply is None:
        return drawing
    reply = asked.reply
    drawing.extraction = extract(prompt, language, reply.text, reply.finish_reason == "length")
    if drawing.code is None:
        drawing.result = RenderResult(RenderStatus.NO_CODE, "; ".join(drawing.extraction.notes))
        return drawing
    drawing.result = render(renderer, language, drawing.code, *size, dest)
    if drawing.result.ok and scorers:
        drawing.scores = score(scorers, dest)
    return drawing

"""A vision judge's fidelity rating as a per-sample scorer (``vad.pipeline.SampleScorer``):
``vad generate --judge MODEL`` scores every rendered drawing with it as it is made, so
``--keep-if fidelity>=X`` can keep by it, on any level.

The question is ``vad judge``'s own (``prompts/judge.yaml``, "fidelity") asked with its
default sampling (temperature 0, 96 tokens): one rubric, one reading of replies, and
the same request key for the same image and caption. The reply goes through the
response store like any other (a re-run asks nothing). A call that fails is no score
(``failed``): the caller records the sample as not scored, and a later run asks again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vad import pipeline
from vad.judge import prompts
from vad.judge.parsing import parse_score
from vad.models import ResolvedModel, SamplingParams
from vad.store import ResponseStore

FIDELITY = "fidelity"
PARAMS = SamplingParams(0.0, 96, None)  # vad judge's defaults (--temperature, --max-tokens)

# request -> a context giving the request's meter; raises vad.models.client.Stopped when
# the budget cannot cover the request (the drawing is then not recorded: a later run)
Metered = Callable[[pipeline.Request], contextlib.AbstractContextManager[pipeline.Meter | None]]


def fidelity_scorer(
    judge: ResolvedModel, client: Any, store: ResponseStore, caption: str, metered: Metered
) -> pipeline.SampleScorer:
    """Rates one rendered drawing of ``caption`` 1-10 with ``judge``."""

    def scorer(image: Path) -> dict[str, Any]:
        prompt = prompts.fidelity(image.read_bytes(), caption)
        request = pipeline.Request(judge, prompt, PARAMS, 0)
        with metered(request) as meter:
            asked = pipeline.ask(store, client, request, meter)
        found: dict[str, Any] = {"judge": judge.name, "prompt_version": prompt.version,
                                 "request_key": request.key}  # fmt: skip
        if asked.reply is None:
            return {**found, "failed": str(asked.error)[:300]}
        score, reason = parse_score(asked.reply.text)
        return {**found, "score": score, "reason": reason, "parsed": score is not None,
                "raw_reply": asked.reply.text[:500], "cached": asked.cached,
                "cost_usd": None if asked.cached else asked.reply.cost_usd}  # fmt: skip

    return scorer

"""Which outcomes are scores and which are not.

A sample is *scored* when the model answered: the drawing rendered, or failed to
render for a reason the model caused (no code, a syntax error, a timeout of its
program, ...). It is *not scored* when no answer could be judged: the provider failed
(errors, its timeouts, rate limits past the retries), the host failed, or a budget
stopped the run. Rates use scored samples only; samples not scored are redone by the
next run of the same command.
"""

from __future__ import annotations

from typing import Any

# status -> what it means, for tables and messages
NOT_SCORED: dict[str, str] = {
    "model_error": "the model call failed (provider error, timeout or rate limit)",
    "crash": "the host failed while rendering",
    "budget_stop": "the run's budget stopped it before the request",
}


def is_scored(record: dict[str, Any]) -> bool:
    return record.get("status") not in NOT_SCORED

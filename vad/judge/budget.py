"""``vad judge --max-cost``: what this invocation may spend on new requests.

Before a request is sent, the most it can cost is set aside: every character of its
text a token, ``IMAGE_TOKENS`` per image, and ``max_tokens`` of reply, at the judge's
prices (litellm's price map). A request is sent only while what was spent plus what is
set aside for the requests in flight plus its own stays within the budget, so the
budget is never passed. A reply in the response store costs nothing and always fits.
A reply of unknown price counts at its bound. The budget is per invocation (judgements
already made are read back, not paid again): run again with a larger one to go on.
"""

from __future__ import annotations

import json
import threading

from vad.models import Reply
from vad.prompts import Prompt

# More than any provider bills for one image of a drawing (OpenAI: 765 tokens for a
# 1024 px square at high detail; Anthropic: about 1,600 for the largest it keeps).
IMAGE_TOKENS = 2000


class JudgeBudget:
    """``max_cost`` USD (None: no limit) over the requests of one invocation;
    ``prices``: USD per prompt token and per reply token, by judge name. Thread-safe."""

    def __init__(
        self, max_cost: float | None, prices: dict[str, tuple[float, float]], max_tokens: int
    ) -> None:
        self.max_cost, self.prices, self.max_tokens = max_cost, prices, max_tokens
        self.spent = 0.0  # replies paid for (a price unknown: its bound)
        self.reserved = 0.0
        self.hit = False  # a request was refused: the budget stopped the run
        self._lock = threading.Lock()

    def bound(self, judge: str, prompt: Prompt) -> float:
        """The most one request can cost."""
        price_in, price_out = self.prices.get(judge, (0.0, 0.0))
        text = len(json.dumps(prompt.payload())) + IMAGE_TOKENS * len(prompt.images)
        return text * price_in + self.max_tokens * price_out

    def reserve(self, judge: str, prompt: Prompt) -> float | None:
        """Set aside the bound of a request about to be sent; None when it does not fit."""
        worst = self.bound(judge, prompt) if self.max_cost is not None else 0.0
        with self._lock:
            if self.max_cost is not None and self.spent + self.reserved + worst > self.max_cost:
                self.hit = True
                return None
            self.reserved += worst
        return worst

    def settle(self, reserved: float, reply: Reply | None) -> None:
        """A request ended: its reservation goes back, and what it cost is spent (a
        failed one may still be billed: its bound)."""
        cost = reply.cost_usd if reply is not None else None
        with self._lock:
            self.reserved -= reserved
            self.spent += cost if cost is not None else reserved

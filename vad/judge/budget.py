"""``vad judge --max-cost``: what this invocation may spend on new requests.

Before a request is sent, the most it can cost is set aside: every character of its
text a token, each image's bound (:func:`image_tokens`), and ``max_tokens`` of reply,
at the judge's prices (litellm's price map). A request is sent only while what was spent
plus what is set aside for the requests in flight plus its own stays within the budget,
so the budget is not passed. A reply in the response store costs nothing and always
fits (it is answered from the store even once the budget is hit). A reply of unknown
price counts at its bound. A reply that cost more than its bound means the bound is
wrong for this judge (say, a provider that bills images at a multiple): the budget is
not trusted further, and no new request is sent (``overran``; those in flight finish).
The budget is per invocation (judgements already made are read back, not paid again):
run again with a larger one to go on.
"""

from __future__ import annotations

import io
import json
import math
import threading

from vad.models import Reply
from vad.prompts import Prompt

# The bound of one image, in prompt tokens: OpenAI's high-detail count (170 tokens per
# 512 px tile, plus 85) of the image at its own pixel size, times 2, and at least 2,000.
# That is above what OpenAI bills (it scales an image to at most 2048 px, shortest side
# 768: at most 8 tiles, 1,445 tokens; a small image is scaled up, hence the floor), what
# Anthropic bills (about width x height / 750, at most about 1,600: it scales larger
# images down) and Gemini's 258 per 768 px tile. A judge that bills images at a multiple
# (gpt-4o-mini: about 33 times) can pass it: the first such reply stops new requests.
TILE_PX = 512
TILE_TOKENS = 170
BASE_TOKENS = 85
SAFETY = 2
MIN_IMAGE_TOKENS = 2000
UNREADABLE_IMAGE_TOKENS = SAFETY * (TILE_TOKENS * 8 * 8 + BASE_TOKENS)  # a 4096 px square


def image_tokens(image: bytes) -> int:
    """The most one image of a request can cost, in prompt tokens (see above)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image)) as opened:  # reads the header only
            width, height = opened.size
    except Exception:
        return UNREADABLE_IMAGE_TOKENS
    tiles = math.ceil(width / TILE_PX) * math.ceil(height / TILE_PX)
    return max(MIN_IMAGE_TOKENS, SAFETY * (TILE_TOKENS * tiles + BASE_TOKENS))


class JudgeBudget:
    """``max_cost`` USD (None: no limit) over the requests of one invocation;
    ``prices``: USD per prompt token and per reply token, by judge name. Thread-safe."""

    def __init__(
        self, max_cost: float | None, prices: dict[str, tuple[float, float]], max_tokens: int
    ) -> None:
        self.max_cost, self.prices, self.max_tokens = max_cost, prices, max_tokens
        self.spent = 0.0  # replies paid for (a price unknown: its bound)
        self.reserved = 0.0
        self.hit = False  # a request was refused, or a reply overran: the budget stopped it
        self.overran = False  # a reply cost more than its bound: no new request is sent
        self._lock = threading.Lock()

    def bound(self, judge: str, prompt: Prompt) -> float:
        """The most one request can cost."""
        price_in, price_out = self.prices.get(judge, (0.0, 0.0))
        text = len(json.dumps(prompt.payload())) + sum(map(image_tokens, prompt.images))
        return text * price_in + self.max_tokens * price_out

    def reserve(self, judge: str, prompt: Prompt) -> float | None:
        """Set aside the bound of a request about to be sent; None when it does not fit
        (or a reply overran its bound: nothing new is sent)."""
        worst = self.bound(judge, prompt) if self.max_cost is not None else 0.0
        with self._lock:
            if self.overran or (
                self.max_cost is not None and self.spent + self.reserved + worst > self.max_cost
            ):
                self.hit = True
                return None
            self.reserved += worst
        return worst

    def release(self, reserved: float) -> None:
        """Give back a reservation (a batch's: its answered lines are paid one by one)."""
        with self._lock:
            self.reserved -= reserved

    def pay(self, cost: float | None, bound: float) -> bool:
        """A batch line's reply, sent under ``bound``: what it cost is spent (None, a
        price unknown, happens only without a budget: --max-cost needs known prices).
        True when it is the first reply to cost more than its bound (``overran``: no new
        request is sent; the reservation itself is given back by ``release``)."""
        with self._lock:
            self.spent += cost or 0.0
            if bound and (cost or 0.0) > bound and not self.overran:
                self.overran = self.hit = True
                return True
        return False

    def settle(self, reserved: float, reply: Reply | None) -> bool:
        """A request ended: its reservation goes back, and what it cost is spent (a
        failed one may still be billed: its bound). True when this reply is the first to
        cost more than its reservation (the budget then stops: ``overran``)."""
        cost = reply.cost_usd if reply is not None else None
        with self._lock:
            self.reserved -= reserved
            self.spent += cost if cost is not None else reserved
            if reserved and (cost or 0.0) > reserved and not self.overran:
                self.overran = self.hit = True
                return True
        return False

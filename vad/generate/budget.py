"""``--max-cost``: the budget of a generation and what is set aside from it.

Before a request is sent, the most it can cost is reserved (every character of the
prompt a token, and ``max_tokens`` of reply, at the model's prices); a request is sent
only while what the ledger says was paid, plus every reservation of the requests in
flight, plus its own stays within the budget. A request ends by giving its reservation
back, its reply's price being in the ledger by then. A reply already in the response
store costs nothing, and always fits.

The meters are the ledger's view of one request (see ``vad.pipeline.Meter``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from vad.errors import SpecError, VadError
from vad.generate.ledger import SpendLedger
from vad.models import ResolvedModel
from vad.store import ResponseStore


class Budget:
    """``max_cost`` (None: no budget) against ``ledger``'s total and the reservations of
    the requests in flight; ``prices``: USD per prompt token and per reply token, by
    model name. ``hit`` is set when the budget stopped the run. Thread-safe."""

    def __init__(
        self,
        max_cost: float | None,
        prices: dict[str, tuple[float, float]],
        ledger: SpendLedger,
        max_tokens: int,
    ) -> None:
        self.max_cost, self.prices, self.ledger = max_cost, prices, ledger
        self.max_tokens = max_tokens
        self.reserved = 0.0  # set aside for the requests in flight
        self.hit = False
        self._lock = threading.Lock()

    def worst(self, model: str, prompt: Any, key: str, store: ResponseStore | None = None) -> float:
        """The most a request can cost: every character of the prompt a token, and
        ``max_tokens`` of reply, at the model's prices. A reply in the store is free."""
        if store is not None and store.get(key) is not None:
            return 0.0
        return self._bound(model, prompt, self.max_tokens)

    def _bound(self, model: str, prompt: Any, max_tokens: int) -> float:
        """Every character of the prompt a token, each image its bound, and ``max_tokens``
        of reply, at the model's prices."""
        from vad.judge.budget import image_tokens  # (a judge's images: --judge)

        price_in, price_out = self.prices[model]
        tokens = len(json.dumps(prompt.payload())) + sum(map(image_tokens, prompt.images))
        return tokens * price_in + max_tokens * price_out

    def reserve(
        self, model: str, prompt: Any, key: str, store: ResponseStore | None = None,
        max_tokens: int | None = None,
    ) -> float | None:  # fmt: skip
        """Set aside the most a request can cost; None when the budget cannot cover it."""
        if self.max_cost is None:
            return 0.0
        if store is not None and store.get(key) is not None:
            return 0.0  # a reply in the store: free, whatever has been spent
        worst = self._bound(model, prompt, max_tokens or self.max_tokens)
        if worst == 0:
            return 0.0  # a reply in the store: free, whatever has been spent
        with self._lock:
            if self.ledger.total + self.reserved + worst > self.max_cost:
                return None
            self.reserved += worst
        return worst

    def release(self, amount: float) -> None:
        """Give back a reservation (the request ended: what it cost is in the ledger)."""
        with self._lock:
            self.reserved -= amount

    def cover(self, model: str, prompt: Any, max_tokens: int) -> None:
        """Raise when the budget cannot cover one more request (for setup requests)."""
        if self.max_cost is None:
            return
        worst = self._bound(model, prompt, max_tokens)
        if self.ledger.total + worst > self.max_cost:
            self.hit = True
            raise VadError(f"--max-cost {self.max_cost:g} does not cover the requests that "
                           "propose concepts: raise it")  # fmt: skip

    def affordable(self, worsts: Iterable[float]) -> int:
        """How many requests, of the ones whose worst costs ``worsts`` gives in order, the
        budget still covers together (the longest head; read no further than that)."""
        total, count = self.ledger.total, 0
        for worst in worsts:
            if worst and total + worst > (self.max_cost or 0.0):
                break  # (a reply in the store costs nothing and always fits)
            total += worst
            count += 1
        return count


class SetupMeter:
    """Setup requests (propose): refused when the budget cannot cover them, then paid."""

    def __init__(self, budget: Budget, model: str, prompt: Any) -> None:
        self.budget, self.model, self.prompt = budget, model, prompt

    def begin(self, key: str) -> str:
        self.budget.cover(self.model, self.prompt, 512)
        return ""

    def paid(self, key: str, reply: Any, attempt: str) -> None:
        self.budget.ledger.add(key, reply.cost_usd, "propose")

    def unpaid(self, key: str, attempt: str, sent: bool = True) -> None:
        pass  # the run stops: propose's requests are asked again by the next


class RequestMeter:
    """The spend ledger's view of one request (see vad.pipeline.Meter): a request that
    may have been sent counts at its bound until its reply's price settles it. A reply
    that cost more than its reservation stops the run (``stop``) at once."""

    def __init__(
        self, budget: Budget, reserved: float, stop: threading.Event, say: Callable[[str], None]
    ) -> None:
        self.budget, self.ledger, self.reserved = budget, budget.ledger, reserved
        self.stop, self.say = stop, say

    def begin(self, key: str) -> str:
        return self.ledger.begin(key, self.reserved)  # a kill from here: the bound

    def paid(self, key: str, reply: Any, attempt: str) -> None:
        known = reply.cost_usd is not None  # paid now, whatever happens to the drawing
        usd = reply.cost_usd if known else self.reserved
        self.ledger.add(key, usd, "reply" if known else "bound", settles=attempt)
        if self.reserved and (reply.cost_usd or 0.0) > self.reserved:
            self.budget.hit = True  # the provider billed more than a request can cost
            self.stop.set()  # at once, before this drawing renders
            self.say(
                f"stopping: a reply cost ${reply.cost_usd:.6f}, more than the "
                f"${self.reserved:.6f} a request can cost; the budget is not trusted further"
            )

    def unpaid(self, key: str, attempt: str, sent: bool = True) -> None:
        if not sent:  # stopped before it left: the in-flight entry is settled at nothing
            self.ledger.add(key, 0.0, "unsent", settles=attempt)
            return
        self.ledger.add(key, self.reserved, "bound", settles=attempt)  # it may be billed


def prices(model: ResolvedModel) -> tuple[float, float]:
    """USD per prompt token and per reply token, from litellm's price map."""
    if model.is_local:
        return 0.0, 0.0
    from vad.models.litellm_setup import quiet_litellm

    for name in (model.name, model.model_id):
        try:
            info = quiet_litellm().get_model_info(name)
            return float(info["input_cost_per_token"]), float(info["output_cost_per_token"])
        except Exception:
            continue
    raise SpecError(
        f"--max-cost needs the price of {model.name}, which litellm's price map does not "
        "know: use a model it prices, or leave --max-cost out"
    )


def known_prices(model: ResolvedModel) -> tuple[float, float] | None:
    try:
        return prices(model)
    except SpecError:
        return None  # costs of replies then stay unknown

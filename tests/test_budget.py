"""The budget of a generation (vad/generate/budget.py), alone: reservations against
``--max-cost`` and the spend ledger, from one thread and from many."""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from vad.errors import VadError
from vad.generate.budget import Budget, RequestMeter
from vad.generate.ledger import SpendLedger
from vad.prompts import Prompt
from vad.store import ResponseStore

PROMPT = Prompt("draw", "1", "chat", messages=[{"role": "user", "content": "a red circle"}])
PRICES = {"m": (1e-4, 1e-3)}  # USD per prompt token, per reply token
MAX_TOKENS = 100
# every character of the prompt a token, and max_tokens of reply
WORST = len(json.dumps(PROMPT.payload())) * 1e-4 + MAX_TOKENS * 1e-3


def _budget(tmp_path: Path, max_cost: float | None, spent: float = 0.0) -> Budget:
    ledger = SpendLedger(tmp_path)
    ledger.open()
    if spent:
        ledger.add("earlier", spent, "reply")
    return Budget(max_cost, PRICES if max_cost is not None else {}, ledger, MAX_TOKENS)


def test_the_worst_cost_is_every_prompt_character_and_max_tokens(tmp_path: Path) -> None:
    assert _budget(tmp_path, 1.0).worst("m", PROMPT, "k") == pytest.approx(WORST)


def test_reservations_fill_the_budget_and_a_release_makes_room(tmp_path: Path) -> None:
    budget = _budget(tmp_path, 4.5 * WORST)
    assert [budget.reserve("m", PROMPT, f"k{i}") for i in range(5)] == [WORST] * 4 + [None]
    assert budget.reserved == pytest.approx(4 * WORST) and not budget.hit
    budget.release(WORST)
    assert budget.reserve("m", PROMPT, "k5") == WORST
    assert budget.reserve("m", PROMPT, "k6") is None


def test_what_the_ledger_paid_counts_against_the_budget(tmp_path: Path) -> None:
    budget = _budget(tmp_path, 2.75 * WORST, spent=1.0 * WORST)
    assert budget.reserve("m", PROMPT, "a") == WORST
    assert budget.reserve("m", PROMPT, "b") is None
    budget.ledger.add("a", 0.5 * WORST, "reply")  # the reply cost half its reservation
    budget.release(WORST)
    assert budget.reserve("m", PROMPT, "b") == WORST
    assert budget.reserve("m", PROMPT, "c") is None


def test_a_reply_in_the_store_is_free_whatever_has_been_spent(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "store.sqlite")
    try:
        store.put("stored", "m", {}, {"text": "<svg/>"})
        budget = _budget(tmp_path, WORST / 2, spent=WORST)  # spent over the budget
        assert budget.worst("m", PROMPT, "stored", store) == 0.0
        assert budget.reserve("m", PROMPT, "stored", store) == 0.0
        assert budget.reserve("m", PROMPT, "asked", store) is None
        assert budget.reserved == 0.0
    finally:
        store.close()


def test_no_budget_reserves_nothing_and_needs_no_price(tmp_path: Path) -> None:
    budget = _budget(tmp_path, None, spent=100.0)
    assert budget.reserve("unpriced", PROMPT, "k") == 0.0 and budget.reserved == 0.0
    budget.cover("unpriced", PROMPT, 512)  # does not raise


class _YieldingCost(float):
    """A budget that lets other threads run whenever it is compared with: one whose
    check is not atomic with its reservation is then caught overspending."""

    def __lt__(self, other: object) -> bool:  # ``spent > max_cost`` asks this first
        time.sleep(0)
        return float(self) < other  # type: ignore[operator]


class _Race:
    """Threads that reserve and release at random, and the most they held at once: what
    a thread holds is counted after its reservation and before its release, so it is
    never more than the budget's own reserved total."""

    def __init__(self, budget: Budget, threads: int) -> None:
        self.budget, self.held, self.peak = budget, 0.0, 0.0
        self.lock, self.start = threading.Lock(), threading.Barrier(threads)

    def count(self, amount: float) -> None:
        with self.lock:
            self.held += amount
            self.peak = max(self.peak, self.held)

    def work(self, seed: int) -> None:
        rng = random.Random(seed)
        self.start.wait()
        mine: list[float] = []
        for _ in range(30):
            got = self.budget.reserve("m", PROMPT, "k")
            if got:
                self.count(got)
                mine.append(got)
            if mine and rng.random() < 0.5:
                amount = mine.pop()
                self.count(-amount)
                self.budget.release(amount)
        for amount in mine:
            self.count(-amount)
            self.budget.release(amount)


def test_concurrent_reservations_never_exceed_the_budget(tmp_path: Path) -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for attempt in range(100):
            budget = _budget(tmp_path, _YieldingCost(7.5 * WORST))
            race = _Race(budget, 8)
            threads = [threading.Thread(target=race.work, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert 0 < race.peak <= 7.5 * WORST + 1e-12, attempt
            assert budget.reserved == pytest.approx(0.0, abs=1e-12)
    finally:
        sys.setswitchinterval(interval)


def test_cover_refuses_a_setup_request_the_budget_cannot_pay(tmp_path: Path) -> None:
    budget = _budget(tmp_path, 0.25)
    budget.cover("m", PROMPT, 10)  # 10 reply tokens: covered
    assert not budget.hit
    with pytest.raises(VadError) as err:
        budget.cover("m", PROMPT, 512)
    assert str(err.value) == (
        "--max-cost 0.25 does not cover the requests that propose concepts: raise it"
    )
    assert budget.hit


def test_affordable_is_the_longest_head_the_budget_covers(tmp_path: Path) -> None:
    budget = _budget(tmp_path, 1.0, spent=0.25)
    assert budget.affordable([0.25, 0.0, 0.25, 0.25]) == 4  # 1.0: just fits
    assert budget.affordable([0.25, 0.75, 0.0, 0.1]) == 1  # a head: nothing after a miss
    assert budget.affordable([0.0, 0.0, 2.0]) == 2  # stored replies are free
    assert budget.affordable([]) == 0
    read = []

    def worsts():
        for worst in (0.5, 0.5, 0.5, 0.5):
            read.append(worst)
            yield worst

    assert budget.affordable(worsts()) == 1 and len(read) == 2  # reads no further


def test_a_reply_dearer_than_its_reservation_stops_the_run(tmp_path: Path) -> None:
    budget, stop, said = _budget(tmp_path, 1.0), threading.Event(), []
    meter = RequestMeter(budget, 0.01, stop, said.append)
    attempt = meter.begin("k")
    meter.paid("k", SimpleNamespace(cost_usd=0.005), attempt)
    assert not stop.is_set() and budget.ledger.total == pytest.approx(0.005)
    meter.paid("k2", SimpleNamespace(cost_usd=0.02), meter.begin("k2"))
    assert stop.is_set() and budget.hit
    assert said == ["stopping: a reply cost $0.020000, more than the $0.010000 a request can "
                    "cost; the budget is not trusted further"]  # fmt: skip
    meter.unpaid("k3", meter.begin("k3"))  # may have been billed: counted at its bound
    assert budget.ledger.total == pytest.approx(0.035)
    assert SpendLedger(tmp_path).open() == pytest.approx(0.035)


def test_a_request_stopped_before_it_was_sent_costs_nothing(tmp_path: Path) -> None:
    """The model client raises Unsent when the run stops before a request leaves (the
    stop seen before sending, or while it waited for a slot): pipeline.ask settles its
    in-flight entry at nothing, so a stopped run's waiting requests never drain the
    budget (a resumed run reads the same ledger)."""
    from vad import pipeline
    from vad.models import SamplingParams, resolve_model
    from vad.models.client import ModelClient, RateLimiter, Stopped, Unsent

    budget, stop = _budget(tmp_path, 1.0), threading.Event()
    model = resolve_model("openai/x", "http://127.0.0.1:9/v1")
    stop.set()
    client = ModelClient(model, RateLimiter(1, stop=stop), stop=stop)
    prompt = Prompt("t", "1", "chat", messages=[{"role": "user", "content": "hi"}])
    request = pipeline.Request(model, prompt, SamplingParams(), 0)
    store = ResponseStore(tmp_path / "store.sqlite")
    with pytest.raises(Unsent):
        pipeline.ask(store, client, request, RequestMeter(budget, 0.25, stop, print))
    assert budget.ledger.total == 0 and SpendLedger(tmp_path).open() == 0
    assert issubclass(Unsent, Stopped)  # callers that stop on Stopped stop on it too
    store.close()

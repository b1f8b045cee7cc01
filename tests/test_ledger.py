"""The spend ledger of a generation folder (vad/generate/ledger.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vad.generate.ledger import NAME, SpendLedger


def _reopen(folder: Path) -> float:
    return SpendLedger(folder).open()


def test_payments_add_up_and_survive_a_reopen(tmp_path: Path) -> None:
    ledger = SpendLedger(tmp_path)
    assert ledger.open() == 0 and not (tmp_path / NAME).exists()
    ledger.add("a", 0.25, "reply")
    ledger.add("b", None, "reply")  # free: not written
    ledger.add("c", 0.5, "bound")
    assert ledger.total == pytest.approx(0.75) == _reopen(tmp_path)
    assert len((tmp_path / NAME).read_text().splitlines()) == 2


def test_a_folder_from_before_the_ledger_starts_from_its_records(tmp_path: Path) -> None:
    assert SpendLedger(tmp_path).open(before=0.125) == pytest.approx(0.125)
    assert _reopen(tmp_path) == pytest.approx(0.125)  # written once, not again
    assert SpendLedger(tmp_path).open(before=0.125) == pytest.approx(0.125)


def test_a_torn_last_line_does_not_swallow_the_next_payment(tmp_path: Path) -> None:
    (tmp_path / NAME).write_text(json.dumps({"key": "a", "usd": 1.0, "how": "reply"})
                                 + '\n{"key": "b", "us')  # fmt: skip
    ledger = SpendLedger(tmp_path)
    assert ledger.open() == pytest.approx(1.0)
    ledger.add("c", 2.0, "reply")
    assert _reopen(tmp_path) == pytest.approx(3.0)


def test_a_batch_reply_is_paid_once_even_when_collected_again(tmp_path: Path) -> None:
    ledger = SpendLedger(tmp_path)
    ledger.open()
    ledger.add("k", 0.5, "batch", ref="batch-1")
    ledger.add("k", 0.5, "batch", ref="batch-1")  # collected again after a kill
    ledger.add("k", 0.5, "batch", ref="batch-2")  # asked again in another batch: paid again
    assert ledger.total == pytest.approx(1.0) == _reopen(tmp_path)
    again = SpendLedger(tmp_path)
    again.open()
    again.add("k", 0.5, "batch", ref="batch-1")  # a later run collects it once more
    assert again.total == pytest.approx(1.0) == _reopen(tmp_path)


def test_a_request_cut_off_in_flight_counts_at_its_bound(tmp_path: Path) -> None:
    ledger = SpendLedger(tmp_path)
    ledger.open()
    done = ledger.begin("a", 0.5)
    ledger.add("a", 0.125, "reply", settles=done)  # answered: the real price
    ledger.begin("b", 0.5)  # killed while it was in flight
    assert ledger.total == pytest.approx(0.125)  # (the run's reservation covers "b")
    assert _reopen(tmp_path) == pytest.approx(0.625)  # the next run counts the bound
    free = ledger.begin("c", 0.5)
    ledger.add("c", 0.0, "reply", settles=free)  # settled at no cost
    assert _reopen(tmp_path) == pytest.approx(0.625)
    assert ledger.begin("d", 0.0) == ""  # no budget: nothing entered

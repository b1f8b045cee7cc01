from __future__ import annotations

import math

import numpy as np
import pytest

from vad.scoring.stats import bootstrap_mean, proportion, wilson


def test_bootstrap_matches_a_slow_manual_reference() -> None:
    values = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    est = bootstrap_mean(values, resamples=500, seed=3)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, len(values), size=(500, len(values)))
    manual = sorted(sum(values[j] for j in row) / len(values) for row in idx)
    assert est.mean == pytest.approx(0.7)
    assert est.low == pytest.approx(np.quantile(manual, 0.025))
    assert est.high == pytest.approx(np.quantile(manual, 0.975))
    assert est.low < est.mean < est.high and est.n == 10


def test_interval_narrows_with_more_data_and_degenerate_cases() -> None:
    small = bootstrap_mean([0, 1] * 10)
    large = bootstrap_mean([0, 1] * 500)
    assert (large.high - large.low) < (small.high - small.low) / 4
    assert bootstrap_mean([1.0]).as_dict() == {"mean": 1.0, "low": 1.0, "high": 1.0, "n": 1}
    empty = bootstrap_mean([])
    assert empty.n == 0 and math.isnan(empty.mean) and empty.format() == "–"
    assert bootstrap_mean([1, 1, 1, 1]).format() == "100.0 [100.0, 100.0]"
    assert bootstrap_mean([0.5, 1.5]).format(percent=False).startswith("1.000 [")


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(10, 10, 0.7225, 1.0), (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634),
     (1, 1, 0.2065, 1.0), (81, 263, 0.2553, 0.3662)],
)  # fmt: skip
def test_wilson_matches_known_intervals(successes: int, n: int, low: float, high: float) -> None:
    est = wilson(successes, n)
    assert est.mean == pytest.approx(successes / n) and est.n == n
    assert (est.low, est.high) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_a_constant_rate_is_not_certainty() -> None:
    est = proportion([1.0] * 10)
    assert est.format() == "100.0 [72.2, 100.0]"
    assert proportion([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]) == wilson(5, 10)
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == 1.0
    assert wilson(8, 10, confidence=0.99).low < wilson(8, 10).low
    empty = proportion([])
    assert empty.n == 0 and math.isnan(empty.mean) and empty.format() == "–"
    with pytest.raises(ValueError, match="0 or 1"):
        proportion([1.0, 0.5])
    with pytest.raises(ValueError, match="successes <= n"):
        wilson(11, 10)

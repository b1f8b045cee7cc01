from __future__ import annotations

import math

import numpy as np
import pytest

from vad.scoring.stats import bootstrap_mean


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
    assert bootstrap_mean([1, 1, 1, 1]).format() == "100.0 ± 0.0"

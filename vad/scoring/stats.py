"""Estimates with 95% confidence intervals: Wilson score intervals for proportions,
seeded and vectorised percentile bootstraps for means of continuous values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` values with a confidence interval [``low``, ``high``]."""

    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}

    def format(self, percent: bool = True) -> str:
        """'mean [low, high]': x100 with one decimal when ``percent``, else three decimals."""
        if self.n == 0:
            return "–"
        scale, digits = (100.0, 1) if percent else (1.0, 3)
        mean, low, high = (f"{x * scale:.{digits}f}" for x in (self.mean, self.low, self.high))
        return f"{mean} [{low}, {high}]"


def wilson(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """The proportion ``successes / n`` and its Wilson score interval.

    Unlike a bootstrap, it does not shrink to a point when every outcome is the same:
    10 out of 10 gives [0.7225, 1.0].
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson needs 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Estimate(p, low, high, n)


def proportion(outcomes: Sequence[float], confidence: float = 0.95) -> Estimate:
    """The rate of 0/1 ``outcomes`` with its Wilson score interval."""
    if any(x not in (0, 1) for x in outcomes):
        raise ValueError("proportion needs outcomes that are 0 or 1")
    return wilson(int(sum(outcomes)), len(outcomes), confidence)


def bootstrap_mean(
    values: Sequence[float], resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Mean of ``values`` and the percentile bootstrap CI of the mean."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    mean = float(data.mean())
    if data.size == 1:
        return Estimate(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    means = data[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Estimate(mean, float(low), float(high), int(data.size))

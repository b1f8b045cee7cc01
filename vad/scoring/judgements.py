"""Judgements -> estimates with 95% intervals (pure functions of judgement lines).

- recognition: top-1 accuracy, with a Wilson interval (``vad.scoring.stats.wilson``);
- fidelity: the mean 1-10 score, with a seeded percentile bootstrap;
- pairwise: Bradley-Terry ratings of the drawing models (``choix``), with intervals
  from a seeded bootstrap over the comparisons.

Unparsable judgements are left out of every estimate (their count is reported beside
it): a judge that could not be read says nothing of the drawing. For Bradley-Terry a
tie (a pair whose two orders disagree) counts as half a win each way, so that a judge
that keeps changing its mind pulls two models together instead of being ignored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from vad.scoring.stats import Estimate, bootstrap_mean, wilson

Judgement = dict[str, Any]
Outcome = tuple[str, str, float]  # (model a, model b, a's share of the win: 1, 0.5 or 0)


def group(
    judgements: Iterable[Judgement], keys: Sequence[str]
) -> dict[tuple[Any, ...], list[Judgement]]:
    """Judgements grouped by the values of ``keys`` (e.g. ``("judge", "model")``)."""
    out: dict[tuple[Any, ...], list[Judgement]] = defaultdict(list)
    for j in judgements:
        out[tuple(j.get(k) for k in keys)].append(j)
    return dict(out)


def _parsed(judgements: Iterable[Judgement], kind: str) -> list[Judgement]:
    return [j for j in judgements if j.get("kind") == kind and j.get("parsed")]


def unparsable(judgements: Iterable[Judgement], kind: str) -> int:
    """How many judgements of ``kind`` could not be read."""
    return sum(1 for j in judgements if j.get("kind") == kind and not j.get("parsed"))


def recognition_accuracy(judgements: Iterable[Judgement], confidence: float = 0.95) -> Estimate:
    """Top-1 accuracy of the parsed recognition judgements, with its Wilson interval."""
    picked = _parsed(judgements, "recognition")
    return wilson(sum(1 for j in picked if j.get("correct") is True), len(picked), confidence)


def mean_fidelity(
    judgements: Iterable[Judgement], resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """The mean 1-10 fidelity score of the parsed fidelity judgements (bootstrap CI)."""
    scores = [float(j["score"]) for j in _parsed(judgements, "fidelity")]
    return bootstrap_mean(scores, resamples, confidence, seed)


def pairwise_outcomes(judgements: Iterable[Judgement]) -> list[Outcome]:
    """Each parsed pairwise judgement as (model a, model b, a's share): 1 when a won,
    0 when b did, 0.5 for a tie."""
    share = {"a": 1.0, "b": 0.0, "tie": 0.5}
    out = []
    for j in _parsed(judgements, "pairwise"):
        samples = j.get("samples") or []
        if len(samples) == 2 and j.get("winner") in share:
            out.append((str(samples[0]["model"]), str(samples[1]["model"]), share[j["winner"]]))
    return out


def _fit(wins: np.ndarray, alpha: float, start: np.ndarray | None = None) -> np.ndarray:
    """Bradley-Terry log-strengths (mean 0) from a matrix of (fractional) win counts;
    ``start`` (the full data's estimate, for a bootstrap's fits) only speeds it up."""
    import choix

    params = choix.ilsr_pairwise_dense(
        wins, alpha=alpha, initial_params=start, max_iter=10_000, tol=1e-6
    )
    return params - params.mean()


def bradley_terry(
    outcomes: Sequence[Outcome],
    alpha: float = 0.01,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Bradley-Terry ratings (log-strengths, mean 0 over the models) of every model in
    ``outcomes``, each with a percentile interval from a bootstrap that resamples the
    comparisons with replacement (seeded); ``n`` is a model's comparisons.

    Ties count half a win each way. ``alpha`` is choix's regularisation: small, it keeps
    the estimate finite when a model won (or lost) every comparison, and ties the
    models of a set that was never compared with the rest to them."""
    models = sorted({m for a, b, _ in outcomes for m in (a, b)})
    if not models:
        return {}
    index = {m: i for i, m in enumerate(models)}
    n = len(models)
    # Alike comparisons (the same two models, the same outcome) are one cell, weighed by
    # their count: resampling comparisons with replacement is resampling cells in
    # proportion, in memory that grows with the cells, not with the votes.
    cells = Counter((index[a], index[b], float(share)) for a, b, share in outcomes)
    parts = np.zeros((len(cells), n * n))  # each cell's win matrix, flattened
    for row, (i, j, share) in enumerate(cells):
        parts[row, i * n + j] += share
        parts[row, j * n + i] += 1.0 - share
    weights = np.array(list(cells.values()), dtype=float)
    point = _fit((weights @ parts).reshape(n, n), alpha)
    counts = {m: 0 for m in models}
    for a, b, _ in outcomes:
        counts[a] += 1
        counts[b] += 1
    if n == 1:
        return {models[0]: Estimate(0.0, 0.0, 0.0, counts[models[0]])}
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(outcomes), weights / weights.sum(), size=resamples)
    mats = (draws @ parts).reshape(resamples, n, n)
    boot = np.array([_fit(mat, alpha, point) for mat in mats])
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail], axis=0)
    return {m: Estimate(float(point[i]), float(low[i]), float(high[i]), counts[m])
            for m, i in index.items()}  # fmt: skip


def summarize(
    judgements: Sequence[Judgement], by: Sequence[str] = ("judge", "model"), seed: int = 0
) -> list[dict[str, Any]]:
    """Per group of single-drawing judgements (by ``by``): recognition accuracy and mean
    fidelity with intervals, and the unparsable counts."""
    rows = []
    single = [j for j in judgements if j.get("kind") in ("recognition", "fidelity")]
    for key, members in sorted(group(single, by).items(), key=lambda kv: str(kv[0])):
        rows.append({
            **dict(zip(by, key, strict=True)),
            "recognition": recognition_accuracy(members),
            "recognition_unparsable": unparsable(members, "recognition"),
            "fidelity": mean_fidelity(members, seed=seed),
            "fidelity_unparsable": unparsable(members, "fidelity"),
        })  # fmt: skip
    return rows


def ratings_by_judge(
    judgements: Sequence[Judgement], alpha: float = 0.01, resamples: int = 1000, seed: int = 0
) -> dict[str, dict[str, Estimate]]:
    """Bradley-Terry ratings of the drawing models, one set per judge."""
    pairwise = [j for j in judgements if j.get("kind") == "pairwise"]
    return {str(judge): bradley_terry(pairwise_outcomes(members), alpha, resamples, seed=seed)
            for (judge,), members in sorted(group(pairwise, ("judge",)).items(),
                                            key=lambda kv: str(kv[0]))}  # fmt: skip

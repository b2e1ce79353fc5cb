"""How sure a Bradley-Terry ranking is: bootstrap intervals of the scores.

The bootstrap resamples judgments, as Chatbot Arena does, but without touching rows: with N
judgments aggregated into cells (one per pair and kind of outcome, see ``PairCounts``), drawing N
rows with replacement is drawing the cells' judgment counts from Multinomial(N, judgments / N).
Each cell keeps the mean credit of its judgments, so a cell drawn k times credits k times that mean
(exact when the judgments of a cell carry the same weight; otherwise the spread of weights within a
cell is not resampled). All rounds are refitted together, warm-started at the point fit, by damped
Newton steps solved by conjugate gradients, each round's step length its own, to ``tol``.

The intervals are percentile intervals of the centred scores (Chatbot Arena's leaderboard
intervals; ``bench/bt_speed.py`` times them against FastChat's bootstrap).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from services.core.bradley_terry import (
    Fit,
    Floats,
    Graph,
    PairCounts,
    ascend,
    fit_counts,
    newton_cg,
)
from services.core.errors import Invalid

K = TypeVar("K", bound=Hashable)

# Cells x rounds refitted at once; bounds the memory of one batch to a few hundred MB.
BATCH_CELLS = 4_000_000


@dataclass(frozen=True)
class Intervals(Generic[K]):
    """Bootstrap percentile intervals of the centred scores, per item."""

    lower: dict[K, float]
    upper: dict[K, float]
    level: float
    rounds: int
    converged: bool  # every round's refit reached ``tol``


def bootstrap(
    counts: PairCounts[K],
    *,
    rounds: int = 100,
    level: float = 0.95,
    seed: int = 0,
    prior: float = 0.1,
    point: Fit[K] | None = None,
    tol: float = 1e-8,
    max_iter: int = 200,
) -> Intervals[K]:
    """``level`` intervals from ``rounds`` resamples of the judgments (deterministic per ``seed``).

    ``point`` is the fit of ``counts`` with the same ``prior``, if the caller already has it.
    """
    if rounds < 1 or not 0 < level < 1:
        raise Invalid("rounds must be at least 1 and level strictly between 0 and 1")
    point = point or fit_counts(counts, prior=prior)
    graph = Graph(len(counts.items), counts.low, counts.high, prior)
    judgments = counts.cell_judgments
    total = int(judgments.sum())
    if total == 0:  # nothing to resample: every round is the point fit
        theta = np.repeat(point.theta[None, :], rounds, axis=0)
        return _percentiles(counts.items, theta, level, rounds, True)

    rng = np.random.default_rng(seed)
    share = judgments / total
    mean_low = counts.cell_low / judgments
    mean_high = counts.cell_high / judgments
    batch = max(1, BATCH_CELLS // len(judgments))
    fitted: list[Floats] = []
    converged = True
    for done in range(0, rounds, batch):
        size = min(batch, rounds - done)
        drawn = rng.multinomial(total, share, size=size)
        wins_low = np.add.reduceat(drawn * mean_low, counts.cell_start, axis=1)
        wins_high = np.add.reduceat(drawn * mean_high, counts.cell_start, axis=1)
        start = np.repeat(point.theta[None, :], size, axis=0)
        newton = newton_cg(graph)
        theta, _, ok = ascend(graph, start, wins_low, wins_high, newton, tol, max_iter)
        fitted.append(theta)
        converged = converged and ok
    return _percentiles(counts.items, np.concatenate(fitted), level, rounds, converged)


def _percentiles(
    items: Sequence[K], theta: Floats, level: float, rounds: int, converged: bool
) -> Intervals[K]:
    centred = theta - theta.mean(axis=1, keepdims=True)
    lower, upper = np.quantile(centred, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return Intervals(
        dict(zip(items, lower.tolist(), strict=True)),
        dict(zip(items, upper.tolist(), strict=True)),
        level,
        rounds,
        converged,
    )

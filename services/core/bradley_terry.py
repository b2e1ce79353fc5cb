"""Bradley-Terry over weighted pairwise judgments (minorise-maximise, Hunter 2004).

The model: P(i beats j) = p_i / (p_i + p_j). A tie counts as half a win for each side. A weak prior
(``prior`` virtual ties of every item against a reference item of strength 1) keeps sparse or
disconnected comparison graphs finite and identifiable. Counts are aggregated per ordered pair first,
so the cost grows with the number of distinct pairs, not with the number of judgments.

This is the simple fit; it returns log-strengths centred on zero.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.core.errors import Invalid

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Comparison(Generic[K]):
    """One judgment: ``score`` is 1.0 if ``first`` won, 0.0 if ``second`` won, 0.5 for a tie."""

    first: K
    second: K
    score: float
    weight: float = 1.0


@dataclass(frozen=True)
class Fit(Generic[K]):
    scores: dict[K, float]  # log-strength, centred so the mean is 0
    iterations: int
    converged: bool

    def ranking(self) -> list[K]:
        """Items best first; equal scores keep the input order."""
        return sorted(self.scores, key=lambda k: -self.scores[k])


def fit(
    items: Sequence[K],
    comparisons: Iterable[Comparison[K]],
    *,
    prior: float = 0.1,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> Fit[K]:
    if len(set(items)) != len(items):
        raise Invalid("items must be distinct")
    if prior <= 0:
        raise Invalid("prior must be positive so every graph has a finite fit")
    index = {k: i for i, k in enumerate(items)}
    n = len(items)
    wins = [prior / 2] * n  # half of each virtual tie against the reference item
    games: dict[tuple[int, int], float] = defaultdict(float)  # unordered pair -> total weight
    for c in comparisons:
        if c.first == c.second:
            raise Invalid("an item cannot be compared with itself")
        if c.first not in index or c.second not in index:
            raise Invalid("comparison names an item that is not in the fit")
        if not 0.0 <= c.score <= 1.0 or c.weight < 0:
            raise Invalid("score must be in [0, 1] and weight non-negative")
        i, j = index[c.first], index[c.second]
        wins[i] += c.weight * c.score
        wins[j] += c.weight * (1.0 - c.score)
        games[(min(i, j), max(i, j))] += c.weight

    p = [1.0] * n
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        denom = [prior / (p[i] + 1.0) for i in range(n)]
        for (i, j), w in games.items():
            s = w / (p[i] + p[j])
            denom[i] += s
            denom[j] += s
        new = [wins[i] / denom[i] for i in range(n)]
        delta = max((abs(math.log(new[i] / p[i])) for i in range(n)), default=0.0)
        p = new
        if delta < tol:
            converged = True
            break
    logs = [math.log(x) for x in p]
    mean = sum(logs) / n if n else 0.0
    return Fit({k: logs[index[k]] - mean for k in items}, iterations, converged)

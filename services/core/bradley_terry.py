"""Bradley-Terry over weighted pairwise judgments, fitted on aggregated counts by Newton's method.

The model: P(i beats j) = sigmoid(theta_i - theta_j), theta the log-strengths. A judgment of
``first`` against ``second`` with ``score`` s in [0, 1] and ``weight`` w (the judge's influence)
credits w*s wins to ``first`` and w*(1-s) to ``second``; a tie (s = 0.5) is half a win each.

The fit maximises the penalised log-likelihood

    L(theta) = sum_{i != j} W_ij * log sigmoid(theta_i - theta_j)
             + prior * sum_i [ 0.5 * log sigmoid(theta_i) + 0.5 * log sigmoid(-theta_i) ]

where W_ij is the weighted number of wins of i over j. The second line is the weak prior: ``prior``
virtual ties of every item against a reference item of log-strength 0. It makes L strictly concave,
so every comparison graph, sparse or disconnected, has one finite maximiser. The reported scores are
that maximiser centred to mean 0.

Judgments are first aggregated per unordered pair and kind of outcome (``PairCounts``), so the fit
costs nothing per judgment. It starts at the log win/loss ratios and takes Newton steps on the
Hessian (a weighted graph Laplacian plus the prior's diagonal): solved exactly up to
``DENSE_SOLVE_UP_TO`` items (O(n^3)), above that by conjugate gradients (O(pairs) a product).
Each step is capped at ``MAX_STEP`` and halved until L does not decrease; the fit stops when no
log-strength moves by more than ``tol``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from services.core.errors import Invalid

K = TypeVar("K", bound=Hashable)
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Direction = Callable[[Floats, Floats], Floats]  # (theta, gradient) -> an ascent step, (R, n)

# The three kinds of outcome kept apart per pair, so a bootstrap can resample judgments by kind.
LOW_WON, HIGH_WON, SHARED = 0, 1, 2
# Up to this many items a Newton step is an exact dense solve; above, conjugate gradients.
DENSE_SOLVE_UP_TO = 256
# Newton-CG solves each step to this relative residual, in at most this many products.
CG_TOLERANCE = 1e-3
CG_MAX_ITER = 50
# No log-strength moves further than this in one step.
MAX_STEP = 10.0
_TINY = 1e-300
# Up to this many (pair, kind) keys, judgments are counted into a dense array instead of sorted.
DENSE_KEYS = 1 << 24


@dataclass(frozen=True)
class Comparison(Generic[K]):
    """One judgment: ``score`` is 1.0 if ``first`` won, 0.0 if ``second`` won, 0.5 for a tie."""

    first: K
    second: K
    score: float
    weight: float = 1.0


@dataclass(frozen=True, eq=False)
class PairCounts(Generic[K]):
    """Judgments aggregated per unordered pair ``(low, high)`` of item indices, ``low < high``.

    Each pair holds up to three cells, one per kind of outcome (``low`` won outright, ``high`` won
    outright, shared: a tie or a partial score). A cell keeps the weighted wins it credits to each
    side and how many judgments it holds. Cells are sorted by pair; ``cell_start[p]`` is the first
    cell of pair ``p``.
    """

    items: tuple[K, ...]
    low: Ints  # (P,)
    high: Ints  # (P,)
    cell_start: Ints  # (P,)
    cell_pair: Ints  # (C,)
    cell_low: Floats  # (C,) weighted wins credited to the pair's low item
    cell_high: Floats  # (C,) weighted wins credited to the pair's high item
    cell_judgments: Ints  # (C,)

    @property
    def wins_low(self) -> Floats:
        """Weighted wins of ``low`` over ``high``, per pair."""
        return _per_pair(self, self.cell_low)

    @property
    def wins_high(self) -> Floats:
        """Weighted wins of ``high`` over ``low``, per pair."""
        return _per_pair(self, self.cell_high)

    @property
    def judgments(self) -> int:
        return int(self.cell_judgments.sum())

    def judged(self, a: K, b: K) -> int:
        """How many judgments compared ``a`` with ``b`` (either order)."""
        index = {k: i for i, k in enumerate(self.items)}
        i, j = sorted((index[a], index[b]))
        n = len(self.items)
        keys = self.low * n + self.high
        p = int(np.searchsorted(keys, i * n + j))
        if p == len(keys) or keys[p] != i * n + j:
            return 0
        stop = self.cell_start[p + 1] if p + 1 < len(keys) else len(self.cell_pair)
        return int(self.cell_judgments[self.cell_start[p] : stop].sum())


def _per_pair(counts: PairCounts[K], cells: Floats) -> Floats:
    if len(counts.low) == 0:
        return np.zeros(0)
    return np.add.reduceat(cells, counts.cell_start)


@dataclass(frozen=True)
class Fit(Generic[K]):
    scores: dict[K, float]  # log-strength, centred so the mean is 0
    iterations: int
    converged: bool
    # the maximiser of L itself (not centred), as an array in item order: a warm start for refits
    theta: Floats = field(compare=False, repr=False)

    def ranking(self) -> list[K]:
        """Items best first; equal scores keep the input order."""
        return sorted(self.scores, key=lambda k: -self.scores[k])


def aggregate(items: Sequence[K], comparisons: Iterable[Comparison[K]]) -> PairCounts[K]:
    """Sum judgments per pair and kind of outcome."""
    if len(set(items)) != len(items):
        raise Invalid("items must be distinct")
    index = {k: i for i, k in enumerate(items)}
    rows: list[tuple[int, int, float, float]] = []
    for c in comparisons:
        if c.first not in index or c.second not in index:
            raise Invalid("comparison names an item that is not in the fit")
        rows.append((index[c.first], index[c.second], c.score, c.weight))
    table = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return aggregate_indices(
        items, table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2], table[:, 3]
    )


def aggregate_indices(
    items: Sequence[K],
    first: npt.ArrayLike,
    second: npt.ArrayLike,
    score: npt.ArrayLike,
    weight: npt.ArrayLike | None = None,
) -> PairCounts[K]:
    """``aggregate`` for judgments given as arrays of item indices (one entry per judgment)."""
    n = len(items)
    if len(set(items)) != n:
        raise Invalid("items must be distinct")
    a = np.asarray(first, dtype=np.int64)
    b = np.asarray(second, dtype=np.int64)
    s = np.asarray(score, dtype=np.float64)
    w = None if weight is None else np.asarray(weight, dtype=np.float64)
    if a.ndim != 1 or not a.shape == b.shape == s.shape == (a.shape if w is None else w.shape):
        raise Invalid("first, second, score and weight must be 1-d arrays of one length")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise Invalid("comparison names an item that is not in the fit")
    if np.any(a == b):
        raise Invalid("an item cannot be compared with itself")
    valid_weight = w is None or not w.size or (w.min() >= 0 and np.isfinite(w.max()))
    if not (valid_weight and (not s.size or (s.min() >= 0 and s.max() <= 1))):  # NaN fails
        raise Invalid("score must be in [0, 1] and weight finite and non-negative")
    swap = a > b
    low, high = np.where(swap, b, a), np.where(swap, a, b)
    s_low = np.where(swap, 1.0 - s, s)
    shared = (s_low > 0.0) & (s_low < 1.0)
    key = (low * n + high) * 3 + np.where(shared, SHARED, s_low == 0.0)  # LOW_WON = 0, HIGH_WON = 1
    credit = s_low[shared] if w is None else (w * s_low)[shared]  # to low, by shared judgments
    if 3 * n * n <= DENSE_KEYS:  # count straight into the key space: O(judgments + n^2)
        judgments = np.bincount(key, minlength=3 * n * n)
        cells = np.flatnonzero(judgments)
        judgments = judgments[cells]
        mass = judgments if w is None else np.bincount(key, w, 3 * n * n)[cells]
        shared_low = np.bincount(key[shared], credit, 3 * n * n)[cells]
    else:  # sort the keys: O(judgments log judgments)
        cells, where = np.unique(key, return_inverse=True)
        judgments = np.bincount(where, minlength=len(cells))
        mass = judgments if w is None else np.bincount(where, w, len(cells))
        shared_low = np.bincount(where[shared], credit, len(cells))
    kind = cells % 3
    cell_low = np.where(kind == LOW_WON, mass, np.where(kind == SHARED, shared_low, 0.0))
    pair_keys = cells // 3
    first_cell = np.ones(len(cells), dtype=bool)
    first_cell[1:] = pair_keys[1:] != pair_keys[:-1]
    cell_start = np.flatnonzero(first_cell)
    return PairCounts(
        items=tuple(items),
        low=(pair_keys[cell_start] // max(n, 1)).astype(np.int64),
        high=(pair_keys[cell_start] % max(n, 1)).astype(np.int64),
        cell_start=cell_start.astype(np.int64),
        cell_pair=(np.cumsum(first_cell) - 1).astype(np.int64),
        cell_low=cell_low.astype(np.float64),
        cell_high=(mass - cell_low).astype(np.float64),
        cell_judgments=judgments.astype(np.int64),
    )


def fit(
    items: Sequence[K],
    comparisons: Iterable[Comparison[K]],
    *,
    prior: float = 0.1,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> Fit[K]:
    """Aggregate the judgments and fit them (see the module docstring for what is maximised)."""
    return fit_counts(aggregate(items, comparisons), prior=prior, tol=tol, max_iter=max_iter)


def fit_counts(
    counts: PairCounts[K], *, prior: float = 0.1, tol: float = 1e-10, max_iter: int = 100
) -> Fit[K]:
    """Maximise the penalised log-likelihood over aggregated counts by damped Newton steps."""
    graph = Graph(len(counts.items), counts.low, counts.high, prior)
    wins_low, wins_high = counts.wins_low[None, :], counts.wins_high[None, :]

    def dense_newton(theta: Floats, grad: Floats) -> Floats:
        hessian = graph.hessian(theta[0], wins_low[0], wins_high[0])
        return np.linalg.solve(hessian, grad[0])[None, :]

    newton: Direction = dense_newton
    if len(counts.items) > DENSE_SOLVE_UP_TO:
        newton = newton_cg(graph, wins_low, wins_high)
    n = len(counts.items)
    wins = np.bincount(counts.low, wins_low[0], n) + np.bincount(counts.high, wins_high[0], n)
    losses = np.bincount(counts.low, wins_high[0], n) + np.bincount(counts.high, wins_low[0], n)
    start = np.log((wins + 0.5) / (losses + 0.5))[None, :]  # a start a few Newton steps nearer
    theta, iterations, converged = ascend(graph, start, wins_low, wins_high, newton, tol, max_iter)
    return make_fit(counts.items, theta[0], iterations, converged)


def make_fit(items: Sequence[K], theta: Floats, iterations: int, converged: bool) -> Fit[K]:
    centred = theta - theta.mean() if len(theta) else theta
    return Fit(dict(zip(items, centred.tolist())), iterations, converged, theta.copy())


class Graph:
    """The penalised log-likelihood over a fixed set of pairs, for a batch of R win vectors.

    ``theta`` is (R, n); ``wins_low`` and ``wins_high`` are (R, P) or (1, P).
    """

    def __init__(self, n: int, low: Ints, high: Ints, prior: float) -> None:
        if not prior > 0:
            raise Invalid("prior must be positive so every graph has a finite fit")
        self.n, self.low, self.high, self.prior = n, low, high, prior
        self._flat: dict[int, tuple[Ints, Ints]] = {}

    def objective(self, theta: Floats, wins_low: Floats, wins_high: Floats) -> Floats:
        # -log sigmoid(-x) = x - log sigmoid(x): one softplus per pair and per item
        d = theta[:, self.low] - theta[:, self.high]
        data = (wins_low + wins_high) * np.logaddexp(0.0, -d) + wins_high * d
        prior = 2.0 * np.logaddexp(0.0, -theta) + theta
        value: Floats = -data.sum(axis=1) - 0.5 * self.prior * prior.sum(axis=1)
        return value

    def gradient(self, theta: Floats, wins_low: Floats, wins_high: Floats) -> Floats:
        d = theta[:, self.low] - theta[:, self.high]
        residual = wins_low - (wins_low + wins_high) * sigmoid(d)  # dL/d(theta_low)
        grad: Floats = self.scatter(residual) + self.prior * (0.5 - sigmoid(theta))
        return grad

    def scatter(self, per_pair: Floats, *, high_sign: float = -1.0) -> Floats:
        """(R, P) values per pair -> (R, n): added to the pair's low item, and ``high_sign`` times
        them to its high item (-1: a gradient or Laplacian product; +1: the degrees)."""
        rounds = per_pair.shape[0]
        if rounds not in self._flat:  # the pairs' items in a flattened (R, n) array
            offset = (np.arange(rounds) * self.n)[:, None]
            self._flat[rounds] = ((self.low + offset).ravel(), (self.high + offset).ravel())
        low, high = self._flat[rounds]
        flat = per_pair.ravel()
        out = np.bincount(low, flat, rounds * self.n).astype(np.float64)
        out += high_sign * np.bincount(high, flat, rounds * self.n)
        return out.reshape(rounds, self.n)

    def hessian(self, theta: Floats, wins_low: Floats, wins_high: Floats) -> Floats:
        """Minus the Hessian of L at one ``theta`` (n,): a weighted Laplacian plus a diagonal."""
        c = (wins_low + wins_high) * slope(theta[self.low] - theta[self.high])
        h = np.zeros((self.n, self.n))
        h[self.low, self.high] = -c
        h[self.high, self.low] = -c
        degree = np.bincount(self.low, c, self.n) + np.bincount(self.high, c, self.n)
        h[np.diag_indices(self.n)] = degree + self.prior * slope(theta)
        return h


def newton_cg(graph: Graph, wins_low: Floats, wins_high: Floats) -> Direction:
    """Newton steps for a batch of R fits, each solved by Jacobi-preconditioned conjugate gradients.

    A Hessian-vector product costs O(pairs) per fit, so no Hessian is ever formed; CG needs a few
    products on well-connected graphs and still converges where a fit moves far from its start (a
    sparse graph, an item that lost every resampled judgment).
    """
    games = wins_low + wins_high

    def direction(theta: Floats, grad: Floats) -> Floats:
        curvature = games * slope(theta[:, graph.low] - theta[:, graph.high])  # (R, P)
        diagonal = graph.prior * slope(theta)  # (R, n)

        def hessian_times(v: Floats) -> Floats:
            return graph.scatter(curvature * (v[:, graph.low] - v[:, graph.high])) + diagonal * v

        inverse_diagonal = 1.0 / (graph.scatter(curvature, high_sign=1.0) + diagonal)
        step = np.zeros_like(grad)
        residual = grad
        z = residual * inverse_diagonal
        search = z
        rz = (residual * z).sum(axis=1, keepdims=True)
        goal = (CG_TOLERANCE * np.linalg.norm(grad, axis=1, keepdims=True)) ** 2
        for _ in range(CG_MAX_ITER):
            h_search = hessian_times(search)
            alpha = rz / np.maximum((search * h_search).sum(axis=1, keepdims=True), _TINY)
            step = step + alpha * search
            residual = residual - alpha * h_search
            if np.all((residual * residual).sum(axis=1, keepdims=True) <= goal):
                break
            z = residual * inverse_diagonal
            rz_next = (residual * z).sum(axis=1, keepdims=True)
            search = z + rz_next / np.maximum(rz, _TINY) * search
            rz = rz_next
        return step

    return direction


def ascend(
    graph: Graph,
    theta: Floats,
    wins_low: Floats,
    wins_high: Floats,
    direction: Direction,
    tol: float,
    max_iter: int,
) -> tuple[Floats, int, bool]:
    """Move every row of ``theta`` along ``direction(theta, gradient)`` until the steps are < tol.

    The direction must be an ascent direction (an SPD matrix applied to the gradient). Each row's
    step is first shortened so no log-strength moves by more than ``MAX_STEP`` (a Newton step from
    the flat side of a sigmoid can be huge while L barely changes), then halved until L does not
    decrease; a row that finds no such step stays where it is. So the iteration cannot diverge.
    """
    value = graph.objective(theta, wins_low, wins_high)
    for iteration in range(1, max_iter + 1):
        step = direction(theta, graph.gradient(theta, wins_low, wins_high))
        longest = np.abs(step).max(axis=1, keepdims=True, initial=0.0)
        scale = np.minimum(1.0, MAX_STEP / np.maximum(longest, _TINY))
        for _ in range(60):
            candidate = theta + scale * step
            new = graph.objective(candidate, wins_low, wins_high)
            worse = ~(new >= value - 1e-13 * (1.0 + np.abs(value)))  # NaN is worse
            if not worse.any():
                break
            scale[worse] *= 0.5
        scale[worse] = 0.0
        theta = np.where(worse[:, None], theta, candidate)
        value = np.where(worse, value, new)
        if float(np.abs(scale * step).max(initial=0.0)) < tol:
            return theta, iteration, True
    return theta, max_iter, False


def slope(x: Floats) -> Floats:
    """sigmoid(x) * sigmoid(-x), without the cancellation that makes it 0 for |x| > 37."""
    e = np.exp(-np.abs(x))
    out: Floats = e / (1.0 + e) ** 2
    return out


def sigmoid(x: Floats) -> Floats:
    out: Floats = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out

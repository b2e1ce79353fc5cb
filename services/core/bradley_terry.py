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
costs nothing per judgment. It starts at each item's log win/loss ratio, corrected for the spread of
its opponents (``opening``), and takes Newton steps s = H^-1 g on the Hessian H (a weighted graph
Laplacian plus the prior's diagonal): solved exactly up to ``DENSE_SOLVE_UP_TO`` items; above that
by conjugate gradients, on H held as an n x n matrix while the graph is dense enough
(``DENSE_MATRIX_UP_TO``, ``DENSE_MATRIX_FILL``), else by products over the pairs.

The step length needs no evaluation of L. Along s every term of L is a softplus of a linear
function whose third derivative is at most R = max(|s_i - s_j|, |s_i|) times its second, so

    L(theta + t s) >= L(theta) + t g.s - s.H.s (e^{Rt} - Rt - 1) / R^2,

and s.H.s = g.s for a step solved exactly or by CG from 0. The full step is taken when this bound
promises a rise of at least a quarter of g.s (R <= ``FULL_STEP_REACH``, always near the optimum) or
when the rise measured at t = 1 is that large; otherwise t = log(1 + R) / R, which maximises the
bound. So L rises at every step and the iteration cannot diverge.

Scale: wins and prior are divided by their largest value before the steps and every decision
compares like with like, so multiplying every weight and the prior by one constant gives the same
fit and the same ``converged``. Each term of the gradient keeps full relative precision (sigmoid(d)
and sigmoid(-d) are both computed, never as 1 minus the other), so when weights dwarf the prior the
fit still reaches the optimum. It converges when the Newton step moves no log-strength by more than
``tol``, or when no item's gradient is above its own rounding error (then no step can be trusted:
with weights ~1e6 times the prior, the level of a group of items is pinned by the prior alone and
known only to ~1e-9). A weight total that overflows, or a step that is not finite, raises
``Invalid``: a fit never returns NaN.
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
# (gradient (R, n), curvature per pair (R, P), the prior's curvature (R, n)) -> a Newton step (R, n)
Direction = Callable[[Floats, Floats, Floats], Floats]

# The three kinds of outcome kept apart per pair, so a bootstrap can resample judgments by kind.
LOW_WON, HIGH_WON, SHARED = 0, 1, 2
# Up to this many items a Newton step is an exact dense solve; above, conjugate gradients.
DENSE_SOLVE_UP_TO = 256
# CG on an n x n matrix up to this many items, when at least this share of the n^2 cells are pairs.
DENSE_MATRIX_UP_TO = 2048
DENSE_MATRIX_FILL = 1 / 32
# Newton-CG over the pairs solves each step to this relative residual, in at most this many
# products; on the dense matrix, where a product is cheap, to DENSE_CG_TOLERANCE.
CG_TOLERANCE = 1e-3
CG_MAX_ITER = 50
DENSE_CG_TOLERANCE = 1e-10
DENSE_CG_MAX_ITER = 200
# A full step is taken when L rises by at least this share of g.s; the bound promises that up to
# this R: (e^R - R - 1) / R^2 = 0.747 <= 1 - 0.25 at R = 1.1, with s.H.s = g.s or up to 0.04%
# above it, as after a kept Hessian (see KEEP_HESSIAN_BELOW).
SUFFICIENT_RISE = 0.25
FULL_STEP_REACH = 1.1
# After a step shorter than this the dense solver keeps its Hessian: no curvature has changed by
# more than e^(2 * 1e-4), and the next step, already the last or next to it, converges as fast.
KEEP_HESSIAN_BELOW = 1e-4
_TINY = 1e-300
# Up to this many (pair, kind) keys, judgments are counted into a dense array instead of sorted.
DENSE_KEYS = 1 << 24
_OVERFLOW = "the judgments' weights are too large: a pair's total overflows"
_SINGULAR = "the fit is singular to double precision: the weights are too large next to the prior"


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
    out: Floats = np.bincount(counts.cell_pair, cells, len(counts.low)).astype(np.float64)
    return out


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
    valid_weight = w is None or not w.size or (w.min() >= 0 and np.isfinite(w.max()))
    if not (valid_weight and (not s.size or (s.min() >= 0 and s.max() <= 1))):  # NaN fails
        raise Invalid("score must be in [0, 1] and weight finite and non-negative")
    swap = a > b  # the pair's low item is ``second``
    key = np.minimum(a, b)  # (pair, kind) as kinds (low n + high) + kind, built in place
    high = np.maximum(a, b)
    if a.size and (key.min() < 0 or high.max() >= n):
        raise Invalid("comparison names an item that is not in the fit")
    shared = (s > 0.0) & (s < 1.0)
    kinds = 3 if shared.any() else 2  # no SHARED key space without shared judgments
    dense = kinds * n * n <= DENSE_KEYS
    if not dense and np.any(a == b):
        raise Invalid("an item cannot be compared with itself")
    key *= kinds * n
    high *= kinds
    key += high
    del high
    key += s == swap  # the low item scored 0: HIGH_WON; 1: LOW_WON (0)
    if kinds == 3:
        key[shared] += SHARED
    if dense:  # count straight into the key space: O(judgments + n^2)
        size = kinds * n * n
        judgments = np.bincount(key, minlength=size)
        if judgments.reshape(n * n, kinds)[:: n + 1].any():  # the pairs (i, i)
            raise Invalid("an item cannot be compared with itself")
        cells = np.flatnonzero(judgments > 0)
        judgments = judgments[cells]
    else:  # sort the keys: O(judgments log judgments)
        cells, key = np.unique(key, return_inverse=True)
        judgments = np.bincount(key, minlength=len(cells))
        size = len(cells)

    def per_cell(at: Ints, values: Floats) -> Floats:
        counted = np.bincount(at, values, size).astype(np.float64, copy=False)
        out: Floats = counted[cells] if dense else counted
        return out

    if w is None:
        mass = judgments.astype(np.float64)
    else:
        mass = per_cell(key, w)
        if not np.isfinite(mass).all():
            raise Invalid(_OVERFLOW, hint="scale the weights down")
    pair_keys = cells // kinds
    cell_low = mass * (cells - kinds * pair_keys == LOW_WON)
    if kinds == 3:  # the low item's credit: its score times the weight
        credit = np.abs(swap[shared] - s[shared]) * (1.0 if w is None else w[shared])
        cell_low += per_cell(key[shared], credit)
    first_cell = np.empty(len(cells), dtype=bool)
    first_cell[:1] = True
    np.not_equal(pair_keys[1:], pair_keys[:-1], out=first_cell[1:])
    cell_start = np.flatnonzero(first_cell)
    cell_pair = np.cumsum(first_cell)
    cell_pair -= 1
    pair_low, pair_high = np.divmod(pair_keys[cell_start], max(n, 1))
    return PairCounts(
        items=tuple(items),
        low=pair_low.astype(np.int64, copy=False),
        high=pair_high.astype(np.int64, copy=False),
        cell_start=cell_start.astype(np.int64, copy=False),
        cell_pair=cell_pair.astype(np.int64, copy=False),
        cell_low=cell_low,
        cell_high=mass - cell_low,
        cell_judgments=judgments.astype(np.int64, copy=False),
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
    n, pairs = len(counts.items), len(counts.low)
    graph = Graph(n, counts.low, counts.high, prior)
    wins_low, wins_high = counts.wins_low[None, :], counts.wins_high[None, :]
    if not (np.isfinite(wins_low).all() and np.isfinite(wins_high).all()):
        raise Invalid(_OVERFLOW, hint="scale the weights down")
    if n <= DENSE_SOLVE_UP_TO:
        newton = exact_newton(graph)
    elif n <= DENSE_MATRIX_UP_TO and pairs >= DENSE_MATRIX_FILL * n * n:
        newton = dense_newton_cg(graph)
    else:
        newton = newton_cg(graph)
    start = opening(graph, wins_low, wins_high)
    theta, iterations, converged = ascend(graph, start, wins_low, wins_high, newton, tol, max_iter)
    return make_fit(counts.items, theta[0], iterations, converged)


def opening(graph: Graph, wins_low: Floats, wins_high: Floats) -> Floats:
    """Where the Newton steps start, (1, n): each item's log win/loss ratio r (counting the prior's
    virtual ties), corrected for the spread of its opponents. Against opponents of mean m and
    variance v the chance to win averages about sigmoid(kappa (theta - m)), kappa = (1 + pi v /
    8)^-1/2 (the probit approximation), so theta ~ m + r / kappa, m and v taken over the
    opponents' ratios weighted by games. About four times nearer the optimum than r alone."""
    games = wins_low + wins_high
    wins, losses = graph.per_item(wins_low, wins_high), graph.per_item(wins_high, wins_low)
    ratio = np.log((wins + 0.5 * graph.prior) / (losses + 0.5 * graph.prior))
    against_low = np.take(ratio, graph.high, axis=1)  # per pair, the ratio of the other item
    against_high = np.take(ratio, graph.low, axis=1)
    total = np.maximum(wins + losses, _TINY)
    against_low *= games
    against_high *= games
    mean = graph.per_item(against_low, against_high) / total
    against_low *= np.take(ratio, graph.high, axis=1)
    against_high *= np.take(ratio, graph.low, axis=1)
    variance = np.maximum(graph.per_item(against_low, against_high) / total - mean**2, 0.0)
    out: Floats = mean + ratio * np.sqrt(1.0 + np.pi / 8.0 * variance)
    return out


def make_fit(items: Sequence[K], theta: Floats, iterations: int, converged: bool) -> Fit[K]:
    centred = theta - theta.mean() if len(theta) else theta
    return Fit(dict(zip(items, centred.tolist(), strict=True)), iterations, converged, theta.copy())


class Graph:
    """The pairs of a fit, sorted by their low item as in ``PairCounts``, and the prior.

    Arrays come in batches of R fits: (R, n) per item, (R, P) per pair.
    """

    def __init__(self, n: int, low: Ints, high: Ints, prior: float) -> None:
        if not prior > 0:
            raise Invalid("prior must be positive so every graph has a finite fit")
        if np.any(low[1:] < low[:-1]):
            raise Invalid("pairs must be sorted by their low item")
        self.n, self.low, self.high, self.prior = n, low, high, prior
        bounds = np.searchsorted(low, np.arange(n + 1))  # item i is low in pairs bounds[i]:[i+1]
        self._lows = np.flatnonzero(bounds[1:] > bounds[:-1])
        self._starts = bounds[self._lows]
        self._flat: dict[int, Ints] = {}

    def differences(
        self, theta: Floats, out: Floats | None = None, scratch: Floats | None = None
    ) -> Floats:
        """(R, n) -> (R, P): theta_low - theta_high per pair, into ``out`` if given."""
        shape = (len(theta), len(self.low))
        out = np.empty(shape) if out is None else out
        high = np.empty(shape) if scratch is None else scratch
        np.take(theta, self.low, axis=1, out=out, mode="clip")  # clip: no copy to check indices
        out -= np.take(theta, self.high, axis=1, out=high, mode="clip")
        return out

    def per_item(self, on_low: Floats, on_high: Floats, high_sign: float = 1.0) -> Floats:
        """(R, P) values per pair -> (R, n): ``on_low`` added to each pair's low item and
        ``high_sign`` times ``on_high`` to its high item (-1 and the same values: a gradient or a
        Laplacian product). Sums by segment on the sorted low side, by counting on the other."""
        rounds = max(on_low.shape[0], on_high.shape[0])
        out = np.zeros((rounds, self.n))
        if len(self.low):
            out[:, self._lows] = np.add.reduceat(on_low, self._starts, axis=1)
        if rounds not in self._flat:  # the pairs' high items in a flattened (R, n) array
            self._flat[rounds] = (self.high + (np.arange(rounds) * self.n)[:, None]).ravel()
        on_high = np.broadcast_to(on_high, (rounds, len(self.high)))
        counted = np.bincount(self._flat[rounds], on_high.ravel(), rounds * self.n)
        out += high_sign * counted.reshape(out.shape)
        return out

    def matrix(self, curvature: Floats, diagonal: Floats) -> Floats:
        """Minus the Hessian of L for one fit: the Laplacian of ``curvature`` (P,), plus
        ``diagonal``."""
        h = np.zeros((self.n, self.n))
        flat = h.reshape(-1)
        flat[self.low * self.n + self.high] = -curvature
        flat[self.high * self.n + self.low] = -curvature
        degree = self.per_item(curvature[None, :], curvature[None, :])[0]
        h[np.diag_indices(self.n)] = degree + diagonal
        return h

    def rise(
        self, theta: Floats, d: Floats, step: Floats, wins_high: Floats, games: Floats, prior: float
    ) -> Floats:
        """L(theta + step) - L(theta) per fit (``d`` the pairs' differences at theta), summed
        term by term: each term's rounding error is then relative to that term's change."""
        dd = self.differences(step)
        data = games * (softplus(-d - dd) - softplus(-d)) + wins_high * dd
        after = theta + step
        penalty = softplus(after) + softplus(-after) - softplus(theta) - softplus(-theta)
        out: Floats = -data.sum(axis=1) - 0.5 * prior * penalty.sum(axis=1)
        return out


def exact_newton(graph: Graph) -> Direction:
    """Newton steps for one fit, solved exactly on the dense Hessian (O(n^3))."""

    def direction(grad: Floats, curvature: Floats, diagonal: Floats) -> Floats:
        try:
            step = np.linalg.solve(graph.matrix(curvature[0], diagonal[0]), grad[0])
        except np.linalg.LinAlgError as exc:  # the prior's curvature lost next to the data's
            raise Invalid(_SINGULAR, hint="scale the weights down or raise the prior") from exc
        out: Floats = step[None, :]
        return out

    return direction


def dense_newton_cg(graph: Graph) -> Direction:
    """Newton steps for one fit on a dense graph, by preconditioned conjugate gradients on the
    Hessian's couplings held as a symmetric n x n matrix.

    A product is one pass over that matrix (``einsum``, single-threaded: a threaded BLAS call per
    product waits for its threads to be scheduled, milliseconds on a busy machine). Each step is
    solved to the square of how far the gradient has shrunk since the first (at most
    ``CG_TOLERANCE``, at least ``DENSE_CG_TOLERANCE``): loosely while far from the optimum, nearly
    exactly near it, which keeps Newton's quadratic convergence. After a step shorter than
    ``KEEP_HESSIAN_BELOW`` the matrix is kept rather than refilled.
    """
    n = graph.n
    coupling = np.zeros((n, n))
    flat = coupling.reshape(-1)
    above, below = graph.low * n, graph.high * n
    above += graph.high
    below += graph.low
    kept: dict[str, Floats] = {}  # the matrix's degree and 1.H.1, while it is kept
    first: list[float] = []  # the size of the first gradient
    last = [np.inf]  # the size of the last step

    def direction(grad: Floats, curvature: Floats, diagonal: Floats) -> Floats:
        if last[0] >= KEEP_HESSIAN_BELOW:
            flat[above] = curvature[0]
            flat[below] = curvature[0]
            kept["degree"] = coupling.sum(axis=1) + diagonal
            kept["shift"] = diagonal.sum(axis=1, keepdims=True)  # only the prior resists a shift
        degree = kept["degree"]

        def hessian_times(v: Floats) -> Floats:
            out: Floats = degree * v - np.einsum("rj,ji->ri", v, coupling)
            return out

        size = float(np.sqrt((grad * grad).sum()))
        if not first:
            first.append(size)
        shrunk = size / first[0] if first[0] > 0 else 0.0
        tolerance = min(CG_TOLERANCE, max(DENSE_CG_TOLERANCE, shrunk**2))
        step = conjugate_gradients(
            hessian_times, degree, kept["shift"], grad, tolerance, DENSE_CG_MAX_ITER
        )
        last[0] = float(np.abs(step).max(initial=0.0))
        return step

    return direction


def newton_cg(graph: Graph) -> Direction:
    """Newton steps for a batch of R fits, each solved by Jacobi-preconditioned conjugate gradients.

    A Hessian-vector product costs O(pairs) per fit, so no Hessian is ever formed; CG needs a few
    products on well-connected graphs and still converges where a fit moves far from its start (a
    sparse graph, an item that lost every resampled judgment).
    """

    def direction(grad: Floats, curvature: Floats, diagonal: Floats) -> Floats:
        def hessian_times(v: Floats) -> Floats:
            per_pair = curvature * graph.differences(v)
            return graph.per_item(per_pair, per_pair, -1.0) + diagonal * v

        degree = graph.per_item(curvature, curvature) + diagonal
        shift = diagonal.sum(axis=1, keepdims=True)  # 1.H.1: only the prior resists a shift
        return conjugate_gradients(hessian_times, degree, shift, grad, CG_TOLERANCE, CG_MAX_ITER)

    return direction


def conjugate_gradients(
    times: Callable[[Floats], Floats],
    diagonal: Floats,
    shift: Floats,
    rhs: Floats,
    tolerance: float,
    limit: int,
) -> Floats:
    """Solve A x = rhs for each row, A SPD given by its products, its diagonal and ``shift`` =
    1.A.1 (R, 1), from x = 0 to a relative residual of ``tolerance`` or ``limit`` products.

    The preconditioner is Jacobi plus a correction along the constant vector: a Laplacian does not
    see a shift of every log-strength, only the prior does, so that direction is the stiffest for
    Jacobi alone and the cheapest to solve on its own. Every iterate x satisfies x.A.x = x.rhs,
    which the step length of ``ascend`` relies on.
    """
    inverse_diagonal = 1.0 / np.maximum(diagonal, _TINY)
    inverse_shift = 1.0 / np.maximum(shift, _TINY)

    def precondition(r: Floats) -> Floats:
        out: Floats = r * inverse_diagonal + r.sum(axis=1, keepdims=True) * inverse_shift
        return out

    step = np.zeros_like(rhs)
    residual = rhs
    z = precondition(residual)
    search = z
    rz = (residual * z).sum(axis=1, keepdims=True)
    goal = (tolerance * np.linalg.norm(rhs, axis=1, keepdims=True)) ** 2
    for _ in range(limit):
        a_search = times(search)
        alpha = rz / np.maximum((search * a_search).sum(axis=1, keepdims=True), _TINY)
        step = step + alpha * search
        residual = residual - alpha * a_search
        if np.all((residual * residual).sum(axis=1, keepdims=True) <= goal):
            break
        z = precondition(residual)
        rz_next = (residual * z).sum(axis=1, keepdims=True)
        search = z + rz_next / np.maximum(rz, _TINY) * search
        rz = rz_next
    return step


def ascend(
    graph: Graph,
    theta: Floats,
    wins_low: Floats,
    wins_high: Floats,
    direction: Direction,
    tol: float,
    max_iter: int,
) -> tuple[Floats, int, bool]:
    """Move every row of ``theta`` along the Newton steps of ``direction`` until each is < tol
    (or each row's gradient is within its rounding error; see the module docstring).

    Each step's length follows the bound in the module docstring, so L rises at every step of
    every row; a Newton step that is not finite raises ``Invalid``. Returns the rows, the number of
    steps and whether every row converged within ``max_iter``.
    """
    games = np.add(wins_low, wins_high, dtype=np.float64)
    scale = max(float(games.max(initial=0.0)), graph.prior)
    if not np.isfinite(scale):
        raise Invalid(_OVERFLOW, hint="scale the weights down")
    games /= scale
    wins_low, wins_high, prior = wins_low / scale, wins_high / scale, graph.prior / scale
    theta = np.array(theta, dtype=np.float64)
    # below this no item's gradient is above its rounding error, 4 eps (its games + prior)
    total = float(games.sum(axis=1).max(initial=0.0)) + prior
    roundoff, noise = 4.0 * np.finfo(np.float64).eps * total, None
    # per-pair work in place: fresh arrays of this size cost more in page faults than the math
    d, e, won, residual = (np.empty((len(theta), len(graph.low))) for _ in range(4))
    for iteration in range(1, max_iter + 1):
        graph.differences(theta, out=d, scratch=residual)
        # e = e^-d (capped: past 700 the sigmoids below are 0 and 1 to double precision anyway),
        # won = sigmoid(d) = 1 / (1 + e), lost = sigmoid(-d) = e won: each to full relative
        # precision, and so is each term of dL/d(theta_low) = wins_low lost - wins_high won
        np.exp(np.minimum(np.negative(d, out=e), 700.0, out=e), out=e)
        np.reciprocal(np.add(e, 1.0, out=won), out=won)
        np.multiply(wins_low, e, out=residual)  # (wins_low e - wins_high) won
        np.multiply(np.subtract(residual, wins_high, out=residual), won, out=residual)
        grad = graph.per_item(residual, residual, -1.0) - 0.5 * prior * np.tanh(0.5 * theta)
        e *= won
        e *= won
        curvature = np.multiply(games, e, out=e)  # games won lost
        step = direction(grad, curvature, prior * slope(theta))
        if not np.isfinite(step).all():
            raise Invalid(_SINGULAR, hint="scale the weights down or raise the prior")
        done = bool(np.all(np.abs(step).max(axis=1, initial=0.0) < tol))
        if not done and np.abs(grad).max() <= roundoff:  # perhaps no step can be trusted: check
            if noise is None:  # each item's gradient's rounding error
                noise = roundoff / total * (graph.per_item(games, games) + prior)
            stuck = np.all(np.abs(grad) <= noise, axis=1)
            done = bool(np.all((np.abs(step).max(axis=1, initial=0.0) < tol) | stuck))
        reach = np.abs(step).max(axis=1, initial=0.0)  # R: a bound on every |s_i - s_j| and |s_i|
        reach = np.maximum(reach, step.max(axis=1, initial=0.0) - step.min(axis=1, initial=0.0))
        length = np.ones(len(step))
        far = reach > FULL_STEP_REACH
        if far.any():  # the bound promises too little for a full step: measure it
            gain = (grad * step).sum(axis=1)
            rise = graph.rise(theta, d, step, wins_high, games, prior)
            damp = far & ~(rise >= SUFFICIENT_RISE * gain)  # NaN damps
            length[damp] = np.log1p(reach[damp]) / reach[damp]
        theta = theta + length[:, None] * step
        if done:
            return theta, iteration, True
    return theta, max_iter, False


def slope(x: Floats) -> Floats:
    """sigmoid(x) * sigmoid(-x), without the cancellation that makes it 0 for |x| > 37."""
    e = np.exp(-np.abs(x))
    out: Floats = e / (1.0 + e) ** 2
    return out


def softplus(x: Floats) -> Floats:
    """log(1 + e^x), without overflow (``np.logaddexp(0, x)`` is ten times slower)."""
    out: Floats = np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
    return out

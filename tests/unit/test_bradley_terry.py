"""Bradley-Terry: exact against direct maximum likelihood, hand-computed cases, invariants."""

import dataclasses
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

import services.core.bradley_terry as bt
from services.core.bradley_terry import Comparison, aggregate, aggregate_indices, fit, fit_counts
from services.core.errors import Invalid

LN2 = math.log(2)


def reference(items, comps, prior):
    """Maximise the documented penalised likelihood directly, one term per judgment (no counts)."""
    idx = {k: i for i, k in enumerate(items)}
    a = np.array([idx[c.first] for c in comps], dtype=int)
    b = np.array([idx[c.second] for c in comps], dtype=int)
    s = np.array([c.score for c in comps], dtype=float)
    w = np.array([c.weight for c in comps], dtype=float)
    n = len(items)

    def parts(theta):
        d = theta[a] - theta[b]
        p = 1 / (1 + np.exp(-d))
        q = 1 / (1 + np.exp(-theta))  # prior: `prior` virtual ties against log-strength 0
        nll = -np.sum(w * (s * np.log(p) + (1 - s) * np.log(1 - p)))
        nll -= prior * 0.5 * np.sum(np.log(q) + np.log(1 - q))
        r = w * (s - p)
        grad = -(np.bincount(a, r, n) - np.bincount(b, r, n)) - prior * (0.5 - q)
        c = w * p * (1 - p)
        hess = np.diag(prior * q * (1 - q))
        np.add.at(hess, (a, a), c)
        np.add.at(hess, (b, b), c)
        np.add.at(hess, (a, b), -c)
        np.add.at(hess, (b, a), -c)
        return nll, grad, hess

    res = minimize(
        lambda t: parts(t)[0],
        np.zeros(n),
        jac=lambda t: parts(t)[1],
        hess=lambda t: parts(t)[2],
        method="trust-exact",
        options={"gtol": 1e-11},
    )
    theta = res.x - res.x.mean()
    return {k: theta[idx[k]] for k in items}


def random_judgments(rng, items, count):
    true = {i: rng.gauss(0, 1.5) for i in items}
    comps = []
    for _ in range(count):
        x, y = rng.sample(items, 2)
        p = 1 / (1 + math.exp(true[y] - true[x]))
        u = rng.random()
        score = rng.choice([0.5, 0.25]) if abs(u - p) < 0.08 else float(u < p)
        comps.append(Comparison(x, y, score, weight=rng.choice([0.3, 1.0, 2.5])))
    return comps


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_maximum_likelihood_on_random_instances(seed):
    rng = random.Random(seed)
    items = list(range(rng.choice([3, 8, 30])))
    comps = random_judgments(rng, items, rng.choice([5, 60, 400]))
    prior = rng.choice([0.01, 0.1, 1.0])
    got = fit(items, comps, prior=prior)
    want = reference(items, comps, prior)
    assert got.converged
    for i in items:
        assert got.scores[i] == pytest.approx(want[i], abs=1e-6)


@pytest.fixture(scope="module")
def many_items():
    rng = random.Random(8)
    items = list(range(bt.DENSE_SOLVE_UP_TO + 44))
    comps = random_judgments(rng, items, 3000)
    return items, comps, reference(items, comps, 0.1)


@pytest.mark.parametrize(
    "solver",
    [
        ("DENSE_SOLVE_UP_TO", 10_000),  # an exact dense solve
        ("DENSE_MATRIX_FILL", 0.0),  # conjugate gradients on the n x n matrix
        ("DENSE_MATRIX_UP_TO", 0),  # conjugate gradients on products over the pairs
    ],
)
def test_every_solver_reaches_the_same_optimum(monkeypatch, many_items, solver):
    items, comps, want = many_items
    monkeypatch.setattr(bt, *solver)
    got = fit(items, comps)
    assert got.converged
    for i in items:
        assert got.scores[i] == pytest.approx(want[i], abs=1e-6)


def test_many_items_on_a_dense_graph_converge_in_a_few_newton_steps():
    rng = np.random.default_rng(4)
    n, m = 400, 100_000  # 80% of the pairs judged: the n x n matrix solver
    strength = rng.normal(size=n)
    first = rng.integers(0, n, m)
    second = (first + rng.integers(1, n, m)) % n
    won = rng.random(m) < 1 / (1 + np.exp(strength[second] - strength[first]))
    counts = aggregate_indices(range(n), first, second, won.astype(float))
    assert len(counts.low) >= bt.DENSE_MATRIX_FILL * n * n
    got = fit_counts(counts)
    assert got.converged and got.iterations <= 6
    # the optimum: every item's gradient vanishes, computed here one judgment at a time
    theta = got.theta
    p = 1 / (1 + np.exp(theta[second] - theta[first]))
    r = won - p
    grad = np.bincount(first, r, n) - np.bincount(second, r, n) - 0.05 * np.tanh(0.5 * theta)
    assert np.abs(grad).max() < 1e-8


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),
            st.integers(0, 5),
            st.sampled_from([0.0, 0.5, 1.0, 0.7]),
            st.sampled_from([0.0, 0.5, 1.0, 3.0]),
        ),
        max_size=40,
    )
)
def test_agrees_with_maximum_likelihood_on_any_graph(raw):
    comps = [Comparison(a, b, s, w) for a, b, s, w in raw if a != b]
    items = list(range(6))
    got = fit(items, comps).scores
    want = reference(items, comps, 0.1)
    for i in items:
        assert got[i] == pytest.approx(want[i], abs=1e-6)


def test_hand_computed_two_items_with_a_tie_and_weights():
    # a: 4 wins + half a tie = 4.5; b: half a tie + a win of weight 0.5 = 1. With prior 0.6 the
    # optimum is theta = +-ln 2: 4.5 - 5.5 * sigmoid(2 ln 2) + 0.6 * (1/2 - sigmoid(ln 2)) = 0.
    comps = [Comparison("a", "b", 1.0)] * 4 + [
        Comparison("a", "b", 0.5),
        Comparison("b", "a", 1.0, weight=0.5),
    ]
    scores = fit(["a", "b"], comps, prior=0.6).scores
    assert scores["a"] == pytest.approx(LN2, abs=1e-9)
    assert scores["b"] == pytest.approx(-LN2, abs=1e-9)


def test_hand_computed_strengths_four_two_one():
    # win rates 2:1, 2:1 and 4:1 are exactly those of strengths 4, 2, 1; a vanishing prior
    # leaves the maximum-likelihood log-strengths ln 4, ln 2, 0, centred to ln 2, 0, -ln 2.
    def games(x, y, wins, losses):
        return [Comparison(x, y, 1.0)] * wins + [Comparison(x, y, 0.0)] * losses

    comps = games("a", "b", 2, 1) + games("b", "c", 2, 1) + games("a", "c", 4, 1)
    result = fit(["a", "b", "c"], comps, prior=1e-9)
    assert result.scores == pytest.approx({"a": LN2, "b": 0.0, "c": -LN2}, abs=1e-7)
    assert result.ranking() == ["a", "b", "c"]


def test_balanced_records_and_no_judgments_score_zero():
    cycle = [Comparison(1, 2, 1.0), Comparison(2, 3, 1.0), Comparison(3, 1, 1.0)]
    assert fit([1, 2, 3], cycle).scores == pytest.approx({1: 0, 2: 0, 3: 0}, abs=1e-12)
    assert fit([1, 2, 3], []).scores == {1: 0.0, 2: 0.0, 3: 0.0}
    assert fit([], []).scores == {}


def test_clear_winner_ranks_first_and_ties_split():
    comps = [Comparison("a", "b", 1.0), Comparison("c", "a", 0.0), Comparison("b", "c", 0.5)]
    result = fit(["a", "b", "c"], comps)
    assert result.ranking()[0] == "a"
    assert result.scores["b"] == pytest.approx(result.scores["c"], abs=1e-6)


def test_equal_scores_keep_the_input_order():
    assert fit(["z", "y", "x"], [Comparison("z", "y", 0.5)]).ranking() == ["z", "y", "x"]


def test_unbeaten_item_stays_finite_and_far_ahead():
    result = fit([1, 2], [Comparison(1, 2, 1.0)] * 1000, prior=0.1)
    assert result.converged
    assert 4 < result.scores[1] < 10 and result.scores[2] == -result.scores[1]
    assert result.scores == pytest.approx(reference([1, 2], [Comparison(1, 2, 1.0, 1000.0)], 0.1))


def test_lopsided_weights_converge_with_damped_steps():
    # full Newton steps overshoot on this instance (the likelihood falls); halving them does not
    comps = [Comparison(0, 1, 0.9), Comparison(0, 2, 0.0, weight=1e4), Comparison(2, 1, 0.0)]
    result = fit([0, 1, 2], comps, prior=0.1)
    assert result.converged
    assert result.scores == pytest.approx(reference([0, 1, 2], comps, 0.1), abs=1e-6)


def test_disconnected_graph_stays_finite():
    comps = [Comparison(1, 2, 1.0), Comparison(3, 4, 1.0)]
    scores = fit([1, 2, 3, 4], comps).scores
    assert all(math.isfinite(s) for s in scores.values())
    assert scores[1] > scores[2] and scores[3] > scores[4]


def test_a_repeated_judgment_counts_as_its_weight():
    once = fit([1, 2, 3], [Comparison(1, 2, 1.0, weight=3.0), Comparison(2, 3, 0.5)]).scores
    thrice = fit([1, 2, 3], [Comparison(1, 2, 1.0)] * 3 + [Comparison(2, 3, 0.5)]).scores
    assert once == pytest.approx(thrice, abs=1e-12)


def test_iteration_budget_is_reported():
    result = fit([1, 2], [Comparison(1, 2, 1.0)] * 50, max_iter=1)
    assert (result.iterations, result.converged) == (1, False)


def scaled(comps, factor):
    return [Comparison(c.first, c.second, c.score, c.weight * factor) for c in comps]


def gradient(items, comps, prior, theta):
    """dL/dtheta at ``theta``, one judgment at a time, and each item's total weight plus prior."""
    idx = {k: i for i, k in enumerate(items)}
    a = np.array([idx[c.first] for c in comps], dtype=int)
    b = np.array([idx[c.second] for c in comps], dtype=int)
    s = np.array([c.score for c in comps])
    w = np.array([c.weight for c in comps])
    n = len(items)
    r = w * (s - 0.5 * (1 + np.tanh(0.5 * (theta[a] - theta[b]))))
    grad = np.bincount(a, r, n) - np.bincount(b, r, n) - 0.5 * prior * np.tanh(0.5 * theta)
    return grad, np.bincount(a, w, n) + np.bincount(b, w, n) + prior


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("factor", [1e-6, 1e6, 1e12])
def test_scaling_every_weight_and_the_prior_changes_nothing(seed, factor):
    # weights w and prior p have the same maximiser as c w and c p: same steps, same flag
    rng = random.Random(seed)
    items = list(range(rng.choice([8, 30])))
    comps = random_judgments(rng, items, rng.choice([60, 400]))
    base = fit(items, comps, prior=0.1)
    got = fit(items, scaled(comps, factor), prior=0.1 * factor)
    assert (got.converged, got.iterations) == (base.converged, base.iterations)
    assert base.converged
    assert got.scores == pytest.approx(base.scores, abs=1e-9)


@pytest.mark.parametrize("seed", [5, 27, 30, 36])
@pytest.mark.parametrize("factor", [1e-6, 1e6, 1e12])
def test_weights_far_from_the_prior_still_reach_the_optimum(seed, factor):
    # with the prior fixed, large weights send unbeaten items far out (log-strengths of 20-80)
    # where the likelihood is flat; the fit must still converge there and say so
    rng = random.Random(seed)
    items = list(range(rng.choice([8, 30])))
    comps = scaled(random_judgments(rng, items, rng.choice([5, 60])), factor)
    got = fit(items, comps, prior=0.1)
    assert got.converged
    assert all(math.isfinite(v) for v in got.scores.values())
    grad, total = gradient(items, comps, 0.1, got.theta)
    assert np.abs(grad / total).max() < 1e-9


def test_huge_weights_are_refused_rather_than_fitted_to_nan():
    overflowing = [Comparison(1, 2, 1.0, 1e308), Comparison(1, 2, 1.0, 1e308)]
    with pytest.raises(Invalid):
        fit([1, 2, 3], [*overflowing, Comparison(2, 3, 1.0)])
    with pytest.raises(Invalid):  # the prior's curvature is lost next to the data's: singular
        fit([1, 2], [Comparison(1, 2, 1.0, 1e300)])
    counts = aggregate([1, 2, 3], [Comparison(1, 2, 1.0), Comparison(2, 3, 0.5)])
    with pytest.raises(Invalid):
        fit_counts(dataclasses.replace(counts, cell_low=counts.cell_low * np.inf))
    with pytest.raises(Invalid):
        fit_counts(dataclasses.replace(counts, cell_high=counts.cell_high * np.nan))


def test_every_step_raises_the_likelihood():
    # lopsided weights and an unbeaten item: full Newton steps would overshoot here
    comps = [
        Comparison(0, 1, 0.9),
        Comparison(0, 2, 0.0, weight=1e4),
        Comparison(2, 1, 0.0),
        Comparison(3, 0, 1.0, weight=50.0),
    ]
    items = [0, 1, 2, 3]

    def likelihood(theta):
        d = {(c.first, c.second): theta[c.first] - theta[c.second] for c in comps}
        data = sum(
            c.weight * (c.score * -np.logaddexp(0, -d[c.first, c.second]))
            + c.weight * ((1 - c.score) * -np.logaddexp(0, d[c.first, c.second]))
            for c in comps
        )
        return data - 0.05 * sum(np.logaddexp(0, -t) + np.logaddexp(0, t) for t in theta)

    final = fit(items, comps)
    values = [likelihood(fit(items, comps, max_iter=k).theta) for k in range(1, final.iterations)]
    assert all(later >= earlier - 1e-9 for earlier, later in zip(values, values[1:]))
    assert final.converged


judgments = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.integers(0, 4),
        st.sampled_from([0.0, 0.5, 1.0]),
        st.sampled_from([0.5, 1.0, 2.0]),
    ),
    max_size=30,
)


@settings(max_examples=50, deadline=None)
@given(judgments, st.randoms(use_true_random=False))
def test_order_of_judgments_does_not_matter(raw, rnd):
    comps = [Comparison(a, b, s, w) for a, b, s, w in raw if a != b]
    shuffled = list(comps)
    rnd.shuffle(shuffled)
    forward = fit(list(range(5)), comps).scores
    for k, v in fit(list(range(5)), shuffled).scores.items():
        assert forward[k] == pytest.approx(v, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(judgments, st.integers(0, 4), st.integers(0, 4), st.sampled_from([0.1, 1.0, 5.0]))
def test_more_wins_never_lower_a_score(raw, winner, loser, weight):
    if winner == loser:
        loser = (winner + 1) % 5
    comps = [Comparison(a, b, s, w) for a, b, s, w in raw if a != b]
    before = fit(list(range(5)), comps)
    after = fit(list(range(5)), [*comps, Comparison(winner, loser, 1.0, weight)])
    assert after.scores[winner] >= before.scores[winner] - 1e-9
    assert after.scores[loser] <= before.scores[loser] + 1e-9
    assert after.ranking().index(winner) <= before.ranking().index(winner)


@settings(max_examples=40, deadline=None)
@given(judgments.filter(lambda raw: any(a != b for a, b, _, _ in raw)))
def test_turning_a_loss_into_a_win_never_lowers_a_score(raw):
    comps = [Comparison(a, b, s, w) for a, b, s, w in raw if a != b]
    first = comps[0]
    better = [Comparison(first.first, first.second, 1.0, first.weight), *comps[1:]]
    before, after = fit(list(range(5)), comps), fit(list(range(5)), better)
    assert after.scores[first.first] >= before.scores[first.first] - 1e-9


def test_counts_per_pair_and_kind_of_outcome():
    comps = [
        Comparison("b", "a", 1.0, 2.0),
        Comparison("a", "b", 1.0),
        Comparison("a", "b", 0.5),
        Comparison("c", "a", 0.0),
    ]
    counts = aggregate(["a", "b", "c"], comps)
    assert counts.low.tolist() == [0, 0] and counts.high.tolist() == [1, 2]
    assert counts.wins_low.tolist() == [1.5, 1.0]  # a over b: a win and half a tie; a over c
    assert counts.wins_high.tolist() == [2.5, 0.0]  # b over a: a win of weight 2, half a tie
    assert counts.cell_judgments.tolist() == [1, 1, 1, 1]  # a won, b won, shared; a won vs c
    assert (counts.judgments, counts.judged("b", "a"), counts.judged("c", "a")) == (4, 3, 1)
    assert counts.judged("b", "c") == 0
    assert aggregate(["a", "b", "c"], comps[:1]).judged("b", "c") == 0  # past the last pair


def test_dense_and_sorted_counting_agree(monkeypatch):
    rng = np.random.default_rng(3)
    n, m = 40, 2000
    first = rng.integers(0, n, m)
    second = (first + rng.integers(1, n, m)) % n
    score = rng.choice([0.0, 0.5, 1.0, 0.3], m)
    weight = rng.choice([0.5, 1.0, 2.0], m)
    dense = aggregate_indices(range(n), first, second, score, weight)
    monkeypatch.setattr(bt, "DENSE_KEYS", 0)
    sorted_ = aggregate_indices(range(n), first, second, score, weight)
    for name in ("low", "high", "cell_start", "cell_pair", "cell_judgments"):
        assert np.array_equal(getattr(dense, name), getattr(sorted_, name))
    assert np.allclose(dense.cell_low, sorted_.cell_low)
    assert np.allclose(dense.cell_high, sorted_.cell_high)
    assert fit_counts(dense).scores == pytest.approx(fit_counts(sorted_).scores, abs=1e-12)


def test_unweighted_judgments_count_as_unit_weights():
    rng = np.random.default_rng(5)
    n, m = 30, 3000
    first = rng.integers(0, n, m)
    second = (first + rng.integers(1, n, m)) % n
    score = rng.choice([0.0, 1.0, 0.5, 0.25], m)
    for s in (score, np.round(score)):  # with shared judgments and without
        bare, unit = aggregate_indices(range(n), first, second, s), aggregate_indices(
            range(n), first, second, s, np.ones(m)
        )
        for name in ("low", "high", "cell_start", "cell_pair", "cell_judgments"):
            assert np.array_equal(getattr(bare, name), getattr(unit, name))
        assert np.allclose(bare.cell_low, unit.cell_low)
        assert np.allclose(bare.cell_high, unit.cell_high)


def test_bad_input_is_refused():
    with pytest.raises(Invalid):
        fit([1, 1], [])
    with pytest.raises(Invalid):
        fit([1, 2], [Comparison(1, 3, 1.0)])
    with pytest.raises(Invalid):
        fit([1, 2], [Comparison(1, 2, 1.5)])
    with pytest.raises(Invalid):
        fit([1, 2], [Comparison(1, 2, 1.0, weight=-1.0)])
    with pytest.raises(Invalid):
        fit([1, 2], [Comparison(1, 2, float("nan"))])
    with pytest.raises(Invalid):
        fit([1, 2], [Comparison(1, 1, 1.0)])
    with pytest.raises(Invalid):
        fit([1, 2], [Comparison(1, 2, 1.0)], prior=0.0)
    with pytest.raises(Invalid):
        aggregate_indices([1, 1], [0], [1], [1.0])
    with pytest.raises(Invalid):
        aggregate_indices([1, 2], [0, 1], [1], [1.0])
    with pytest.raises(Invalid):
        aggregate_indices([1, 2], [-1], [1], [1.0])

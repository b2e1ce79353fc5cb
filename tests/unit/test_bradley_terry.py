"""The simple Bradley-Terry fit against a direct maximum-likelihood solution (scipy)."""

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from services.core.bradley_terry import Comparison, fit
from services.core.errors import Invalid


def reference(items, comps, prior):
    """Maximise the same penalised likelihood directly over log-strengths."""
    idx = {k: i for i, k in enumerate(items)}

    def nll(theta):
        total = 0.0
        for c in comps:
            a, b = theta[idx[c.first]], theta[idx[c.second]]
            p = 1 / (1 + math.exp(b - a))
            total -= c.weight * (c.score * math.log(p) + (1 - c.score) * math.log(1 - p))
        for t in theta:  # prior: `prior` virtual ties against a reference of log-strength 0
            p = 1 / (1 + math.exp(-t))
            total -= prior * 0.5 * (math.log(p) + math.log(1 - p))
        return total

    res = minimize(nll, np.zeros(len(items)), method="BFGS", options={"gtol": 1e-10})
    theta = res.x - res.x.mean()
    return {k: theta[idx[k]] for k in items}


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_maximum_likelihood(seed):
    rng = random.Random(seed)
    items = list(range(6))
    true = {i: rng.gauss(0, 1) for i in items}
    comps = []
    for _ in range(60):
        a, b = rng.sample(items, 2)
        p = 1 / (1 + math.exp(true[b] - true[a]))
        u = rng.random()
        score = 0.5 if abs(u - p) < 0.05 else float(u < p)
        comps.append(Comparison(a, b, score, weight=rng.choice([0.5, 1.0, 2.0])))
    got = fit(items, comps, prior=0.1).scores
    want = reference(items, comps, 0.1)
    for i in items:
        assert got[i] == pytest.approx(want[i], abs=1e-5)


def test_clear_winner_ranks_first_and_ties_split():
    comps = [Comparison("a", "b", 1.0), Comparison("c", "a", 0.0), Comparison("b", "c", 0.5)]
    result = fit(["a", "b", "c"], comps)
    assert result.ranking()[0] == "a"
    assert result.scores["b"] == pytest.approx(result.scores["c"], abs=1e-6)


def test_disconnected_graph_stays_finite():
    comps = [Comparison(1, 2, 1.0), Comparison(3, 4, 1.0)]
    scores = fit([1, 2, 3, 4], comps).scores
    assert all(math.isfinite(s) for s in scores.values())
    assert scores[1] > scores[2] and scores[3] > scores[4]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.sampled_from([0.0, 0.5, 1.0])), max_size=30))
def test_order_of_judgments_does_not_matter(raw):
    comps = [Comparison(a, b, s) for a, b, s in raw if a != b]
    forward = fit(list(range(5)), comps).scores
    backward = fit(list(range(5)), list(reversed(comps))).scores
    for k in forward:
        assert forward[k] == pytest.approx(backward[k], abs=1e-7)


def test_bad_input_is_refused():
    with pytest.raises(Invalid):
        fit([1, 1], [])
    with pytest.raises(Invalid):
        fit([1, 2], [Comparison(1, 3, 1.0)])
    with pytest.raises(Invalid):
        fit([1, 2], [Comparison(1, 2, 1.5)])

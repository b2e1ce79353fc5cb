"""Bootstrap intervals over aggregated counts."""

import numpy as np
import pytest

from services.core import confidence
from services.core.bradley_terry import Comparison, aggregate, aggregate_indices, fit_counts
from services.core.confidence import bootstrap
from services.core.errors import Invalid


def simulated(n, m, seed, ties=0.1):
    rng = np.random.default_rng(seed)
    strength = np.linspace(1.5, -1.5, n)  # item 0 is best
    first = rng.integers(0, n, m)
    second = (first + rng.integers(1, n, m)) % n
    p = 1 / (1 + np.exp(strength[second] - strength[first]))
    score = (rng.random(m) < p).astype(float)
    score[rng.random(m) < ties] = 0.5
    weight = rng.choice([0.5, 1.0, 2.0], m)
    return aggregate_indices(list(range(n)), first, second, score, weight)


def test_intervals_hold_the_point_fit_and_shrink_with_more_judgments():
    small, large = simulated(6, 300, seed=1), simulated(6, 4800, seed=1)
    for counts in (small, large):
        point = fit_counts(counts)
        iv = bootstrap(counts, rounds=200, seed=7)
        assert iv.converged and (iv.rounds, iv.level) == (200, 0.95)
        for k, s in point.scores.items():
            assert iv.lower[k] < s < iv.upper[k]
    width = {
        name: np.mean([iv.upper[k] - iv.lower[k] for k in range(6)])
        for name, iv in (("small", bootstrap(small)), ("large", bootstrap(large)))
    }
    assert width["large"] == pytest.approx(width["small"] / 4, rel=0.35)  # 16x data: 1/4 width


def test_each_round_is_the_exact_fit_of_its_resampled_counts():
    counts = aggregate(
        ["a", "b", "c"],
        [Comparison("a", "b", 1.0, 2.0)] * 3
        + [Comparison("b", "a", 1.0)] * 2
        + [Comparison("b", "c", 0.5)] * 4
        + [Comparison("c", "a", 0.0, 0.5)] * 2,
    )
    iv = bootstrap(counts, rounds=1, seed=11)
    # the same draw, refitted from scratch: a resample of rows is a resample of cell counts
    rng = np.random.default_rng(11)
    drawn = rng.multinomial(counts.judgments, counts.cell_judgments / counts.judgments, size=1)[0]
    rows = []
    for cell, k in enumerate(drawn):
        low, high = (
            counts.items[counts.low[counts.cell_pair[cell]]],
            counts.items[counts.high[counts.cell_pair[cell]]],
        )
        per_judgment_low = counts.cell_low[cell] / counts.cell_judgments[cell]
        per_judgment_high = counts.cell_high[cell] / counts.cell_judgments[cell]
        weight = per_judgment_low + per_judgment_high
        rows += [Comparison(low, high, per_judgment_low / weight, weight)] * int(k)
    refit = fit_counts(aggregate(counts.items, rows))
    for k in counts.items:
        assert iv.lower[k] == pytest.approx(refit.scores[k], abs=1e-6)
        assert iv.upper[k] == pytest.approx(refit.scores[k], abs=1e-6)


def test_same_seed_same_intervals_and_batches_do_not_change_them(monkeypatch):
    counts = simulated(8, 500, seed=2)
    first = bootstrap(counts, rounds=30, seed=5)
    assert bootstrap(counts, rounds=30, seed=5) == first
    assert bootstrap(counts, rounds=30, seed=6) != first
    monkeypatch.setattr(confidence, "BATCH_CELLS", 1)  # one round per batch
    batched = bootstrap(counts, rounds=30, seed=5)
    for k in counts.items:
        assert batched.lower[k] == pytest.approx(first.lower[k], abs=1e-7)
        assert batched.upper[k] == pytest.approx(first.upper[k], abs=1e-7)


def test_sparse_graphs_give_finite_converged_intervals():
    # 60 items, 400 judgments: resamples leave items with no wins, or with none at all; a Newton
    # step from the flat side of the sigmoid once sent such an item to -450 and the refit to NaN
    rng = np.random.default_rng(2)
    strength = rng.normal(size=60)
    first = rng.integers(0, 60, 400)
    second = (first + rng.integers(1, 60, 400)) % 60
    first_won = rng.random(400) < 1 / (1 + np.exp(strength[second] - strength[first]))
    winners, losers = np.where(first_won, first, second), np.where(first_won, second, first)
    counts = aggregate_indices(range(60), winners, losers, np.ones(400))
    point = fit_counts(counts)
    iv = bootstrap(counts, rounds=50, seed=2, point=point)
    assert iv.converged
    for k, s in point.scores.items():
        assert -20 < iv.lower[k] <= s <= iv.upper[k] < 20


def test_no_judgments_give_the_point_fit_as_interval():
    iv = bootstrap(aggregate([1, 2], []), rounds=5)
    assert iv.lower == iv.upper == {1: 0.0, 2: 0.0}


def test_refit_budget_is_reported():
    assert not bootstrap(simulated(5, 200, seed=3), rounds=5, max_iter=1).converged


def test_bad_settings_are_refused():
    counts = simulated(3, 20, seed=4)
    with pytest.raises(Invalid):
        bootstrap(counts, rounds=0)
    with pytest.raises(Invalid):
        bootstrap(counts, level=1.0)

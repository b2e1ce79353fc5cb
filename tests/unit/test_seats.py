"""Seats by stake: exact expectations, and splitting a stake never adds seats."""

from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.errors import Invalid
from services.core.seats import draw
from services.core.types import NodeId

N = NodeId


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=20), st.integers(1, 32), st.integers(0, 2**31))
def test_seats_add_up_and_follow_stake(stakes, m, seed):
    held = draw({N(i + 1): s for i, s in enumerate(stakes)}, m, seed=seed)
    assert sum(held.values()) == m
    total = sum(stakes) or len(stakes)
    for i, s in enumerate(stakes):
        share = Fraction(m * (s if sum(stakes) else 1), total)
        got = held.get(N(i + 1), 0)
        assert int(share) <= got <= -(-share // 1)  # floor <= seats <= ceil


def test_expected_seats_are_exactly_proportional_to_stake():
    stakes = {N(1): 5, N(2): 3, N(3): 1, N(4): 1}
    trials = 4000
    seen: Counter[NodeId] = Counter()
    for seed in range(trials):
        seen.update(draw(stakes, 4, seed=seed))
    for node, stake in stakes.items():
        assert seen[node] / trials == pytest.approx(4 * stake / 10, abs=0.05)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 7), st.lists(st.integers(1, 100), min_size=2, max_size=7), st.integers(2, 12))
def test_k_identities_expect_the_seats_of_one_holding_their_stake(k, parts, m):
    """Averaged over the draw, an operator's seats depend on its total stake alone."""
    parts = parts[:k]
    honest = {N(i): 50 for i in range(1, 8)}
    split = {**honest, **{N(100 + i): p for i, p in enumerate(parts)}}
    one = {**honest, N(100): sum(parts)}
    trials = 600
    as_many = sum(sum(v for n, v in draw(split, m, seed=s).items() if n >= 100) for s in range(trials))
    as_one = sum(draw(one, m, seed=s).get(N(100), 0) for s in range(trials))
    expected = m * sum(parts) / (sum(parts) + 350)
    assert as_many / trials == pytest.approx(expected, abs=0.15 + 0.05 * m)
    assert as_one / trials == pytest.approx(expected, abs=0.15 + 0.05 * m)


def test_a_cluster_stands_as_one_identity_and_answers_once():
    stakes = {N(1): 10, N(2): 10, N(3): 10, N(4): 10}
    for seed in range(50):
        held = draw(stakes, 3, seed=seed, clusters=[{N(1), N(2)}])
        assert sum(held.values()) == 3
        assert not (N(1) in held and N(2) in held)


def test_equal_stakes_fill_a_swarm_with_distinct_nodes_and_nobody_staked_counts_as_equal():
    held = draw({N(i): 7 for i in range(1, 11)}, 8, seed=3)
    assert sorted(held.values()) == [1] * 8
    assert sum(draw({N(1): 0, N(2): 0, N(3): 0}, 3, seed=1).values()) == 3
    with pytest.raises(Invalid):
        draw({N(1): 1}, 0, seed=1)
    with pytest.raises(Invalid):
        draw({N(1): -1}, 1, seed=1)

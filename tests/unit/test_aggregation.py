"""Candidates, the reliability-weighted posterior, and what it reduces to."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core import aggregation, candidates
from services.core.aggregation import Rates, Round, posterior
from services.core.errors import Invalid
from services.core.types import Candidate, Judgment, NodeId, Outcome, Reliability, TaskId

N = NodeId
T = TaskId("t")
OPTIONS = ("Paris", "Rome", "Madrid", "Oslo")


def test_answers_that_say_the_same_thing_are_one_candidate():
    answers = {N(3): "B. Rome", N(1): "b) rome", N(2): "A. Paris", N(4): "B"}
    found = candidates.group(answers, OPTIONS)
    assert found == (Candidate(N(1), (N(1), N(3), N(4))), Candidate(N(2), (N(2),)))
    free = candidates.group({N(1): "The answer is 42.", N(2): "the  answer is 42", N(3): "41"})
    assert [c.supporters for c in free] == [(N(1), N(2)), (N(3),)]


def _round(cands, judgments=(), rates=None, seats=None, forms=4):
    members = {n for c in cands for n in c.supporters} | {j.judge_id for j in judgments}
    rates = rates or {n: Rates(600_000, 700_000) for n in members}
    return Round(tuple(cands), tuple(judgments), rates, seats or {}, forms)


def test_a_unanimous_swarm_is_one_candidate_and_confident():
    rnd = _round([Candidate(N(1), (N(1), N(2), N(3), N(4)))])
    post = posterior(rnd)
    assert post.ranking()[0].node_id == 1 and post.decided
    assert post.elsewhere == pytest.approx(1 - post.probability[N(1)])


def test_without_informative_judges_the_pick_is_the_reliability_weighted_vote():
    # two weak nodes say A, one strong node says B; judges at a coin add nothing
    cands = [Candidate(N(1), (N(1), N(2))), Candidate(N(3), (N(3),))]
    rates = {N(1): Rates(400_000, 500_000), N(2): Rates(400_000, 500_000), N(3): Rates(950_000, 500_000)}
    verdicts = [Judgment(T, N(1), N(3), N(1), Outcome.LEFT), Judgment(T, N(3), N(1), N(3), Outcome.LEFT)]
    with_judges = posterior(_round(cands, verdicts, rates))
    without = posterior(_round(cands, (), rates))
    assert with_judges.probability == pytest.approx(without.probability)
    w_weak = aggregation.answer_weight(rates[N(1)], 4)
    w_strong = aggregation.answer_weight(rates[N(3)], 4)
    assert (without.ranking()[0].node_id == 3) == (w_strong > 2 * w_weak)


def test_informative_judges_overturn_a_vote():
    cands = [Candidate(N(1), (N(1), N(2), N(3))), Candidate(N(4), (N(4), N(5)))]
    rates = {n: Rates(550_000, 900_000) for n in map(N, range(1, 6))}
    verdicts = [
        Judgment(T, j, left, right, Outcome.LEFT if left == 4 else Outcome.RIGHT)
        for j in map(N, (1, 2, 3, 5))
        for left, right in ((N(1), N(4)), (N(4), N(1)))
        if j not in (left, right)
    ]
    vote = posterior(_round(cands, (), rates))
    judged = posterior(_round(cands, verdicts, rates))
    assert vote.ranking()[0].node_id == 1
    assert judged.ranking()[0].node_id == 4


def test_seats_scale_a_nodes_terms():
    cands = [Candidate(N(1), (N(1),)), Candidate(N(2), (N(2),))]
    one = posterior(_round(cands, seats={N(1): 2, N(2): 1}))
    split = posterior(_round([Candidate(N(1), (N(1), N(3))), Candidate(N(2), (N(2),))]))
    assert one.probability[N(1)] == pytest.approx(split.probability[N(1)])


def test_rates_below_chance_add_nothing_and_ties_say_nothing():
    low = Rates(100_000, 300_000)
    assert aggregation.answer_weight(low, 4) == pytest.approx(0.0)
    assert aggregation.verdict_weights(low) == pytest.approx((0.0, 0.0))
    cands = [Candidate(N(1), (N(1),)), Candidate(N(2), (N(2),))]
    tie = [Judgment(T, N(3), N(1), N(2), Outcome.TIE)]
    assert posterior(_round(cands, tie)).probability == pytest.approx(posterior(_round(cands)).probability)


def test_rates_come_from_the_record_shrunk_to_the_priors():
    assert aggregation.rates(Reliability()) == Rates(500_000, 600_000)
    strong = aggregation.rates(Reliability(90_000, 100_000, 45_000, 50_000))
    assert strong.answer_ppm == round((90 + 1) / 102 * 1e6)
    assert strong.judge_ppm == round((45 + 1.2) / 52 * 1e6)


def test_a_round_refuses_verdicts_on_answers_it_does_not_hold():
    with pytest.raises(Invalid):
        _round([Candidate(N(1), (N(1),))], [Judgment(T, N(2), N(1), N(9), Outcome.LEFT)])
    with pytest.raises(Invalid):
        _round([Candidate(N(i), (N(i),)) for i in range(1, 6)], forms=4)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 4), min_size=2, max_size=8),
    st.lists(st.tuples(st.integers(0, 7), st.integers(0, 3), st.integers(0, 3), st.sampled_from(list(Outcome))), max_size=20),
    st.lists(st.integers(1, 999_999), min_size=8, max_size=8),
)
def test_the_posterior_is_a_distribution_and_the_order_of_verdicts_does_not_matter(letters, raw, ppm):
    answers = {N(i + 1): "ABCD"[x - 1] for i, x in enumerate(letters)}
    cands = candidates.group(answers, OPTIONS)
    ids = [c.id for c in cands]
    rates = {N(i + 1): Rates(ppm[i], ppm[-1 - i]) for i in range(8)}
    verdicts = [
        Judgment(T, N(j % len(letters) + 1), ids[a % len(ids)], ids[b % len(ids)], o)
        for j, a, b, o in raw
        if ids[a % len(ids)] != ids[b % len(ids)]
    ]
    rnd = Round(cands, tuple(verdicts), rates, {}, 4)
    post = posterior(rnd)
    assert sum(post.probability.values()) + post.elsewhere == pytest.approx(1.0)
    assert all(0 <= p <= 1 for p in post.probability.values())
    again = posterior(Round(cands, tuple(reversed(verdicts)), rates, {}, 4))
    assert again.probability == pytest.approx(post.probability)
    assert not math.isnan(post.elsewhere)

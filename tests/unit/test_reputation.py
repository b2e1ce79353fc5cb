"""Reputation anchored in gold, calibration thresholds and outlier judges."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom, binomtest

from services.core.consensus import JudgedPair, Tally, agreement, judged_pairs, positions, ranking
from services.core.errors import Invalid
from services.core.reputation import (
    Deviation,
    Evidence,
    Reputation,
    ReputationConfig,
    calibrate,
    calibration_threshold,
    coin_lower_tail,
    flag_outliers,
    register,
    update,
    upper_tail,
)
from services.core.types import Judgment, NodeId, Outcome, TaskId

N = NodeId

# --- calibration ----------------------------------------------------------------------------------


def test_calibration_thresholds_by_hand():
    # fair coin, 10 questions: P(10 right) = 1/1024 <= 1%, P(>= 9) = 11/1024 > 1%
    assert calibration_threshold(10, 5000, 9900) == 10
    assert calibration_threshold(5, 5000, 9900) == 6  # 1/32 > 1%: no score passes
    assert calibration_threshold(0, 2500) == 1
    assert calibration_threshold(20, 2500, 9900) == 11  # four options, 20 questions
    got = calibrate(Tally(11, 20), 2500)
    assert got.passed and got.threshold == 11
    assert got.p_value == pytest.approx(binom.sf(10, 20, 0.25))
    assert not calibrate(Tally(10, 20), 2500).passed


@given(st.integers(1, 80), st.integers(500, 9500), st.sampled_from([9000, 9500, 9900, 9990]))
def test_threshold_is_the_smallest_passing_score(n, chance_bp, conf_bp):
    k = calibration_threshold(n, chance_bp, conf_bp)
    alpha = 1 - conf_bp / 10_000
    if k <= n:
        assert binom.sf(k - 1, n, chance_bp / 10_000) <= alpha + 1e-12
    assert binom.sf(k - 2, n, chance_bp / 10_000) > alpha - 1e-12


@given(
    st.integers(1, 60).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(1, 9999),
)
def test_exact_tests_match_scipy(kn, rate_bp):
    k, n = kn
    p = rate_bp / 10_000
    assert float(upper_tail(k, n, rate_bp)) == pytest.approx(
        binom.sf(k - 1, n, p), rel=1e-9, abs=1e-300
    )


@given(st.integers(0, 120).flatmap(lambda n: st.tuples(st.integers(-1, n), st.just(n))))
def test_the_coin_tail_is_the_exact_tail(kn):
    k, n = kn
    assert coin_lower_tail(k, n) == 1 - upper_tail(k + 1, n, 5000)


def test_the_coin_tail_of_many_verdicts_matches_scipy():
    for k, n in ((9_850, 20_000), (10_000, 20_001), (15_000, 20_000), (10, 20_000)):
        assert float(coin_lower_tail(k, n)) == pytest.approx(binom.cdf(k, n, 0.5), rel=1e-9, abs=1e-300)


# --- reputation updates ---------------------------------------------------------------------------


def test_register_shrinks_calibration_toward_the_prior():
    assert register(Tally(30, 40)) == Reputation(7000, 7000)  # (5000*10 + 30*10000) / 50
    assert register(Tally()) == Reputation(5000, 5000)
    assert register(Tally(), ReputationConfig(pseudo_count=0)) == Reputation(5000, 5000)


def test_update_by_hand():
    start = Reputation(5000, 5000)
    # gold 8/10: rate 0.5 * 10/20 = 0.25 -> 5000 + 0.25 * 3000 = 5750 (anchor the same)
    assert update(start, Evidence(gold=Tally(8, 10))) == Reputation(5750, 5750)
    # quality 6/10 adds 0.15 * 0.5 * 1000 = +75, agreement 4/10 adds -75
    assert update(start, Evidence(Tally(8, 10), Tally(6, 10))) == Reputation(5825, 5750)
    assert update(start, Evidence(Tally(8, 10), Tally(6, 10), Tally(4, 10))) == Reputation(
        5750, 5750
    )


def test_agreement_cannot_lift_a_node_above_its_gold_record():
    # a ring that agrees with itself perfectly, with a poor gold record, is held at anchor + 10%
    rep = Reputation(6000, 4000)
    for _ in range(20):
        rep = update(rep, Evidence(quality=Tally(100, 100), agreement=Tally(100, 100)))
    assert rep == Reputation(5000, 4000)


def test_idle_epochs_decay_toward_the_prior():
    assert update(Reputation(9000, 8000), Evidence()) == Reputation(8600, 7700)
    assert update(Reputation(1000, 1000), Evidence()) == Reputation(1400, 1400)


tallies = st.integers(0, 50).flatmap(lambda n: st.integers(0, n).map(lambda k: Tally(k, n)))
reps = st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)).map(lambda t: Reputation(*t))


@given(reps, tallies, tallies, tallies)
def test_more_correct_gold_answers_never_lower_reputation(rep, gold, quality, agree):
    if gold.hits == gold.total:
        return
    worse = update(rep, Evidence(gold, quality, agree))
    better = update(rep, Evidence(Tally(gold.hits + 1, gold.total), quality, agree))
    assert better.score_bp >= worse.score_bp and better.anchor_bp >= worse.anchor_bp
    assert 0 <= better.score_bp <= 10_000


def test_fixed_point_and_invalid_values():
    assert Reputation(7500, 0).fixed18() == 75 * 10**16
    with pytest.raises(Invalid):
        Reputation(10_001, 0)
    with pytest.raises(Invalid):
        Tally(3, 2)
    for bad in (
        {"prior_bp": 10_001},
        {"gold_rate_bp": 6000, "quality_rate_bp": 3000, "agreement_rate_bp": 2000},
        {"pseudo_count": -1},
    ):
        with pytest.raises(Invalid):
            ReputationConfig(**bad)
    with pytest.raises(Invalid):
        upper_tail(5, 3, 5000)
    with pytest.raises(Invalid):
        calibration_threshold(3, 5000, 10_000)
    with pytest.raises(Invalid):
        flag_outliers({}, significance_bp=0)


# --- agreement and outliers -------------------------------------------------------------------------


def test_agreement_and_positions_from_a_consensus():
    t = TaskId("t")
    scores = {N(1): 1.0, N(2): 0.0, N(3): 0.0}
    js = [
        Judgment(t, N(7), N(1), N(2), Outcome.LEFT),  # agrees
        Judgment(t, N(7), N(2), N(1), Outcome.LEFT),  # disagrees
        Judgment(t, N(7), N(1), N(3), Outcome.TIE),  # a tie on an ordered pair: judged, not agreed
        Judgment(t, N(8), N(2), N(3), Outcome.LEFT),  # consensus says equal: not counted
    ]
    pairs = judged_pairs(js, scores)
    assert agreement(pairs) == {N(7): Tally(1, 3)}
    entries = ranking(scores)
    assert [(e.node_id, e.rank) for e in entries] == [(1, 1), (2, 2), (3, 2)]
    assert positions(entries) == {N(1): Tally(2, 2), N(2): Tally(0, 2), N(3): Tally(0, 2)}
    with pytest.raises(Invalid):
        judged_pairs([Judgment(t, N(7), N(1), N(9), Outcome.LEFT)], scores)


def _pairs(agreed: int, total: int) -> list[JudgedPair]:
    return [JudgedPair(TaskId("t"), N(1), N(2), Outcome.LEFT, i < agreed) for i in range(total)]


def test_judges_below_a_coin_are_flagged_with_evidence_and_skill_differences_are_not():
    swarm = {N(j): _pairs(40, 50) for j in range(1, 11)}  # 80% agreement each
    swarm[N(20)] = _pairs(10, 50)  # a contrarian: below a coin
    swarm[N(21)] = _pairs(50, 50)  # agrees every time, where the swarm manages 80%: skill, not fraud
    swarm[N(23)] = _pairs(31, 50)  # a weak but honest judge (62%)
    swarm[N(22)] = _pairs(0, 5)  # too little evidence to say anything
    flagged = flag_outliers(swarm)
    assert [(f.judge_id, f.deviation) for f in flagged] == [(20, Deviation.BELOW)]
    low = flagged[0]
    assert (low.agreed, low.judged, len(low.pairs)) == (10, 50, 50)
    assert low.p_value == pytest.approx(binomtest(10, 50, 0.5, alternative="less").pvalue, rel=1e-6)
    assert flag_outliers({N(1): _pairs(0, 50)})[0].judge_id == 1  # alone, still below a coin


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.55, 0.95))
def test_an_honest_judge_above_chance_is_flagged_at_most_at_the_nominal_rate(seed, skill):
    rng = random.Random(seed)
    flagged = 0
    trials = 200
    for _ in range(trials):
        n = rng.randint(10, 60)
        agreed = sum(rng.random() < skill for _ in range(n))
        flagged += bool(flag_outliers({N(1): _pairs(agreed, n)}))
    # nominal 1% at a coin; above a coin the rate is lower still (3 in 200 allows for chance)
    assert flagged <= 3

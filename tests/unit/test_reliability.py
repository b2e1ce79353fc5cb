"""The epoch's reliability estimate: gold and peer records, leave-one-out labels, two-faced nodes."""

from services.core import aggregation
from services.core.aggregation import Rates, Round
from services.core.reliability import MILLI, Observed, decay, estimate, two_faced
from services.core.types import Candidate, Judgment, NodeId, Outcome, Reliability, TaskId

N = NodeId
T = TaskId("t")
EVEN = Rates(500_000, 600_000)


def _round(cands, judgments=()):
    members = {n for c in cands for n in c.supporters} | {j.judge_id for j in judgments}
    return Round(tuple(cands), tuple(judgments), dict.fromkeys(members, EVEN), {}, 4)


def test_gold_rounds_feed_the_known_answer_record_and_a_no_show_misses():
    rnd = _round([Candidate(N(1), (N(1), N(2))), Candidate(N(3), (N(3),))])
    after = estimate([Observed(rnd, gold=True, truth=N(1), absent=(N(4),))], {})
    assert after[N(1)].values()[4:6] == (2 * MILLI, 2 * MILLI)  # right, counted twice
    assert after[N(3)].values()[4:6] == (0, 2 * MILLI)
    assert after[N(4)].values()[4:6] == (0, 2 * MILLI)  # asked, no answer: a miss
    assert all(r.values()[:4] == (0, 0, 0, 0) for r in after.values())  # no peer evidence


def test_a_node_is_scored_by_the_others_and_cannot_confirm_itself():
    # node 9 holds many seats' worth of trust and says B; the three others say A
    cands = [Candidate(N(1), (N(1), N(2), N(3))), Candidate(N(9), (N(9),))]
    verdicts = [Judgment(T, N(9), N(9), N(1), Outcome.LEFT), Judgment(T, N(9), N(1), N(9), Outcome.RIGHT)]
    rounds = [Observed(_round(cands, verdicts))] * 10
    before = {N(9): Reliability(gold_answer_hits=40 * MILLI, gold_answer_total=40 * MILLI)}
    after = estimate(rounds, before)
    assert after[N(9)].answer_hits == 0 and after[N(9)].answer_total == 10 * MILLI
    assert after[N(9)].judge_hits == 0 and after[N(9)].judge_total == 20 * MILLI
    assert after[N(1)].answer_hits == after[N(1)].answer_total == 10 * MILLI


def test_records_decay_and_rates_shrink_toward_the_priors():
    r = Reliability(10_000, 20_000, 3_000, 4_000, 5_000, 5_000, 0, 0)
    assert decay(r).values() == (8_000, 16_000, 2_400, 3_200, 4_000, 4_000, 0, 0)
    assert estimate([], {N(1): r})[N(1)] == decay(r)
    # known answers can only pull a node down: perfect gold does not lift a poor peer record
    assert aggregation.rates(r).answer_ppm == round((10 + 1) / (20 + 2) * 1e6)


def _record(peer: float, gold: float, n: int = 40) -> Reliability:
    return Reliability(
        round(peer * n) * MILLI, n * MILLI, 0, 0, round(gold * n) * MILLI, n * MILLI, 0, 0
    )


def test_a_node_that_does_well_only_where_it_is_checked_is_two_faced():
    honest = {N(i): _record(0.45 + 0.03 * i, 0.6 + 0.03 * i) for i in range(1, 9)}
    liar = {N(20): _record(0.45, 1.0)}
    assert two_faced({**honest, **liar}) == {N(20)}
    assert two_faced(honest) == set()
    assert two_faced({N(20): _record(0.45, 1.0, n=3)}) == set()  # too little evidence to say
    flagged = estimate([], {**honest, N(20): _record(0.45, 1.0)})
    assert flagged[N(20)].distrusted and not aggregation.trusted(flagged[N(20)])
    assert aggregation.rates(flagged[N(20)]) == Rates(1, 1)
    assert not any(flagged[n].distrusted for n in honest)

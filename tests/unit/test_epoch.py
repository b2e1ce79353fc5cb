"""Closing an epoch: the reward vector adds up to the pool, and reputations follow the evidence."""

from hypothesis import given, settings
from hypothesis import strategies as st

from services.core import epoch, reputation
from services.core.consensus import ranking
from services.core.types import EpochId, Judgment, NodeId, Outcome, TaskId, Wei

N = [NodeId(i) for i in range(1, 5)]


def finished(task: str, fee: int, good: set[NodeId]) -> epoch.FinishedTask:
    """Judges (every node but the two compared) prefer answers from ``good`` nodes."""
    judgments = []
    for a in N:
        for b in N:
            if a >= b:
                continue
            for left, right in ((a, b), (b, a)):
                judge = next(j for j in N if j not in (a, b))
                if (left in good) == (right in good):
                    outcome = Outcome.TIE
                else:
                    outcome = Outcome.LEFT if left in good else Outcome.RIGHT
                judgments.append(Judgment(TaskId(task), judge, left, right, outcome))
    scores = {n: (1.0 if n in good else -1.0) for n in N}
    answers = {n: ("4" if n in good else f"{4 + n}") for n in N}
    return epoch.FinishedTask(TaskId(task), Wei(fee), ranking(scores), answers, tuple(judgments))


def test_fees_and_emission_are_paid_out_exactly_and_better_answers_earn_more():
    tasks = [finished("t1", 1000, {N[0], N[1]}), finished("t2", 3000, {N[0], N[1]})]
    result = epoch.close(EpochId(1), tasks, {}, emission=Wei(7))
    assert result.pool == 4007 and sum(result.rewards.values()) + result.carried == 4007
    assert result.rewards[N[0]] > result.rewards[N[2]] and result.rewards[N[1]] > result.rewards[N[3]]
    assert all(v >= 0 for v in result.rewards.values())
    for n in result.nodes:
        assert n.evidence.quality.total == 2 * 3  # two tasks, three other answers each


def test_idle_nodes_decay_toward_the_prior_and_active_ones_move_with_evidence():
    high = reputation.Reputation(9000, 9000)
    idle = NodeId(99)
    result = epoch.close(EpochId(2), [finished("t", 100, {N[0]})], {idle: high, N[0]: high, N[3]: high})
    after = {n.node_id: n.after for n in result.nodes}
    assert after[idle].score_bp < 9000  # decayed
    assert after[N[3]].score_bp < after[N[0]].score_bp  # the worst answerer lost more


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**20), st.sets(st.sampled_from(N), min_size=1, max_size=3)),
                min_size=1, max_size=4), st.integers(0, 10**18))
def test_the_vector_always_sums_to_the_pool_and_is_never_negative(spec, emission):
    tasks = [finished(f"t{i}", fee, good) for i, (fee, good) in enumerate(spec)]
    result = epoch.close(EpochId(3), tasks, {}, emission=Wei(emission))
    assert sum(result.rewards.values()) + result.carried == sum(f for f, _ in spec) + emission
    assert all(v >= 0 for v in result.rewards.values())


def test_gold_answers_move_anchors_and_a_gold_no_show_counts_as_a_miss():
    from dataclasses import replace

    gold = replace(finished("g1", 0, {N[0], N[1]}), gold="B", swarm=tuple(N))
    answers = {N[0]: "B. Weakness", N[1]: "B", N[2]: "C. Threat"}  # N[3] was asked, did not answer
    gold = replace(gold, answers=answers)
    start = {n: reputation.Reputation(5000, 5000) for n in N}
    result = epoch.close(EpochId(1), [gold], start)
    ev = {n.node_id: n.evidence.gold for n in result.nodes}
    assert [(ev[n].hits, ev[n].total) for n in N] == [(1, 1), (1, 1), (0, 1), (0, 1)]
    after = {n.node_id: n.after.anchor_bp for n in result.nodes}
    assert after[N[0]] == after[N[1]] > 5000 > after[N[2]] == after[N[3]]

"""SybilWall: near-duplicate identities are clustered and paid as one."""

import random

import pytest

from services.core import consensus
from services.core.errors import Invalid
from services.core.sybil import SybilConfig, SybilReport, detect
from services.core.types import Judgment, NodeId, Outcome, TaskId

N = NodeId
HONEST = [N(i) for i in range(1, 9)]
RING = [N(i) for i in range(20, 23)]
OPTIONS = "ABCD"


def epoch(seed: int, ring_answers_alike: bool, ring_judges_alike: bool, tasks: int = 40):
    """Honest nodes answer right 70% of the time and judge right 80%; the ring may collude."""
    rng = random.Random(seed)
    answers: dict[NodeId, dict[TaskId, str]] = {n: {} for n in HONEST + RING}
    judgments: list[Judgment] = []
    for t in range(tasks):
        task = TaskId(f"t{t}")
        ring_answer = rng.choice("BCD") if rng.random() < 0.5 else "A"
        for n in HONEST + RING:
            if n in RING and ring_answers_alike:
                answers[n][task] = ring_answer
            else:
                answers[n][task] = "A" if rng.random() < 0.7 else rng.choice("BCD")
        nodes = HONEST + RING
        for a, b in ((a, b) for a in nodes for b in nodes if a != b):
            judge = rng.choice([j for j in nodes if j not in (a, b)])
            right_a, right_b = answers[a][task] == "A", answers[b][task] == "A"
            if judge in RING and ring_judges_alike and (a in RING) != (b in RING):
                out = Outcome.LEFT if a in RING else Outcome.RIGHT
            elif right_a == right_b:
                out = Outcome.TIE
            else:
                good = Outcome.LEFT if right_a else Outcome.RIGHT
                bad = Outcome.RIGHT if right_a else Outcome.LEFT
                out = good if rng.random() < 0.8 else bad
            judgments.append(Judgment(task, judge, a, b, out))
    scores = {}
    winners = {}
    for t in range(tasks):
        task = TaskId(f"t{t}")
        fit = consensus.fit(nodes, [j for j in judgments if j.task_id == task])
        scores[task] = fit.scores
        winners[task] = answers[consensus.ranking(fit.scores)[0].node_id][task]
    return answers, winners, judgments, scores


@pytest.mark.parametrize("seed", range(3))
def test_a_ring_that_answers_alike_is_one_cluster(seed):
    answers, winners, _, _ = epoch(seed, ring_answers_alike=True, ring_judges_alike=False)
    report = detect(answers, winners)
    assert report.clusters == (frozenset(RING),)
    assert all(link.answer_similarity_bp >= 8000 for link in report.links)
    assert report.cluster_of(RING[0]) == frozenset(RING)
    assert report.cluster_of(HONEST[0]) == frozenset({HONEST[0]})


@pytest.mark.parametrize("seed", range(3))
def test_a_ring_that_judges_alike_is_one_cluster_and_honest_judges_are_not(seed):
    answers, winners, judgments, scores = epoch(
        seed, ring_answers_alike=False, ring_judges_alike=True
    )
    report = detect(answers, winners, judgments, scores)
    assert report.clusters == (frozenset(RING),)
    assert all(link.reciprocal_z >= 4.0 for link in report.links)


def test_an_honest_swarm_has_no_clusters():
    answers, winners, judgments, scores = epoch(
        7, ring_answers_alike=False, ring_judges_alike=False
    )
    assert detect(answers, winners, judgments, scores).clusters == ()


def test_a_lazy_copier_lands_in_the_cluster_of_the_node_it_copies():
    answers, winners, _, _ = epoch(1, ring_answers_alike=False, ring_judges_alike=False)
    answers[N(30)] = dict(answers[HONEST[0]])
    assert detect(answers, winners).clusters == (frozenset({HONEST[0], N(30)}),)


def test_a_node_outside_every_cluster_is_its_own():
    assert SybilReport((), ()).cluster_of(N(5)) == frozenset({N(5)})


def test_config_is_checked():
    with pytest.raises(Invalid):
        SybilConfig(answer_threshold_bp=0)
    with pytest.raises(Invalid):
        SybilConfig(min_shared_deviations=0)
    with pytest.raises(Invalid):
        SybilConfig(reciprocal_z=0)


def test_a_cluster_does_not_judge_its_own_answers_in_the_fit():
    t = TaskId("t")
    js = [
        Judgment(t, N(2), N(1), N(3), Outcome.LEFT),  # 2 is clustered with 1: dropped
        Judgment(t, N(4), N(3), N(1), Outcome.LEFT),
    ]
    kept = consensus.comparisons(js, {N(2): 10, N(4): 5}, clusters=[{N(1), N(2)}])
    assert [(c.first, c.second, c.weight) for c in kept] == [(N(3), N(1), 0.5)]  # 5 of top 10
    fit = consensus.fit([N(1), N(3)], js, clusters=[{N(1), N(2)}])
    assert fit.ranking()[0] == N(3)
    with pytest.raises(Invalid):
        consensus.comparisons(js, {N(2): -1})

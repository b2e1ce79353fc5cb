from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from services.core.schedule import round_robin
from services.core.types import NodeId


@given(st.sets(st.integers(1, 50), min_size=3, max_size=12))
def test_no_judge_judges_its_own_answer_and_both_orders_are_judged(ids):
    nodes = [NodeId(i) for i in ids]
    pairs = round_robin(nodes, nodes)
    for p in pairs:
        assert p.judge_id not in (p.left_id, p.right_id)
    ordered = Counter((p.left_id, p.right_id) for p in pairs)
    n = len(nodes)
    assert len(ordered) == n * (n - 1)  # every pair, in both presentation orders
    assert set(ordered.values()) == {1}


def test_work_is_spread_evenly_and_orders_go_to_different_judges():
    nodes = [NodeId(i) for i in range(1, 6)]
    pairs = round_robin(nodes, nodes)
    load = Counter(p.judge_id for p in pairs)
    assert max(load.values()) - min(load.values()) <= 1
    by_pair = {}
    for p in pairs:
        by_pair.setdefault(frozenset((p.left_id, p.right_id)), []).append(p.judge_id)
    assert all(len(set(js)) == 2 for js in by_pair.values())


def test_two_answers_have_no_eligible_judge():
    assert round_robin([NodeId(1), NodeId(2)], [NodeId(1), NodeId(2)]) == []


def test_equal_scores_share_a_rank():
    from services.app.rounds import competition_ranks

    ranks = competition_ranks([(NodeId(1), 2.0), (NodeId(2), 2.0), (NodeId(3), 0.5), (NodeId(4), -1.0)])
    assert [r.rank for r in ranks] == [1, 1, 3, 4]

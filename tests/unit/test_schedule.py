from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.schedule import FULL_UP_TO, assign, round_robin, schedule, sparse, sparse_pairs
from services.core.types import NodeId


def connected(nodes, pairs):
    seen, todo = set(), [min(nodes)]
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo += [b for a, b in pairs if a == x] + [a for a, b in pairs if b == x]
    return seen == set(nodes)


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
    assert sparse([NodeId(1), NodeId(2)], [NodeId(1), NodeId(2)]) == []


@settings(max_examples=60, deadline=None)
@given(st.sets(st.integers(1, 500), min_size=3, max_size=60), st.integers(0, 2**32))
def test_sparse_schedule_is_fortytwos_count_connected_fair_and_never_self_judged(ids, seed):
    nodes = [NodeId(i) for i in ids]
    n = len(nodes)
    pairs = sparse(nodes, nodes, seed=seed)
    assert len(pairs) == 2 * (n - 1) + 2 * (n // 2)
    assert all(p.judge_id not in (p.left_id, p.right_id) for p in pairs)
    ordered = Counter((p.left_id, p.right_id) for p in pairs)
    assert set(ordered.values()) == {1}  # no ordered pair twice ...
    assert all((b, a) in ordered for a, b in ordered)  # ... and each in both orders
    assert connected(nodes, list(ordered))
    load = Counter(p.judge_id for p in pairs)
    assert set(load) == set(nodes) and max(load.values()) - min(load.values()) <= 1
    if n >= 4:  # two eligible judges or more: the two orders go to different judges
        by_pair = Counter((frozenset((p.left_id, p.right_id)), p.judge_id) for p in pairs)
        assert set(by_pair.values()) == {1}


def test_sparse_positions_are_a_chain_and_a_matching():
    assert sparse_pairs(2) == [(0, 1), (0, 1)]
    assert sparse_pairs(3) == [(0, 1), (1, 2), (0, 2)]
    assert sparse_pairs(6) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)]
    assert sparse_pairs(7)[6:] == [(0, 4), (1, 5), (2, 6)]


def test_two_answers_with_an_outside_judge_are_judged_four_times():
    pairs = sparse([NodeId(1), NodeId(2)], [NodeId(9)])
    assert Counter((p.left_id, p.right_id) for p in pairs) == {(1, 2): 2, (2, 1): 2}


def test_the_seed_only_changes_which_answers_meet():
    nodes = [NodeId(i) for i in range(1, 21)]
    assert sparse(nodes, nodes, seed=1) == sparse(nodes, nodes, seed=1)
    met = {
        s: {frozenset((p.left_id, p.right_id)) for p in sparse(nodes, nodes, seed=s)}
        for s in (1, 2)
    }
    assert met[1] != met[2] and len(met[1]) == len(met[2]) == 19 + 10


def test_small_swarms_get_the_full_round_robin_larger_ones_the_sparse_schedule():
    small = [NodeId(i) for i in range(1, FULL_UP_TO + 1)]
    assert schedule(small, small) == round_robin(small, small)
    large = [NodeId(i) for i in range(1, FULL_UP_TO + 2)]
    assert schedule(large, large, seed=3) == sparse(large, large, seed=3)
    assert schedule(large, large, full_up_to=len(large)) == round_robin(large, large)


def test_outside_judges_share_the_work():
    answers = [NodeId(i) for i in range(1, 11)]
    judges = [NodeId(100), NodeId(101), NodeId(102)]
    load = Counter(p.judge_id for p in sparse(answers, judges))
    assert sum(load.values()) == 28 and max(load.values()) - min(load.values()) <= 1


def test_assignments_move_from_the_busiest_judge_where_allowed():
    # least-loaded-first leaves judge 3 with one judgment here (4, 4, 3, 1 for judges 1, 2, 5,
    # 3); judge 3 wrote an answer in four of the six pairs and may judge only one order of each
    # other pair, so 2 is its most and 4, 3, 3, 2 the most even load there is
    pairs = [(4, 5), (5, 3), (1, 3), (2, 4), (2, 3), (3, 4)]
    out = assign([(NodeId(a), NodeId(b)) for a, b in pairs], [NodeId(j) for j in (3, 1, 2, 5)])
    load = Counter(p.judge_id for p in out)
    assert len(out) == 12 and load == {2: 4, 1: 3, 5: 3, 3: 2}
    assert all(p.judge_id not in (p.left_id, p.right_id) for p in out)


def test_a_pair_whose_writers_are_the_only_judges_is_left_out_and_load_stays():
    out = assign([(NodeId(1), NodeId(2)), (NodeId(1), NodeId(3))], [NodeId(1), NodeId(2)])
    assert [(p.judge_id, p.left_id, p.right_id) for p in out] == [(2, 1, 3), (2, 3, 1)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=3, max_size=16),
    st.lists(st.integers(1, 3), min_size=16, max_size=16),
    st.integers(0, 2**31),
)
def test_plan_judges_candidates_never_ones_own_answer_and_never_twice(groups, seat_list, seed):
    from services.core.candidates import group as make_candidates
    from services.core.schedule import JUDGMENTS_PER_SEAT, plan

    answers = {NodeId(i + 1): f"answer {g}" for i, g in enumerate(groups)}
    cands = make_candidates(answers)
    seats = {n: seat_list[i] for i, n in enumerate(sorted(answers))}
    pairs = plan(cands, seats, seed=seed)
    ids = {c.id for c in cands}
    assert all(p.left_id in ids and p.right_id in ids and p.left_id != p.right_id for p in pairs)
    assert all(p.judge_id not in (p.left_id, p.right_id) for p in pairs)  # never its own answer
    assert len(set(pairs)) == len(pairs)  # no judge sees one ordered pair twice
    assert len(pairs) <= JUDGMENTS_PER_SEAT * sum(seats.values())
    if len(cands) == 1:
        assert pairs == []
    else:  # every scheduled pair in both orders; the chain of pairs connects every candidate
        ordered = {(p.left_id, p.right_id) for p in pairs}
        assert all((b, a) in ordered for a, b in ordered)
        assert connected(ids, list(ordered))


def test_plan_prefers_judges_that_support_neither_answer():
    from services.core.schedule import plan
    from services.core.types import Candidate

    cands = [Candidate(NodeId(1), (NodeId(1), NodeId(2))), Candidate(NodeId(3), (NodeId(3),)),
             Candidate(NodeId(4), (NodeId(4),))]  # fmt: skip
    pairs = plan(cands, {NodeId(n): 1 for n in (1, 2, 3, 4)}, per_seat=1)
    first = [p for p in pairs if {p.left_id, p.right_id} == {NodeId(1), NodeId(3)}]
    assert first and all(p.judge_id == NodeId(4) for p in first)  # the only neutral judge

"""Reward split per task and per epoch: exact integer sums, hand-computed cases, Sybil splitting."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core import consensus
from services.core.consensus import Tally
from services.core.errors import Invalid
from services.core.rewards import (
    WEIGHT_SCALE,
    RewardConfig,
    TaskOutcome,
    apportion,
    epoch_rewards,
    iroot,
    position_weight,
    task_rewards,
)
from services.core.types import EpochId, Judgment, NodeId, Outcome, RankEntry, TaskId, Wei

N = NodeId
T = TaskId("t1")


def ranked(*ids: int, ranks: list[int] | None = None) -> tuple[RankEntry, ...]:
    ranks = ranks or list(range(1, len(ids) + 1))
    return tuple(RankEntry(N(i), float(-r), r) for i, r in zip(ids, ranks, strict=True))


# --- hand-computed cases ------------------------------------------------------------------------


def test_largest_remainder_by_hand():
    assert apportion(10, {N(1): 1, N(2): 1, N(3): 1}) == {1: 4, 2: 3, 3: 3}  # tie: smaller id
    assert apportion(100, {N(1): 1, N(2): 2}) == {1: 33, 2: 67}  # 33.33 / 66.67
    assert apportion(7, {N(1): 0, N(2): 5}) == {1: 0, 2: 7}
    # a rounded-down key keeps its floor; the unit goes elsewhere even with the larger remainder
    assert apportion(100, {N(1): 2, N(2): 1}, round_down=[N(1)]) == {1: 66, 2: 34}
    assert apportion(5, {N(1): 1, N(2): 1}, round_down=[N(1), N(2)]) == {1: 3, 2: 2}


def test_position_weights_are_x_to_the_one_and_a_half():
    # n = 4: x = 1, 2/3, 1/3, 0
    assert [position_weight(r, 4) for r in (1, 2, 3, 4)] == [
        WEIGHT_SCALE,
        544331053951817355,  # (2/3) ** 1.5 = 0.5443310539518174
        192450089729875254,  # (1/3) ** 1.5 = 0.19245008972987526
        0,
    ]
    assert position_weight(1, 1) == WEIGHT_SCALE
    assert position_weight(2, 3, Fraction(1)) == WEIGHT_SCALE // 2
    assert iroot(26, 3) == 2 and iroot(27, 3) == 3 and iroot(1, 5) == 1 and iroot(0, 2) == 0


def test_task_split_by_hand():
    # 1000 wei: 700 to answers at x = 1, 1/2, 0 -> weights 1 : 0.35355 : 0 -> 517.16 / 182.84
    # 300 to judges by agreement above 50%: node 4 3/4 (+25%), node 5 1/4 (nothing),
    # node 6 7/8 (+37.5%) -> 2 : 3
    task = TaskOutcome(
        T,
        Wei(1000),
        ranked(1, 2, 3),
        {N(4): Tally(3, 4), N(5): Tally(1, 4), N(6): Tally(7, 8)},
    )
    assert task_rewards(task) == {1: 517, 2: 183, 4: 120, 6: 180}


def test_configurable_shares_and_exponent():
    task = TaskOutcome(T, Wei(1000), ranked(1, 2, 3), {N(4): Tally(1, 1)})
    cfg = RewardConfig(answerer_share_bp=5000, judge_share_bp=5000, position_exponent=Fraction(1))
    assert task_rewards(task, cfg) == {1: 333, 2: 167, 4: 500}  # 500 at 1 : 1/2


def test_equal_ranks_earn_equally_and_no_shows_earn_nothing():
    # node 9 did not answer: it is not ranked; nodes 1 and 2 tie for first
    task = TaskOutcome(T, Wei(700), ranked(1, 2, 3, ranks=[1, 1, 3]))
    got = task_rewards(task)
    assert got == {1: 350, 2: 350}
    assert got.get(N(9), 0) == 0


def test_one_side_missing_gets_the_other_side_everything():
    only_answers = TaskOutcome(T, Wei(1000), ranked(1, 2), {N(5): Tally(0, 3)})
    assert task_rewards(only_answers) == {1: 1000}
    only_judges = TaskOutcome(T, Wei(1000), ranked(1), {N(5): Tally(3, 3)})
    assert task_rewards(only_judges) == {1: 700, 5: 300}
    judges_no_answers = TaskOutcome(T, Wei(1000), (), {N(5): Tally(3, 3)})
    assert task_rewards(judges_no_answers) == {5: 1000}
    assert task_rewards(TaskOutcome(T, Wei(1000), ())) == {}


def test_epoch_sums_to_pool_and_carries_an_empty_epoch():
    got = epoch_rewards(EpochId(3), Wei(1001), [{N(1): Wei(100)}, {N(1): Wei(50), N(2): Wei(150)}])
    assert got.rewards == {1: 501, 2: 500} and got.carried == 0  # 500.5 each: the unit to id 1
    empty = epoch_rewards(EpochId(3), Wei(10), [{N(1): Wei(0)}])
    assert empty.rewards == {1: 0} and empty.carried == 10
    withheld = epoch_rewards(EpochId(3), Wei(10), [{N(1): Wei(5), N(2): Wei(5)}], withheld=[N(2)])
    assert withheld.rewards == {1: 10, 2: 0}


def test_invalid_inputs_are_refused():
    with pytest.raises(Invalid):
        RewardConfig(answerer_share_bp=7000, judge_share_bp=2000)
    with pytest.raises(Invalid):
        RewardConfig(answerer_share_bp=-1, judge_share_bp=10001)
    with pytest.raises(Invalid):
        RewardConfig(position_exponent=Fraction(1, 1000))
    with pytest.raises(Invalid):
        RewardConfig(min_agreement_bp=10_000)
    with pytest.raises(Invalid):
        TaskOutcome(T, Wei(-1), ())
    with pytest.raises(Invalid):
        TaskOutcome(T, Wei(1), ranked(1, 1))
    with pytest.raises(Invalid):
        TaskOutcome(T, Wei(1), ranked(1, ranks=[2]))
    with pytest.raises(Invalid):
        apportion(-1, {N(1): 1})
    with pytest.raises(Invalid):
        apportion(1, {N(1): -1})
    with pytest.raises(Invalid):
        apportion(1, {N(1): 0})
    with pytest.raises(Invalid):
        iroot(-1, 2)
    with pytest.raises(Invalid):
        position_weight(0, 3)
    with pytest.raises(Invalid):
        task_rewards(TaskOutcome(T, Wei(1), ranked(1, 2, 3)), clusters=[{N(1), N(2)}, {N(2), N(3)}])
    with pytest.raises(Invalid):
        epoch_rewards(EpochId(1), Wei(-1), [])
    with pytest.raises(Invalid):
        epoch_rewards(EpochId(1), Wei(1), [{N(1): Wei(-1)}])


# --- properties ---------------------------------------------------------------------------------

ids = st.integers(1, 40).map(N)
tallies = st.integers(0, 30).flatmap(lambda n: st.integers(0, n).map(lambda k: Tally(k, n)))
configs = st.builds(
    lambda a, e: RewardConfig(a, 10_000 - a, e),
    st.integers(0, 10_000),
    st.sampled_from([Fraction(1), Fraction(3, 2), Fraction(2), Fraction(1, 2)]),
)


@st.composite
def tasks(draw):
    nodes = draw(st.lists(ids, unique=True, max_size=12))
    ranks = sorted(
        draw(st.lists(st.integers(1, max(len(nodes), 1)), min_size=len(nodes), max_size=len(nodes)))
    )
    ranks = [1 + sum(1 for r in ranks if r < x) for x in ranks]  # competition ranks
    judges = draw(st.dictionaries(ids, tallies, max_size=12))
    return TaskOutcome(T, Wei(draw(st.integers(0, 10**24))), ranked(*nodes, ranks=ranks), judges)


@given(tasks(), configs)
def test_task_split_is_exact_and_never_negative(task, cfg):
    got = task_rewards(task, cfg)
    assert sum(got.values()) in (task.reward, 0)
    assert all(v >= 0 for v in got.values())
    assert set(got) <= {e.node_id for e in task.ranking} | set(task.agreement)


@given(st.lists(tasks(), max_size=6), st.integers(0, 10**27), st.lists(ids, max_size=3))
def test_epoch_vector_sums_to_pool_and_never_negative(ts, pool, withheld):
    got = epoch_rewards(EpochId(1), Wei(pool), [task_rewards(t) for t in ts], withheld)
    assert sum(got.rewards.values()) + got.carried == pool
    assert all(v >= 0 for v in got.rewards.values())
    assert got.carried in (0, pool)
    assert all(got.rewards[w] == 0 for w in withheld if w in got.rewards)


@st.composite
def judged_task(draw):
    """A task's answers, judgments and one judgment to flip in favour of node ``me``."""
    n = draw(st.integers(2, 6))
    nodes = [N(i) for i in range(1, n + 1)]
    js = []
    for _ in range(draw(st.integers(1, 25))):
        a, b = draw(st.permutations(nodes))[:2]
        judge = draw(st.sampled_from(nodes + [N(99)]))
        js.append(Judgment(T, judge, a, b, draw(st.sampled_from(list(Outcome)))))
    return nodes, js, draw(st.sampled_from(nodes)), draw(st.integers(0, len(js) - 1))


def _win_for(j: Judgment, me: NodeId) -> Judgment:
    if me == j.left_id:
        return Judgment(j.task_id, j.judge_id, j.left_id, j.right_id, Outcome.LEFT)
    if me == j.right_id:
        return Judgment(j.task_id, j.judge_id, j.left_id, j.right_id, Outcome.RIGHT)
    return j


@given(judged_task())
def test_more_wins_never_lower_a_score_or_a_reward(case):
    nodes, js, me, i = case
    better = js[:i] + [_win_for(js[i], me)] + js[i + 1 :]
    before = consensus.fit(nodes, js).scores
    after = consensus.fit(nodes, better).scores
    for other in nodes:  # against every other answer, not just the one it beat
        assert after[me] - after[other] >= before[me] - before[other] - 1e-6
    pay = [
        task_rewards(TaskOutcome(T, Wei(10**18), consensus.ranking(s))).get(me, 0)
        for s in (before, after)
    ]
    assert pay[1] >= pay[0] - 10**9  # allow a fit-tolerance sized wobble on exact ties


@st.composite
def split_worlds(draw):
    """One operator as node 1 with tally H, or as k clones splitting H, among the same others."""
    others = draw(st.lists(st.integers(10, 40).map(N), unique=True, min_size=1, max_size=8))
    k = draw(st.integers(2, 7))
    clones = [N(100 + i) for i in range(k)]
    ranks_all = draw(
        st.lists(st.integers(1, 6), min_size=len(others) + 1, max_size=len(others) + 1)
    )
    me_rank, other_ranks = ranks_all[0], ranks_all[1:]
    hits = draw(st.integers(0, 40))
    total = hits + draw(st.integers(0, 40))
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=k - 1, max_size=k - 1)))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    hit_cuts = []
    left = hits
    for p in parts:  # give each clone up to its part of the hits
        h = min(p, left)
        hit_cuts.append(Tally(h, p))
        left -= h
    judges = draw(st.dictionaries(st.integers(41, 60).map(N), tallies, max_size=6))
    return others, other_ranks, me_rank, Tally(hits, total), clones, hit_cuts, judges


def _ranking(entries: list[tuple[NodeId, int]]) -> tuple[RankEntry, ...]:
    # competition ranks from a raw "lower is better" key
    return tuple(
        RankEntry(node, float(-key), 1 + sum(1 for _, k in entries if k < key))
        for node, key in entries
    )


@given(split_worlds(), st.integers(1, 10**21), st.integers(0, 10**21), configs)
def test_splitting_an_identity_never_pays_more(world, reward, emission, cfg):
    """One operator holding S seats as node 1, or as k clones holding S seats between them that
    give the same answer (one candidate) and split its verdicts, found as a cluster."""
    others, other_ranks, me_rank, tally, clones, clone_tallies, judges = world
    me = N(1)
    seats_me = len(clones) + 2
    seats = {c: 1 for c in clones}
    seats[clones[0]] += seats_me - len(clones)
    ranking = _ranking([(me, me_rank), *zip(others, other_ranks, strict=True)])
    single = TaskOutcome(T, Wei(reward), ranking, {**judges, me: tally}, seats={me: seats_me})
    split = TaskOutcome(
        T,
        Wei(reward),
        ranking,
        {**judges, **dict(zip(clones, clone_tallies, strict=True))},
        supporters={me: tuple(clones)},
        seats=seats,
    )
    one = task_rewards(single, cfg)
    many = task_rewards(split, cfg, clusters=[clones])
    assert sum(many.get(c, 0) for c in clones) <= one.get(me, 0)
    pool = Wei(reward + emission)
    e_one = epoch_rewards(EpochId(1), pool, [one]).rewards
    e_many = epoch_rewards(EpochId(1), pool, [many], clusters=[clones]).rewards
    assert sum(e_many.get(c, 0) for c in clones) <= e_one.get(me, 0)


@given(split_worlds(), st.integers(1, 10**21), configs)
def test_supporters_are_credited_their_candidates_weight_once_per_seat(world, reward, cfg):
    """Unclustered, k supporters holding S seats earn what one supporter holding S seats earns
    as answerers, up to the units rounding leaves (one per identity)."""
    others, other_ranks, me_rank, _, clones, _, _ = world
    me = N(1)
    ranking = _ranking([(me, me_rank), *zip(others, other_ranks, strict=True)])
    one = task_rewards(TaskOutcome(T, Wei(reward), ranking, seats={me: len(clones)}), cfg)
    many = task_rewards(TaskOutcome(T, Wei(reward), ranking, supporters={me: tuple(clones)}), cfg)
    assert abs(sum(many.get(c, 0) for c in clones) - one.get(me, 0)) <= len(clones)


def test_equal_scores_share_a_rank_in_the_consensus():
    from services.core.consensus import ranking
    from services.core.types import NodeId

    ranks = ranking({NodeId(1): 2.0, NodeId(2): 2.0, NodeId(3): 0.5, NodeId(4): -1.0})
    assert [(r.node_id, r.rank) for r in ranks] == [(1, 1), (2, 1), (3, 3), (4, 4)]

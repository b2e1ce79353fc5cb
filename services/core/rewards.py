"""Reward split: per task (answerers by Bradley-Terry position, judges by agreement) and per epoch.

All amounts are integer wei and every split is exact: ``apportion`` is the largest-remainder method
on integer weights, with leftover units going to the largest remainders and, among equal remainders,
to the smallest node id. Nothing here is ever negative.

Per task (after Fortytwo): ``answerer_share_bp`` of the task's reward goes to the answers: each
candidate (a distinct answer) is weighted ``x ** position_exponent`` where
``x = (n - rank) / (n - 1)`` for the task's ``n`` ranked candidates (the best has x = 1, the last
x = 0, a unanimous swarm's one candidate 1, and equal ranks share the positions they hold), and
every supporter of a candidate is credited its weight once per seat it held; ``judge_share_bp``
goes to the judges, each weighted by how far its rate of agreement with the consensus exceeds
``min_agreement_bp`` (at or below it, nothing). Where one
side has nobody to pay, the other side gets the whole reward.

Sybil clusters (see ``sybil``) are paid as one identity. The answers of a cluster take one weight,
the worst-placed member's, and share it equally;
its judges weigh as one judge with their pooled tally and share that weight in proportion to
their agreed verdicts. A cluster's amount is rounded down (the units rounding leaves go to
identities outside clusters). So an operator who splits into k identities that answer and judge
alike earns at most what one identity would.

Per epoch: the task allocations are summed per node and the pool (fees plus emission) is apportioned
in proportion to the sums, so the reward vector sums exactly to the pool.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from services.core.consensus import Tally
from services.core.errors import Invalid
from services.core.types import EpochId, NodeId, RankEntry, TaskId, Wei

BP = 10_000
WEIGHT_SCALE = 10**18  # position weights are 1e18 fixed point
MAX_EXPONENT_DENOMINATOR = 100


@dataclass(frozen=True)
class RewardConfig:
    answerer_share_bp: int = 7000
    judge_share_bp: int = 3000
    position_exponent: Fraction = Fraction(3, 2)  # x ** 1.5; a Fraction keeps the weights exact
    min_agreement_bp: int = 5000  # a judge must agree with consensus more often than this to earn

    def __post_init__(self) -> None:
        if self.answerer_share_bp < 0 or self.judge_share_bp < 0:
            raise Invalid("reward shares must be non-negative")
        if self.answerer_share_bp + self.judge_share_bp != BP:
            raise Invalid("answerer and judge shares must add up to 10000 basis points")
        e = Fraction(self.position_exponent)
        if e <= 0 or e.denominator > MAX_EXPONENT_DENOMINATOR:
            raise Invalid(
                "position_exponent must be a positive fraction with a small denominator",
                hint="use e.g. Fraction(3, 2) for x ** 1.5",
            )
        if not 0 <= self.min_agreement_bp < BP:
            raise Invalid("min_agreement_bp must be in [0, 10000)")


@dataclass(frozen=True)
class TaskOutcome:
    """What one finished task contributes: its reward, its ranking and its judges' agreement.

    ``ranking`` holds only the answers that came (no-shows are not ranked and earn nothing);
    ``agreement`` holds each judge's agreed-of-judged tally (``consensus.agreement``).
    """

    task_id: TaskId
    reward: Wei
    ranking: tuple[RankEntry, ...]
    agreement: Mapping[NodeId, Tally] = field(default_factory=dict)
    # candidate id -> the nodes that gave that answer (None: each ranked node answered alone)
    supporters: Mapping[NodeId, tuple[NodeId, ...]] | None = None
    seats: Mapping[NodeId, int] | None = None  # seats per node (None: one each)

    def __post_init__(self) -> None:
        if self.reward < 0:
            raise Invalid("a task's reward cannot be negative")
        ids = [e.node_id for e in self.ranking]
        if len(set(ids)) != len(ids):
            raise Invalid("a node appears twice in a task's ranking")
        if any(e.rank < 1 or e.rank > len(ids) for e in self.ranking):
            raise Invalid("ranks must lie between 1 and the number of ranked answers")


@dataclass(frozen=True)
class EpochRewards:
    """One epoch's reward vector: ``sum(rewards) + carried == pool``.

    ``carried`` is zero unless nobody contributed, in which case the whole pool is carried over.
    """

    epoch: EpochId
    pool: Wei
    rewards: Mapping[NodeId, Wei]
    carried: Wei


def apportion(
    total: int, weights: Mapping[NodeId, int], round_down: Collection[NodeId] = ()
) -> dict[NodeId, Wei]:
    """Split ``total`` in proportion to ``weights`` by largest remainder, ties to the smaller id.

    Keys in ``round_down`` keep their rounded-down quota where possible: the units left by
    rounding go one each to the keys first in the order (positive weight and not in
    ``round_down`` first, larger remainder first, smaller key first). Fewer units are left than
    there are keys with weight, so no key gets two. This is the rule the zk circuit proves for an
    epoch's split (zk/README.md).
    """
    if total < 0:
        raise Invalid("cannot apportion a negative amount")
    if any(w < 0 for w in weights.values()):
        raise Invalid("weights must be non-negative")
    whole = sum(weights.values())
    if whole == 0:
        raise Invalid("cannot apportion over weights that are all zero")
    quota = {k: total * w // whole for k, w in weights.items()}
    left = total - sum(quota.values())
    eligible = {k for k, w in weights.items() if w > 0 and k not in round_down}
    order = sorted(weights, key=lambda k: (k not in eligible, -(total * weights[k] % whole), k))
    for k in order[:left]:
        quota[k] += 1
    return {k: Wei(v) for k, v in quota.items()}


def iroot(x: int, k: int) -> int:
    """The integer k-th root of x, rounded down."""
    if x < 0 or k < 1:
        raise Invalid("iroot needs x >= 0 and k >= 1")
    if x < 2:
        return x
    r = 1 << -(-x.bit_length() // k)  # 2 ** ceil(bits / k) >= the root
    while True:
        s = ((k - 1) * r + x // r ** (k - 1)) // k
        if s >= r:
            return r
        r = s


def position_weight(rank: int, n: int, exponent: Fraction = Fraction(3, 2)) -> int:
    """``((n - rank) / (n - 1)) ** exponent`` in 1e18 fixed point, rounded down; 1e18 when
    n == 1."""
    if not 1 <= rank <= n:
        raise Invalid("rank must lie between 1 and n")
    if n == 1:
        return WEIGHT_SCALE
    p, q = exponent.numerator, exponent.denominator
    m, d = n - rank, n - 1
    return iroot(m**p * WEIGHT_SCALE**q // d**p, q)


@dataclass(frozen=True)
class _Group:
    """An identity, or a Sybil cluster paid as one: its weight and how its members split it."""

    members: Mapping[NodeId, int]  # member -> weight of its part of the group's amount
    weight: int

    @property
    def key(self) -> NodeId:
        return min(self.members)


def _grouped(nodes: Iterable[NodeId], clusters: Iterable[Collection[NodeId]]) -> list[list[NodeId]]:
    present = set(nodes)
    seen: set[NodeId] = set()
    out = []
    for c in clusters:
        members = sorted(set(c) & present)
        if seen & set(members):
            raise Invalid("a node belongs to two Sybil clusters")
        seen.update(members)
        if members:
            out.append(members)
    return out + [[n] for n in sorted(present - seen)]


def _pay(total: int, groups: Sequence[_Group]) -> dict[NodeId, int]:
    """Apportion over groups (clusters rounded down), then within each group by member weight."""
    paid = [g for g in groups if g.weight > 0]
    if not paid or not total:
        return {}
    by_key = {g.key: g for g in paid}
    clustered = [g.key for g in paid if len(g.members) > 1]
    out: dict[NodeId, int] = {}
    for key, amount in apportion(
        total, {k: g.weight for k, g in by_key.items()}, clustered
    ).items():
        out.update(apportion(amount, by_key[key].members))
    return out


def answerer_groups(
    ranking: Sequence[RankEntry],
    config: RewardConfig = RewardConfig(),
    clusters: Iterable[Collection[NodeId]] = (),
    supporters: Mapping[NodeId, tuple[NodeId, ...]] | None = None,
    seats: Mapping[NodeId, int] | None = None,
) -> list[_Group]:
    """Position weights of a task's candidates, credited to every supporter once per seat.

    A candidate's weight is ``x ** exponent`` for its position among the task's candidates;
    candidates of equal rank share the weights of the positions they occupy equally, so the
    weights of a task always add up to the same total and a better rank never earns less.
    (Weights are scaled by the least common multiple of the tie sizes to stay exact integers.)
    A Sybil cluster is paid as one identity holding its worst-placed member's weight.
    """
    supporters = supporters or {e.node_id: (e.node_id,) for e in ranking}
    rank = {e.node_id: e.rank for e in ranking}
    tied = Counter(rank.values())
    scale = math.lcm(*tied.values()) if tied else 1
    exponent = Fraction(config.position_exponent)
    weight: dict[NodeId, int] = {}
    for c, mine in rank.items():
        first = 1 + sum(1 for other in rank.values() if other < mine)
        block = range(first, first + tied[mine])
        each = sum(position_weight(p, len(rank), exponent) for p in block) * (scale // tied[mine])
        for n in supporters.get(c, (c,)):
            weight[n] = weight.get(n, 0) + each * (1 if seats is None else seats.get(n, 1))
    return [
        _Group(dict.fromkeys(g, 1), min(weight[m] for m in g)) for g in _grouped(weight, clusters)
    ]


def judge_groups(
    agreement: Mapping[NodeId, Tally],
    config: RewardConfig = RewardConfig(),
    clusters: Iterable[Collection[NodeId]] = (),
    seats: Mapping[NodeId, int] | None = None,
) -> list[_Group]:
    """Judges weighted by how far their agreement rate exceeds ``min_agreement_bp`` (1e18 scale),
    once per seat.

    A cluster weighs as one judge with its members' pooled tally and its least-seated member's
    seats; members split by agreed verdicts.
    """
    out = []
    for g in _grouped(agreement, clusters):
        pooled = sum((agreement[m] for m in g), Tally())
        excess = pooled.hits * BP - config.min_agreement_bp * pooled.total
        held = 1 if seats is None else min(seats.get(m, 1) for m in g)
        weight = held * excess * WEIGHT_SCALE // (pooled.total * BP) if excess > 0 else 0
        out.append(_Group({m: agreement[m].hits for m in g}, weight))
    return out


def task_rewards(
    task: TaskOutcome,
    config: RewardConfig = RewardConfig(),
    clusters: Iterable[Collection[NodeId]] = (),
) -> dict[NodeId, Wei]:
    """Split one task's reward; the result sums to the reward, or is empty if nobody earned."""
    clusters = [frozenset(c) for c in clusters]
    answers = answerer_groups(task.ranking, config, clusters, task.supporters, task.seats)
    judges = judge_groups(task.agreement, config, clusters, task.seats)
    has_answers = any(g.weight for g in answers)
    has_judges = any(g.weight for g in judges)
    if not has_answers and not has_judges:
        return {}
    to_answers = task.reward * config.answerer_share_bp // BP if has_judges else task.reward
    if not has_answers:
        to_answers = 0
    out: dict[NodeId, int] = {}
    for part, groups in ((to_answers, answers), (task.reward - to_answers, judges)):
        for node, amount in _pay(part, groups).items():
            out[node] = out.get(node, 0) + amount
    return {k: Wei(v) for k, v in out.items()}


def epoch_rewards(
    epoch: EpochId,
    pool: Wei,
    contributions: Iterable[Mapping[NodeId, Wei]],
    withheld: Collection[NodeId] = (),
    clusters: Iterable[Collection[NodeId]] = (),
) -> EpochRewards:
    """Sum the epoch's task allocations per node and apportion the pool over those sums.

    Nodes in ``withheld`` (flagged judges awaiting a slashing decision) earn nothing this epoch;
    their part goes to the others. Members of a Sybil cluster are rounded down (``apportion``), so
    a cluster earns at most what one identity with the members' summed contributions would.
    """
    if pool < 0:
        raise Invalid("an epoch's pool cannot be negative")
    total: dict[NodeId, int] = {}
    for allocation in contributions:
        for node, amount in allocation.items():
            if amount < 0:
                raise Invalid("a contribution cannot be negative")
            total[node] = total.get(node, 0) + amount
    for node in withheld:
        if node in total:
            total[node] = 0
    if not any(total.values()):
        return EpochRewards(epoch, pool, dict.fromkeys(total, Wei(0)), pool)
    clustered = {m for g in _grouped(total, clusters) if len(g) > 1 for m in g}
    paid = apportion(pool, total, clustered) if pool else dict.fromkeys(total, Wei(0))
    return EpochRewards(epoch, pool, paid, Wei(0))

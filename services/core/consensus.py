"""Reading a round's consensus: positions, judged pairs and agreement, plus a Bradley-Terry fit.

A round's consensus is its stored ranking of candidates (``aggregation``). A judge *agrees* with
it on a pair when it preferred the candidate the consensus ranks higher; a tie verdict on a pair
the consensus orders is a judged pair without agreement, and pairs the consensus ranks equal say
nothing about a judge and are skipped. ``comparisons`` and ``fit`` turn judgments into a weighted
Bradley-Terry fit: the peer-ranked method ``bench/swarm_accuracy.py`` measures beside the product.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.core import bradley_terry
from services.core.errors import Invalid
from services.core.types import Judgment, NodeId, Outcome, RankEntry, TaskId

SCORE = {Outcome.LEFT: 1.0, Outcome.RIGHT: 0.0, Outcome.TIE: 0.5}
EQUAL_SCORE_TOL = 1e-9  # fitted log-strengths closer than this are one rank


@dataclass(frozen=True)
class Tally:
    """``hits`` successes out of ``total`` trials (gold answers, agreed pairs, answers beaten)."""

    hits: int = 0
    total: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.hits <= self.total:
            raise Invalid(f"a tally needs 0 <= hits <= total, got {self.hits} of {self.total}")

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.hits + other.hits, self.total + other.total)

    def rate_bp(self) -> int:
        """Success rate in basis points, rounded down; 0 for an empty tally."""
        return self.hits * 10_000 // self.total if self.total else 0


@dataclass(frozen=True)
class JudgedPair:
    """One pair a judge decided, and whether its verdict agreed with the task's consensus."""

    task_id: TaskId
    left_id: NodeId
    right_id: NodeId
    outcome: Outcome
    agreed: bool


def comparisons(
    judgments: Iterable[Judgment],
    influence: Mapping[NodeId, int] | None = None,
    clusters: Iterable[Collection[NodeId]] = (),
) -> list[bradley_terry.Comparison[NodeId]]:
    """One comparison per judgment, weighted by the judge's influence relative to the largest.

    Without ``influence`` every judgment weighs 1. Judges missing from ``influence`` or with zero
    influence contribute nothing. A judge in a Sybil cluster does not judge its cluster's answers,
    as no node judges its own.
    """
    cluster_of = {m: frozenset(c) for c in clusters for m in c}
    items = [
        j
        for j in judgments
        if not ({j.left_id, j.right_id} & cluster_of.get(j.judge_id, frozenset()))
    ]
    if influence is None:
        return [bradley_terry.Comparison(j.left_id, j.right_id, SCORE[j.outcome]) for j in items]
    if any(v < 0 for v in influence.values()):
        raise Invalid("influence must be non-negative")
    top = max(influence.values(), default=0)
    out = []
    for j in items:
        w = influence.get(j.judge_id, 0)
        if w > 0:
            out.append(bradley_terry.Comparison(j.left_id, j.right_id, SCORE[j.outcome], w / top))
    return out


def fit(
    answerers: Sequence[NodeId],
    judgments: Iterable[Judgment],
    influence: Mapping[NodeId, int] | None = None,
    clusters: Iterable[Collection[NodeId]] = (),
) -> bradley_terry.Fit[NodeId]:
    """The task's consensus: Bradley-Terry over its judgments, weighted by judge influence."""
    return bradley_terry.fit(list(answerers), comparisons(judgments, influence, clusters))


def ranking(scores: Mapping[NodeId, float], tol: float = EQUAL_SCORE_TOL) -> tuple[RankEntry, ...]:
    """Best first with competition ranks (1, 1, 3, ...); equal scores order by node id."""
    order = sorted(scores, key=lambda n: (-scores[n], n))
    out: list[RankEntry] = []
    for i, node in enumerate(order):
        tied = bool(out) and abs(out[-1].score - scores[node]) <= tol
        out.append(
            RankEntry(node_id=node, score=scores[node], rank=out[-1].rank if tied else i + 1)
        )
    return tuple(out)


def positions(entries: Sequence[RankEntry]) -> dict[NodeId, Tally]:
    """Judged answer quality: how many of the task's other answers each answer ranked above."""
    n = len(entries)
    return {e.node_id: Tally(sum(1 for o in entries if o.rank > e.rank), n - 1) for e in entries}


def judged_pairs(
    judgments: Iterable[Judgment], scores: Mapping[NodeId, float], tol: float = EQUAL_SCORE_TOL
) -> dict[NodeId, list[JudgedPair]]:
    """Per judge, the pairs it decided that the consensus orders, each marked agreed or not."""
    out: dict[NodeId, list[JudgedPair]] = {}
    for j in judgments:
        if j.left_id not in scores or j.right_id not in scores:
            raise Invalid("a judgment names an answer that is not in the consensus")
        gap = scores[j.left_id] - scores[j.right_id]
        if abs(gap) <= tol:
            continue
        better = Outcome.LEFT if gap > 0 else Outcome.RIGHT
        pair = JudgedPair(j.task_id, j.left_id, j.right_id, j.outcome, j.outcome is better)
        out.setdefault(j.judge_id, []).append(pair)
    return out


def agreement(pairs: Mapping[NodeId, Sequence[JudgedPair]]) -> dict[NodeId, Tally]:
    """Each judge's agreement with consensus: agreed pairs out of judged (ordered) pairs."""
    return {judge: Tally(sum(p.agreed for p in ps), len(ps)) for judge, ps in pairs.items()}

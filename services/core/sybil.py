"""SybilWall: identities that answer and judge alike are one identity.

Agreeing with each other is what honest, accurate nodes do, so similarity is measured on how
identities *deviate* from consensus, over a whole epoch:

- answers: the set of (task, answer) pairs where a node's answer was not the consensus answer;
  two nodes are near-duplicates when the Jaccard similarity of these sets is at least
  ``answer_threshold_bp`` and they share at least ``min_shared_deviations`` of them;
- judgments: colluders vote each other up. Each verdict's residual toward an answerer is its score
  for that answerer minus the consensus probability that the answerer wins the pair; a judge's mean
  residual toward an answerer, less the median judge's, in standard errors, is its *favour* z-score.
  Two identities are linked when each favours the other with ``z >= reciprocal_z``. Honest judges
  favour no one in particular, and asking for favour both ways makes a chance link very unlikely.

Linked identities form clusters (connected components). A cluster stands as one identity when
seats are drawn (``seats.draw``), and rewards pay it as one (``rewards.task_rewards(...,
clusters=...)``).

Known limit: a lazy copier of an honest node's answers lands in that node's cluster, so the two
share one position's reward; which of them copied is not visible in answers alone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

from services.core.consensus import SCORE
from services.core.errors import Invalid
from services.core.types import Judgment, NodeId, TaskId

BP = 10_000


@dataclass(frozen=True)
class SybilConfig:
    answer_threshold_bp: int = 8000
    min_shared_deviations: int = 5
    reciprocal_z: float = 4.0

    def __post_init__(self) -> None:
        if not 0 < self.answer_threshold_bp <= BP:
            raise Invalid("the answer similarity threshold lies in (0, 10000] basis points")
        if self.min_shared_deviations < 1 or self.reciprocal_z <= 0:
            raise Invalid("min_shared_deviations and reciprocal_z must be positive")


@dataclass(frozen=True)
class Link:
    """Two identities found to be near-duplicates, with the similarities that linked them."""

    a: NodeId
    b: NodeId
    answer_similarity_bp: int
    shared_deviations: int
    reciprocal_z: float  # the smaller of the two favour z-scores toward each other


@dataclass(frozen=True)
class SybilReport:
    clusters: tuple[frozenset[NodeId], ...]  # clusters of two or more, ordered by smallest member
    links: tuple[Link, ...]

    def cluster_of(self, node: NodeId) -> frozenset[NodeId]:
        return next((c for c in self.clusters if node in c), frozenset({node}))


def deviations(
    answers: Mapping[NodeId, Mapping[TaskId, str]], consensus: Mapping[TaskId, str]
) -> dict[NodeId, frozenset[tuple[TaskId, str]]]:
    """Per node, its answers that were not the task's consensus answer."""
    return {
        node: frozenset((t, a) for t, a in given.items() if t in consensus and a != consensus[t])
        for node, given in answers.items()
    }


def favour(
    judgments: Iterable[Judgment], scores: Mapping[TaskId, Mapping[NodeId, float]]
) -> dict[NodeId, dict[NodeId, float]]:
    """Per judge, per answerer: the z-score of its favour toward that answerer."""
    sums: dict[NodeId, dict[NodeId, list[float]]] = {}
    for j in judgments:
        s = scores[j.task_id]
        r = SCORE[j.outcome] - 1.0 / (1.0 + math.exp(s[j.right_id] - s[j.left_id]))
        row = sums.setdefault(j.judge_id, {})
        for node, value in ((j.left_id, r), (j.right_id, -r)):
            acc = row.setdefault(node, [0.0, 0.0, 0.0])
            acc[0] += value
            acc[1] += value * value
            acc[2] += 1.0
    means: dict[NodeId, list[float]] = {}
    pooled: dict[NodeId, list[float]] = {}
    for row in sums.values():
        for node, (total, squares, count) in row.items():
            means.setdefault(node, []).append(total / count)
            acc = pooled.setdefault(node, [0.0, 0.0, 0.0])
            acc[0] += total
            acc[1] += squares
            acc[2] += count
    median = {node: statistics.median(v) for node, v in means.items()}
    sd = {n: math.sqrt(max(q / c - (t / c) ** 2, 1e-12)) for n, (t, q, c) in pooled.items()}
    return {
        judge: {n: (t / c - median[n]) * math.sqrt(c) / sd[n] for n, (t, _, c) in row.items()}
        for judge, row in sums.items()
    }


def detect(
    answers: Mapping[NodeId, Mapping[TaskId, str]],
    consensus: Mapping[TaskId, str],
    judgments: Iterable[Judgment] = (),
    scores: Mapping[TaskId, Mapping[NodeId, float]] | None = None,
    config: SybilConfig = SybilConfig(),
) -> SybilReport:
    """Cluster the epoch's identities whose answers or judgments are near-duplicates.

    ``answers`` maps node -> task -> answer (content or digest), ``consensus`` task -> the answer
    the swarm chose; ``judgments`` with the tasks' fitted ``scores`` add the judging comparison.
    """
    dev = deviations(answers, consensus)
    z = favour(judgments, scores or {})
    nodes = sorted(set(dev) | set(z))
    parent = {n: n for n in nodes}

    def root(n: NodeId) -> NodeId:
        while parent[n] != n:
            n = parent[n]
        return n

    links = []
    for a, b in combinations(nodes, 2):
        da, db = dev.get(a, frozenset()), dev.get(b, frozenset())
        shared = len(da & db)
        jaccard = shared / len(da | db) if shared else 0.0
        mutual = min(z.get(a, {}).get(b, 0.0), z.get(b, {}).get(a, 0.0))
        answer_bp = math.floor(jaccard * BP)
        by_answers = (
            shared >= config.min_shared_deviations and answer_bp >= config.answer_threshold_bp
        )
        if by_answers or mutual >= config.reciprocal_z:
            links.append(Link(a, b, answer_bp, shared, round(mutual, 3)))
            ra, rb = root(a), root(b)
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[NodeId, set[NodeId]] = {}
    for n in nodes:
        groups.setdefault(root(n), set()).add(n)
    clusters = tuple(frozenset(g) for _, g in sorted(groups.items()) if len(g) > 1)
    return SybilReport(clusters, tuple(links))

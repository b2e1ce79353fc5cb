"""Closing an epoch: from its finished tasks to one integer reward vector and new reputations.

Pure: the caller gathers the epoch's tasks (rankings, answers, judgments) and the nodes'
reputations, and stores what this returns. The steps, in order:
1. per task, the consensus is its stored ranking of candidates (distinct answers); each judge's
   verdicts are marked agreed or not, and every supporter of a candidate shares its position;
2. Sybil clusters from near-duplicate wrong answers and reciprocal favour (``sybil.detect``);
3. judges who agree with consensus significantly less often than a coin are flagged with evidence
   and their reward is withheld (``reputation.flag_outliers``);
4. each task's fee is split 70/30 between answerers by position and agreeing judges
   (``rewards.task_rewards``), and the pool (fees + emission) is apportioned over the sums
   (``rewards.epoch_rewards``): integers that add up to the pool exactly;
5. reputations move by gold accuracy (the hidden gold questions mixed into rounds: a node's
   answer is right when it names the correct letter), judged answer quality and judging
   agreement, and decay when idle (a node asked a gold question that did not answer missed it,
   so skipping suspected gold questions does not pay);
6. each node's reliability as answerer and as judge is re-estimated by EM over the epoch's rounds,
   anchored in its gold tasks (``reliability.estimate``): the weights of the next epoch's rounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.core import (
    aggregation,
    candidates,
    consensus,
    letters,
    reliability,
    reputation,
    rewards,
    sybil,
)
from services.core.consensus import JudgedPair, Tally
from services.core.types import (
    Candidate,
    EpochId,
    Judgment,
    NodeId,
    RankEntry,
    Reliability,
    TaskId,
    Wei,
)

LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class FinishedTask:
    task_id: TaskId
    fee: Wei
    ranking: tuple[RankEntry, ...]  # the candidates, best first (score: P(right))
    answers: Mapping[NodeId, str]  # node -> its answer
    judgments: tuple[Judgment, ...]
    gold: str | None = None  # a hidden gold question's correct letter (None: a requester's task)
    swarm: tuple[NodeId, ...] = ()  # the nodes asked; on a gold task one that did not answer missed
    candidates: tuple[Candidate, ...] = ()  # () : each ranked node is its own candidate
    seats: Mapping[NodeId, int] = field(default_factory=dict)  # {} : one seat each
    options: tuple[str, ...] | None = None  # a multiple-choice task's options

    def groups(self) -> tuple[Candidate, ...]:
        return self.candidates or tuple(Candidate(e.node_id, (e.node_id,)) for e in self.ranking)

    def observed(self) -> reliability.Observed:
        """The round as the reliability estimate reads it (the rates are the estimate's own)."""
        groups = self.groups()
        members = {n for c in groups for n in c.supporters} | {j.judge_id for j in self.judgments}
        rnd = aggregation.round_of(
            groups,
            self.judgments,
            dict.fromkeys(sorted(members), aggregation.rates(Reliability())),
            {n: self.seats.get(n, 1) for n in members},
            self.options,
        )
        if self.gold is None:
            return reliability.Observed(rnd)
        right = next(
            (
                c.id
                for c in groups
                if candidates.key(self.answers.get(c.id, ""), self.options or LETTERS) == self.gold
            ),
            None,
        )
        absent = tuple(sorted(set(self.swarm) - set(self.answers)))
        return reliability.Observed(rnd, gold=True, truth=right, absent=absent)


@dataclass(frozen=True)
class NodeResult:
    node_id: NodeId
    reward: Wei
    before: reputation.Reputation
    after: reputation.Reputation
    evidence: reputation.Evidence
    withheld: bool
    reliability_before: Reliability = Reliability()
    reliability_after: Reliability = Reliability()


@dataclass(frozen=True)
class EpochResult:
    epoch: EpochId
    pool: Wei
    carried: Wei
    nodes: tuple[NodeResult, ...]
    clusters: tuple[frozenset[NodeId], ...]
    outliers: tuple[reputation.OutlierEvidence, ...]
    task_rewards: Mapping[TaskId, Mapping[NodeId, Wei]] = field(default_factory=dict)

    @property
    def rewards(self) -> dict[NodeId, Wei]:
        return {n.node_id: n.reward for n in self.nodes}


def close(
    epoch: EpochId,
    tasks: Sequence[FinishedTask],
    reputations: Mapping[NodeId, reputation.Reputation],
    emission: Wei = Wei(0),
    reward_config: rewards.RewardConfig = rewards.RewardConfig(),
    reputation_config: reputation.ReputationConfig = reputation.ReputationConfig(),
    reliabilities: Mapping[NodeId, Reliability] | None = None,
) -> EpochResult:
    pairs_by_judge: dict[NodeId, list[JudgedPair]] = {}
    quality: dict[NodeId, Tally] = {}
    gold: dict[NodeId, Tally] = {}
    for t in tasks:
        if t.gold is not None:
            for node in sorted(set(t.answers) | set(t.swarm)):
                hit = letters.answer_letter(t.answers.get(node, "")) == t.gold
                gold[node] = gold.get(node, Tally()) + Tally(int(hit), 1)
    agreement_by_task: dict[TaskId, dict[NodeId, Tally]] = {}
    for t in tasks:
        scores = {e.node_id: e.score for e in t.ranking}
        pairs = consensus.judged_pairs(t.judgments, scores)
        for judge, ps in pairs.items():
            pairs_by_judge.setdefault(judge, []).extend(ps)
        agreement_by_task[t.task_id] = consensus.agreement(pairs)
        backers = {c.id: c.supporters for c in t.groups()}
        for cand, tally in consensus.positions(t.ranking).items():
            for node in backers.get(cand, (cand,)):
                quality[node] = quality.get(node, Tally()) + tally

    winners = {t.task_id: t.answers[t.ranking[0].node_id] for t in tasks if t.ranking}
    by_node: dict[NodeId, dict[TaskId, str]] = {}
    for t in tasks:
        for node, text in t.answers.items():
            by_node.setdefault(node, {})[t.task_id] = text
    report = sybil.detect(
        by_node,
        winners,
        [j for t in tasks for j in t.judgments],
        {t.task_id: {e.node_id: e.score for e in t.ranking} for t in tasks},
    )
    clusters = tuple(frozenset(c) for c in report.clusters)
    outliers = tuple(reputation.flag_outliers(pairs_by_judge))
    withheld = {o.judge_id for o in outliers}

    per_task = {
        t.task_id: rewards.task_rewards(
            rewards.TaskOutcome(
                t.task_id,
                t.fee,
                t.ranking,
                agreement_by_task[t.task_id],
                {c.id: c.supporters for c in t.groups()},
                t.seats or None,
            ),
            reward_config,
            clusters,
        )
        for t in tasks
    }
    pool = Wei(sum(t.fee for t in tasks) + emission)
    split = rewards.epoch_rewards(epoch, pool, per_task.values(), withheld, clusters)

    before_rel = dict(reliabilities or {})
    after_rel = reliability.estimate([t.observed() for t in tasks], before_rel)
    agreement: dict[NodeId, Tally] = {}
    for tallies in agreement_by_task.values():
        for judge, tally in tallies.items():
            agreement[judge] = agreement.get(judge, Tally()) + tally
    results = []
    for node in sorted(
        set(reputations)
        | set(split.rewards)
        | set(quality)
        | set(agreement)
        | set(gold)
        | set(after_rel)
    ):
        before = reputations.get(node, reputation.register(Tally(), reputation_config))
        evidence = reputation.Evidence(
            gold=gold.get(node, Tally()),
            quality=quality.get(node, Tally()),
            agreement=agreement.get(node, Tally()),
        )
        after = reputation.update(before, evidence, reputation_config)
        results.append(
            NodeResult(
                node,
                split.rewards.get(node, Wei(0)),
                before,
                after,
                evidence,
                node in withheld,
                before_rel.get(node, Reliability()),
                after_rel.get(node, before_rel.get(node, Reliability())),
            )
        )
    return EpochResult(epoch, pool, split.carried, tuple(results), clusters, outliers, per_task)

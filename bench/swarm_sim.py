"""Simulated swarms: is the answer right, and what does a Sybil operator earn?

Each task is a four-option question (option "A" is right). Honest node i answers right with
probability p_i and judges a right-vs-wrong pair right with probability q_j. Every ordered pair of
answers is judged by one random node that wrote neither. Scenarios add correlated wrong answers (a
shared distractor per question), lazy copiers (copy one honest node's answer, judge at random) and
k colluding Sybils (one model behind k identities: they give the same answer, push the same wrong
answer on half the tasks, and always judge a ring member above anyone else).

Reputation starts from a calibration of 30 gold questions and is updated each epoch from hidden
gold questions (10% of tasks), judged quality and judging agreement; influence is stake times the
reputation factor, shared within SybilWall clusters found in the previous epoch.

Columns: accuracy (share of non-gold tasks whose chosen answer is right) of the best single honest
node (chosen in hindsight), majority vote, unweighted Bradley-Terry and this project's
reputation-weighted Bradley-Terry; then the attackers' share of the epoch rewards with k
identities (with SybilWall, and with clusters ignored) and with 1 identity holding the same total
stake. Seeded; ``--quick`` runs fewer tasks.

    python bench/swarm_sim.py [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.core import consensus, reputation, rewards, sybil
from services.core.consensus import Tally
from services.core.types import EpochId, Judgment, NodeId, Outcome, TaskId, Wei

ETH = 10**18
RIGHT = "A"
WRONG = "BCD"
N_HONEST = 10
SYBIL_ATTACK_RATE = 0.5
SYBIL_ACCURACY = 0.8
GOLD_SHARE = 0.1
CALIBRATION_QUESTIONS = 30


@dataclass(frozen=True)
class Scenario:
    name: str
    correlated: float = 0.0  # chance that an honest wrong answer is the question's distractor
    copiers: int = 0
    sybils: int = 0


@dataclass
class Node:
    id: NodeId
    kind: str  # honest | copier | sybil
    p: float
    q: float
    stake: int


def make_nodes(sc: Scenario, rng: random.Random, single_attacker: bool) -> list[Node]:
    nodes = [
        Node(NodeId(i), "honest", 0.45 + 0.3 * i / (N_HONEST - 1), rng.uniform(0.65, 0.85), ETH)
        for i in range(N_HONEST)
    ]
    nodes += [Node(NodeId(20 + i), "copier", 0.0, 0.5, ETH) for i in range(sc.copiers)]
    if sc.sybils and single_attacker:
        nodes.append(Node(NodeId(40), "sybil", SYBIL_ACCURACY, 0.8, sc.sybils * ETH))
    else:
        nodes += [Node(NodeId(40 + i), "sybil", SYBIL_ACCURACY, 0.8, ETH) for i in range(sc.sybils)]
    return nodes


def answer_all(sc: Scenario, nodes: list[Node], rng: random.Random) -> dict[NodeId, str]:
    distractor = rng.choice(WRONG)
    ring = rng.choice(WRONG) if rng.random() < SYBIL_ATTACK_RATE else None
    if ring is None:
        ring = RIGHT if rng.random() < SYBIL_ACCURACY else rng.choice(WRONG)
    out: dict[NodeId, str] = {}
    for n in nodes:
        if n.kind == "honest":
            if rng.random() < n.p:
                out[n.id] = RIGHT
            else:
                out[n.id] = distractor if rng.random() < sc.correlated else rng.choice(WRONG)
        elif n.kind == "sybil":
            out[n.id] = ring
    for n in nodes:
        if n.kind == "copier":
            out[n.id] = out[NodeId(0)]
    return out


def judge_all(
    task: TaskId, nodes: list[Node], answers: dict[NodeId, str], rng: random.Random
) -> list[Judgment]:
    ring = {n.id for n in nodes if n.kind == "sybil"}
    out = []
    for a in nodes:
        for b in nodes:
            if a.id == b.id:
                continue
            judge = rng.choice([n for n in nodes if n.id not in (a.id, b.id)])
            ra, rb = answers[a.id], answers[b.id]
            if judge.kind == "copier":
                verdict = rng.choice(list(Outcome))
            elif judge.kind == "sybil" and (a.id in ring) != (b.id in ring):
                verdict = Outcome.LEFT if a.id in ring else Outcome.RIGHT
            elif ra == rb:
                verdict = Outcome.TIE
            elif RIGHT not in (ra, rb):
                verdict = rng.choice([Outcome.LEFT, Outcome.RIGHT])
            else:
                good = Outcome.LEFT if ra == RIGHT else Outcome.RIGHT
                bad = Outcome.RIGHT if ra == RIGHT else Outcome.LEFT
                verdict = good if rng.random() < judge.q else bad
            out.append(Judgment(task, judge.id, a.id, b.id, verdict))
    return out


def gold_tallies(answers: dict[NodeId, str], judgments: list[Judgment]) -> dict[NodeId, Tally]:
    """Right answers, and right verdicts on pairs where exactly one answer is right."""
    out = {n: Tally(int(a == RIGHT), 1) for n, a in answers.items()}
    for j in judgments:
        ra, rb = answers[j.left_id] == RIGHT, answers[j.right_id] == RIGHT
        if ra != rb:
            good = Outcome.LEFT if ra else Outcome.RIGHT
            out[j.judge_id] += Tally(int(j.outcome is good), 1)
    return out


def winner_answer(fit_scores: dict[NodeId, float], answers: dict[NodeId, str]) -> str:
    return answers[consensus.ranking(fit_scores)[0].node_id]


def run(
    sc: Scenario, seed: int, epochs: int, per_epoch: int, single_attacker: bool
) -> dict[str, float]:
    rng = random.Random(seed)
    nodes = make_nodes(sc, rng, single_attacker)
    ids = [n.id for n in nodes]
    stake = {n.id: n.stake for n in nodes}
    attackers = {n.id for n in nodes if n.kind == "sybil"}

    calib: dict[NodeId, Tally] = {i: Tally() for i in ids}
    for q in range(CALIBRATION_QUESTIONS):
        ans = answer_all(sc, nodes, rng)
        for n, t in gold_tallies(ans, judge_all(TaskId(f"cal{q}"), nodes, ans, rng)).items():
            calib[n] += t
    rep = {i: reputation.register(calib[i]) for i in ids}
    clusters: tuple[frozenset[NodeId], ...] = ()

    right = Counter[str]()
    per_node_right = Counter[NodeId]()
    scored = 0
    share_sw = share_raw = 0.0
    for e in range(epochs):
        weights = sybil.shared_influence(
            {i: reputation.influence(Wei(stake[i]), rep[i]) for i in ids}, clusters
        )
        if not any(weights.values()):
            weights = dict.fromkeys(ids, 1)
        evidence = {i: [Tally(), Tally(), Tally()] for i in ids}
        epoch_answers: dict[NodeId, dict[TaskId, str]] = {i: {} for i in ids}
        winners: dict[TaskId, str] = {}
        all_judgments: list[Judgment] = []
        scores: dict[TaskId, dict[NodeId, float]] = {}
        outcomes = []
        epoch_judgments = []
        for t in range(per_epoch):
            task = TaskId(f"e{e}t{t}")
            ans = answer_all(sc, nodes, rng)
            js = judge_all(task, nodes, ans, rng)
            if rng.random() < GOLD_SHARE:
                for n, g in gold_tallies(ans, js).items():
                    evidence[n][0] += g
                continue
            plain = consensus.fit(ids, js).scores
            weighted = consensus.fit(ids, js, weights).scores
            votes = Counter(ans.values()).most_common()
            top = [a for a, c in votes if c == votes[0][1]]
            picks = {
                "majority": rng.choice(top),
                "bt": winner_answer(plain, ans),
                "weighted": winner_answer(weighted, ans),
            }
            for method, pick in picks.items():
                right[method] += pick == RIGHT
            for n, a in ans.items():
                per_node_right[n] += a == RIGHT
            scored += 1
            entries = consensus.ranking(weighted)
            agree = consensus.agreement(consensus.judged_pairs(js, weighted))
            for n, pos in consensus.positions(entries).items():
                evidence[n][1] += pos
            for n, a in agree.items():
                evidence[n][2] += a
            for n, a in ans.items():
                epoch_answers[n][task] = a
            winners[task] = winner_answer(weighted, ans)
            all_judgments += js
            scores[task] = weighted
            outcomes.append(rewards.TaskOutcome(task, Wei(ETH), entries, agree))
            epoch_judgments.append(js)
        report = sybil.detect(epoch_answers, winners, all_judgments, scores)
        pool = Wei(ETH * len(outcomes))
        # at the close, with this epoch's clusters known: one influence per cluster, and no
        # judging of one's own cluster (as no node judges its own answer)
        closing = sybil.shared_influence(
            {i: reputation.influence(Wei(stake[i]), rep[i]) for i in ids}, report.clusters
        )
        settled = []
        for o, js in zip(outcomes, epoch_judgments, strict=True):
            s = consensus.fit(ids, js, closing if any(closing.values()) else None, report.clusters)
            agree = consensus.agreement(consensus.judged_pairs(js, s.scores))
            settled.append(
                rewards.TaskOutcome(o.task_id, o.reward, consensus.ranking(s.scores), agree)
            )
        for clustered in (True, False):
            cs = report.clusters if clustered else ()
            paid = rewards.epoch_rewards(
                EpochId(e),
                pool,
                [
                    rewards.task_rewards(o, clusters=cs)
                    for o in (settled if clustered else outcomes)
                ],
                clusters=cs,
            ).rewards
            share = sum(paid.get(a, 0) for a in attackers) / max(pool, 1)
            if clustered:
                share_sw += share / epochs
            else:
                share_raw += share / epochs
        rep = {i: reputation.update(rep[i], reputation.Evidence(*evidence[i])) for i in ids}
        clusters = report.clusters
    honest = [n.id for n in nodes if n.kind == "honest"]
    best = max(per_node_right[n] for n in honest)
    return {
        "best": best / scored,
        "majority": right["majority"] / scored,
        "bt": right["bt"] / scored,
        "weighted": right["weighted"] / scored,
        "share_sw": share_sw,
        "share_raw": share_raw,
    }


SCENARIOS = [
    Scenario("honest only"),
    Scenario("correlated wrong answers", correlated=0.8),
    Scenario("3 lazy copiers", copiers=3),
    *(Scenario(f"{k} colluding Sybil{'s' if k > 1 else ''}", sybils=k) for k in range(1, 8)),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 epochs of 25 tasks instead of 4 of 60")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    epochs, per_epoch = (2, 25) if args.quick else (4, 60)
    started = time.perf_counter()
    head = (
        f"{'scenario':<26} {'best node':>9} {'majority':>9} {'BT':>6} {'rep-BT':>7}"
        f" | {'k ids':>6} {'k, no SW':>8} {'1 id':>6}"
    )
    print(
        f"swarm_sim: {N_HONEST} honest nodes, {epochs} epochs x {per_epoch} tasks, seed {args.seed}"
    )
    print(f"{'':<62}| attackers' reward share")
    print(head)
    print("-" * len(head))
    for sc in SCENARIOS:
        r = run(sc, args.seed, epochs, per_epoch, single_attacker=False)
        shares = "-".rjust(6) + " " + "-".rjust(8) + " " + "-".rjust(6)
        if sc.sybils:
            one = run(sc, args.seed, epochs, per_epoch, single_attacker=True)
            shares = f"{r['share_sw']:>6.3f} {r['share_raw']:>8.3f} {one['share_sw']:>6.3f}"
        print(
            f"{sc.name:<26} {r['best']:>9.3f} {r['majority']:>9.3f} {r['bt']:>6.3f}"
            f" {r['weighted']:>7.3f} | {shares}"
        )
    print(
        f"({time.perf_counter() - started:.0f} s; best node chosen in hindsight; rep-BT = this project)"
    )


if __name__ == "__main__":
    main()

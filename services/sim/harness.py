"""The consensus harness: simulated swarms through the product's own use cases.

Nothing of the mechanism is re-implemented here. A run registers nodes in an in-memory store,
calibrates them with ``calibrate_node``, submits tasks with ``submit_task`` (which mixes in hidden
gold tasks) and pays each fee into an in-memory escrow (``check_fee`` then queues the round),
plays each round with ``rounds.run_round`` (the steps the Celery chain runs: seats by stake,
answers, candidates, the pair schedule, verdicts, the posterior and its recruits), and closes each
epoch with ``close_epoch`` (rewards, reputations, reliability estimates, Sybil clusters for the
next epoch's seats). Only the nodes are simulated (``services.sim.world``), and the measurements
read back what the store recorded. Simulated nodes sign every answer and verdict with their keys
and the use cases recover every signature, as in production (``services.app.signatures``): with
libsecp256k1 (coincurve) that is about 0.1 ms per signature and per recovery, and a run takes about
2.2x as long as it did unsigned (2 epochs x 40 tasks: 0.41 s before, 0.88 s after, on 2 shared
cores).

Measured on the requester tasks (gold tasks are the marketplace's own): the share the product
answered right; a plain majority vote over the same answers (one node one vote, ties broken at
random); the best single honest node in hindsight; the attackers' share of the rewards; the share
of honest nodes withheld per epoch; how often the 95% credible set holds the right answer; the mean
posterior of the winner (calibration: it should match the accuracy).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from services.app import rounds
from services.app.calibration import calibrate_node
from services.app.epochs import close_epoch
from services.app.escrow import FeeTerms, check_fee
from services.app.gold import mix_in_gold
from services.app.ports import QuestionBank, Store
from services.app.tasks import submit_task
from services.core import aggregation, candidates
from services.core.types import AnswerStatus, NewNode, NodeKind, Task, TaskId, Wei
from services.core.work import address_of, name_key
from services.inmemory import MemoryContent, MemoryStore
from services.inmemory.escrow import MemoryEscrow
from services.sim.world import Behaviour, Plan, SimBank, SimNodes, World

MRT = 10**18
FEE = MRT  # each requester task pays 1 MRT
STAKE = 100 * MRT  # each honest identity stakes this
CALIBRATION_QUESTIONS = 40
CALIBRATION_ATTEMPTS = 3
MIN_ANSWERS = 3
GOLD_EVERY = 10
ATTACKER_ANSWER = 0.8  # how well attackers answer when they do not attack
ATTACKER_JUDGE = 0.8
SPLIT_QUALITY = (0.6, 0.75)  # a split stake's identities: honest, of this answer/judge skill


@dataclass(frozen=True)
class Scenario:
    name: str
    swarm: int = 4
    honest: int = 10
    judge_range: tuple[float, float] = (0.65, 0.85)  # honest judges' accuracy
    answer_range: tuple[float, float] = (0.45, 0.75)  # honest answerers' accuracy
    attackers: int = 0  # identities
    plan: str = ""  # "ring", "ring-gold" or "split"
    single: bool = False  # the same attacker as ONE identity holding the attackers' total stake


@dataclass
class Outcome:
    tasks: int = 0
    product: int = 0
    majority: float = 0.0
    best_single: float = 0.0
    attacker_share: float = 0.0
    withheld_honest: float = 0.0  # share of honest nodes withheld (flagged judges), per epoch
    distrusted_honest: float = 0.0  # share of honest nodes found two-faced, per epoch
    covered: int = 0
    confidence: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.product / self.tasks if self.tasks else 0.0

    @property
    def coverage(self) -> float:
        return self.covered / self.tasks if self.tasks else 0.0


class ListQueue:
    """The ``RoundQueue`` port as lists: the harness plays the rounds itself, in order, and makes
    each gold task when asked (time does not pass in the simulation)."""

    def __init__(self) -> None:
        self.queued: list[TaskId] = []
        self.gold: list[TaskId] = []  # requester tasks whose gold task is due
        self.fee_checks: list[TaskId] = []  # tasks whose fee is to be looked at
        self.resumed: list[TaskId] = []  # stalled rounds the reconciler drove on

    def enqueue_fee_check(self, task_id: TaskId, delay_s: float) -> None:
        self.fee_checks.append(task_id)

    def enqueue_round(self, task_id: TaskId) -> None:
        self.queued.append(task_id)

    def enqueue_gold(self, beside: TaskId, delay_s: float) -> None:
        self.gold.append(beside)

    def enqueue_resume(self, task_id: TaskId) -> None:
        self.resumed.append(task_id)

    def backlog(self) -> int:
        return len(self.queued) + len(self.resumed)

    def make_gold(self, store: Store, bank: QuestionBank) -> None:
        """Make the gold tasks asked for so far (what the worker does after the delay)."""
        for beside in self.gold:
            mix_in_gold(store, self, store.tasks.get(beside), bank)
        self.gold.clear()

    def ping(self) -> None:
        return None


PAYER = "0x" + "5e" * 20  # the simulated requester's account


def sim_node(name: str, stake: int) -> NewNode:
    """A simulated node, its signer the address of the key ``SimNodes`` signs its work with."""
    return NewNode(
        name, f"sim://{name}", "simulated", NodeKind.TEST, stake_wei=Wei(stake),
        signer=address_of(name_key(name)),
    )  # fmt: skip


class PayingRequester:
    """A requester who pays each task's fee into the escrow as soon as the task is accepted; the
    fee check (what the worker runs) then queues the round. Tasks go through ``submit_task`` and
    ``check_fee`` like any requester's, so only escrowed fees reach a pool."""

    def __init__(self, store: Store, queue: ListQueue, escrow: MemoryEscrow | None = None) -> None:
        self.store, self.queue = store, queue
        self.escrow = escrow or MemoryEscrow()

    def submit(self, **kwargs: Any) -> Task:
        fees = FeeTerms(self.escrow.fee_range())
        task = submit_task(self.store, self.queue, payer=PAYER, fees=fees, **kwargs)
        if task.payer is not None:
            self.escrow.fund(PAYER, task.id, task.fee_wei)
            self.queue.fee_checks.remove(task.id)
            check_fee(self.store, self.queue, self.escrow, task.id, wait_s=fees.wait_s)
        return self.store.tasks.get(task.id)


def behaviours(sc: Scenario, seed: int) -> dict[str, tuple[Behaviour, int]]:
    """Node name -> (behaviour, stake) for a scenario."""
    rng = random.Random(seed)
    out: dict[str, tuple[Behaviour, int]] = {}
    lo, hi = sc.answer_range
    for i in range(sc.honest):
        p = lo + (hi - lo) * i / max(sc.honest - 1, 1)
        out[f"honest-{i}"] = (Behaviour(p, rng.uniform(*sc.judge_range)), STAKE)
    if sc.attackers:
        plan = {"ring": Plan.RING, "ring-gold": Plan.RING_GOLD, "split": Plan.HONEST}[sc.plan]
        skill = SPLIT_QUALITY if sc.plan == "split" else (ATTACKER_ANSWER, ATTACKER_JUDGE)
        total = sc.attackers * STAKE
        if sc.single:
            out["attacker-0"] = (Behaviour(skill[0], skill[1], plan), total)
        else:
            parts = (
                [1 + i for i in range(sc.attackers)] if sc.plan == "split" else [1] * sc.attackers
            )
            shares = [total * p // sum(parts) for p in parts]
            shares[-1] += total - sum(shares)
            for i, share in enumerate(shares):
                out[f"attacker-{i}"] = (Behaviour(skill[0], skill[1], plan), share)
    return out


def run(sc: Scenario, seed: int, *, epochs: int = 4, per_epoch: int = 60) -> Outcome:
    world = World(seed)
    ids = random.Random(seed)
    store = MemoryStore(new_id=lambda: uuid.UUID(int=ids.getrandbits(128), version=4))
    content = MemoryContent()
    nodes = SimNodes(world)
    bank = SimBank(world)
    queue = ListQueue()
    requester = PayingRequester(store, queue)
    kinds: dict[int, str] = {}
    for name, (behaviour, stake) in behaviours(sc, seed).items():
        world.behaviours[name] = behaviour
        node = store.nodes.add(sim_node(name, stake))
        kinds[node.id] = name.split("-")[0]
        for attempt in range(CALIBRATION_ATTEMPTS):  # an operator tries again after a failure
            if calibrate_node(
                store, nodes, node.id, questions=CALIBRATION_QUESTIONS, seed=attempt, bank=bank
            ).passed:
                break

    out = Outcome()
    right_by_node: Counter[int] = Counter()
    asked_by_node: Counter[int] = Counter()
    majority_right = 0.0
    for _ in range(epochs):
        for _ in range(per_epoch):
            q = world.question()
            requester.submit(
                prompt=q.text, requester="sim-requester", fee_wei=FEE,
                swarm_size=sc.swarm, gold_every=GOLD_EVERY, options=list(q.options), bank=bank,
            )  # fmt: skip
        queue.make_gold(store, bank)
        for task_id in queue.queued:
            rounds.run_round(store, nodes, task_id, min_answers=MIN_ANSWERS)
        for task_id in queue.queued:
            task = store.tasks.get(task_id)
            rnd = store.rounds.get(task_id)
            if store.gold.of(task_id) is not None or rnd is None or rnd.winner_id is None:
                continue
            truth = world.truth[task.prompt]
            said = {
                a.node_id: candidates.key(a.content or "", task.options)
                for a in store.answers.list_for_task(task_id)
                if a.status is AnswerStatus.OK
            }
            out.tasks += 1
            out.product += said[rnd.winner_id] == truth
            votes = Counter(said.values()).most_common()
            top = [x for x, c in votes if c == votes[0][1]]
            majority_right += top.count(truth) / len(top)
            for n, x in said.items():
                asked_by_node[n] += 1
                right_by_node[n] += x == truth
            post = aggregation.Posterior({e.node_id: e.score for e in rnd.ranking}, 0.0)
            chosen = {said[c] for c in post.credible_set()}
            mass = sum(e.score for e in rnd.ranking)
            out.covered += truth in chosen or (
                truth not in said.values() and mass < aggregation.CONFIDENT
            )
            out.confidence.append(rnd.ranking[0].score)
        queue.queued.clear()
        closed = close_epoch(store, content, emission_wei=0, bank=bank, escrow=requester.escrow)
        rows = store.epochs.nodes(closed.epoch.id)
        paid = sum(r.reward_wei for r in rows)
        attackers = sum(r.reward_wei for r in rows if kinds.get(r.node_id) == "attacker")
        out.attacker_share += attackers / paid / epochs if paid else 0.0
        honest = [r for r in rows if kinds.get(r.node_id) == "honest"]
        out.withheld_honest += sum(r.withheld for r in honest) / max(len(honest), 1) / epochs
        records = [n.reliability for n in store.nodes.list() if kinds[n.id] == "honest"]
        distrusted = sum(not aggregation.trusted(r) for r in records)
        out.distrusted_honest += distrusted / max(len(records), 1) / epochs
    out.majority = majority_right / out.tasks if out.tasks else 0.0
    honest_ids = [n for n, k in kinds.items() if k == "honest" and asked_by_node[n] >= 10]
    out.best_single = max((right_by_node[n] / asked_by_node[n] for n in honest_ids), default=0.0)
    return out

"""An open epoch holding many finished tasks, made fast, for measuring and testing its close.

A few hundred rounds are played through the product's use cases (``submit_task``,
``rounds.run_round`` on simulated nodes); every further task is submitted the same way and given
the records of one of those rounds (its answers, candidates, seats, verdicts, the rates it used
and its ranking) through the store's API, as if its round had gone the same way. The epoch then
looks to ``close_epoch`` and to the audit like one of real rounds: 4 to 8 answers each, 2 or 3
distinct candidates, about 3 verdicts per answer.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace

from services.app import rounds
from services.app.ports import Store
from services.core.types import (
    Answer,
    Judgment,
    NodeStatus,
    Round,
    TaskId,
    TaskStatus,
)
from services.core.work import Signed, name_key, sign, task_number
from services.inmemory import MemoryStore
from services.inmemory.escrow import MemoryEscrow
from services.sim.harness import FEE, STAKE, ListQueue, PayingRequester, sim_node
from services.sim.world import SIM_DOMAIN, Behaviour, SimNodes, World

NODES = 10
SWARMS = (4, 6, 8)  # seats per task, in turn


@dataclass(frozen=True)
class _Played:
    text: str
    options: tuple[str, ...]
    swarm: int
    answers: tuple[Answer, ...]
    judgments: tuple[Judgment, ...]
    round: Round


def seeded_store(seed: int = 1) -> MemoryStore:
    """An in-memory store whose task ids come from ``seed`` (a run is reproducible)."""
    ids = random.Random(seed)
    return MemoryStore(new_id=lambda: uuid.UUID(int=ids.getrandbits(128), version=4))


def fill_epoch(store: Store, tasks: int, *, seed: int = 1, played: int = 300) -> MemoryEscrow:
    """Register ``NODES`` simulated nodes and finish ``tasks`` paid tasks in the open epoch, the
    first ``min(played, tasks)`` by playing their rounds, the rest by repeating those rounds'
    records; the escrow that holds their fees (close the epoch with it)."""
    world = World(seed)
    for i in range(NODES):
        name = f"node-{i}"
        world.behaviours[name] = Behaviour(
            0.45 + 0.3 * i / (NODES - 1), 0.65 + 0.2 * i / (NODES - 1)
        )
        node = store.nodes.add(sim_node(name, STAKE))
        store.nodes.set_status(node.id, NodeStatus.ACTIVE)
    queue, nodes = ListQueue(), SimNodes(world)
    requester = PayingRequester(store, queue)
    templates: list[_Played] = []
    for k in range(min(played, tasks)):
        q, swarm = world.question(), SWARMS[k % len(SWARMS)]
        task = requester.submit(prompt=q.text, requester="bench", fee_wei=FEE, swarm_size=swarm,
                                options=list(q.options))  # fmt: skip
        rounds.run_round(store, nodes, task.id, min_answers=3)
        rnd = store.rounds.get(task.id)
        if rnd is not None and store.tasks.get(task.id).status is TaskStatus.DONE:
            answers = tuple(store.answers.list_for_task(task.id))
            verdicts = tuple(store.judgments.list_for_task(task.id))
            templates.append(_Played(q.text, q.options, swarm, answers, verdicts, rnd))
    for k in range(tasks - min(played, tasks)):
        _repeat(requester, templates[k % len(templates)])
    return requester.escrow


def _repeat(requester: PayingRequester, p: _Played) -> None:
    store = requester.store
    task = requester.submit(prompt=p.text, requester="bench", fee_wei=FEE, swarm_size=p.swarm,
                            options=list(p.options))  # fmt: skip
    r = p.round
    names = {n.id: n.name for n in store.nodes.list()}
    for a in p.answers:  # answers before the round starts: a started round takes no more
        store.answers.put(
            replace(a, task_id=task.id, signed=_resigned(a.signed, names[a.node_id], task.id))
        )
    store.rounds.start(task.id, r.node_ids, r.pairs, seats=r.seats, candidates=r.candidates)
    for j in p.judgments:
        store.judgments.put(
            replace(j, task_id=task.id, signed=_resigned(j.signed, names[j.judge_id], task.id))
        )
    store.rounds.finish(task.id, r.winner_id, r.ranking, r.method or "", r.separated, r.weights)
    store.tasks.assign_open_epoch(task.id)
    store.tasks.set_status(task.id, TaskStatus.DONE)


def _resigned(signed: Signed | None, name: str, task_id: TaskId) -> Signed | None:
    """The node's signed work made again for ``task_id`` (what it would have signed there)."""
    if signed is None:
        return None
    work = replace(signed.work, task=task_number(task_id))
    return Signed(work, sign(name_key(name), SIM_DOMAIN, work), signed.signer)

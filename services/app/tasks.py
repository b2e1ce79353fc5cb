"""Use cases a requester drives: submit a task, read it back."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.app.gold import GOLD_REQUESTER, gold_due, gold_prompt
from services.app.ports import RoundQueue, Store
from services.core.errors import BrokerUnavailable, Invalid
from services.core.types import Answer, Judgment, NewTask, Node, Round, Task, TaskId, Wei

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 16_000


@dataclass(frozen=True)
class TaskView:
    """Everything ``GET /v1/tasks/{id}`` shows: the task, its round, answers and judgments."""

    task: Task
    round: Round | None
    answers: list[Answer]
    judgments: list[Judgment]
    nodes: dict[int, Node]

    @property
    def winner_answer(self) -> Answer | None:
        if self.round is None or self.round.winner_id is None:
            return None
        return next((a for a in self.answers if a.node_id == self.round.winner_id), None)


def submit_task(
    store: Store,
    queue: RoundQueue,
    *,
    prompt: str,
    requester: str,
    fee_wei: int,
    swarm_size: int,
    gold_every: int = 0,
) -> Task:
    """Store the task and enqueue its round; when the broker is down, nothing stays stored.
    About one task in ``gold_every`` brings a hidden gold question along (``services.app.gold``)."""
    if not prompt.strip():
        raise Invalid("prompt is empty", hint="send the question as a non-empty string")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise Invalid(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
    if fee_wei < 0:
        raise Invalid("fee_wei must not be negative")
    queue.ping()  # fail before writing anything when the broker is unreachable
    task = store.tasks.add(
        NewTask(prompt=prompt, requester=requester, fee_wei=Wei(fee_wei), swarm_size=swarm_size)
    )
    try:
        queue.enqueue_round(task.id)
    except BrokerUnavailable:
        store.tasks.delete(task.id)
        raise
    log.info("task submitted", extra={"task_id": task.id, "swarm_size": swarm_size})
    if gold_due(task.id, gold_every):
        _mix_in_gold(store, queue, task)
    return task


def _mix_in_gold(store: Store, queue: RoundQueue, beside: Task) -> None:
    """A hidden gold task beside ``beside``: same swarm size, no fee. Best effort: the
    requester's task is already accepted, so a failure here is logged, never raised."""
    prompt = gold_prompt(beside.id)
    if prompt is None:
        return
    gold = store.tasks.add(
        NewTask(prompt=prompt, requester=GOLD_REQUESTER, fee_wei=Wei(0), swarm_size=beside.swarm_size)
    )
    try:
        queue.enqueue_round(gold.id)
    except BrokerUnavailable:
        store.tasks.delete(gold.id)
        log.warning("gold task not enqueued: the broker is down", extra={"task_id": gold.id})


def view_task(store: Store, task_id: TaskId) -> TaskView:
    task = store.tasks.get(task_id)
    answers = store.answers.list_for_task(task_id)
    rnd = store.rounds.get(task_id)
    ids = {a.node_id for a in answers} | set(rnd.node_ids if rnd else ())
    nodes = {n.id: n for n in store.nodes.list() if n.id in ids}
    return TaskView(task, rnd, answers, store.judgments.list_for_task(task_id), nodes)

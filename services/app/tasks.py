"""Use cases a requester drives: submit a task, read it back."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.app.escrow import FeeTerms, check_declared_fee
from services.app.ports import QuestionBank, RoundQueue, Store
from services.core.errors import BrokerUnavailable, Invalid, NotFound
from services.core.letters import OPTION_LETTERS, multiple_choice_prompt
from services.core.types import (
    Answer,
    Judgment,
    NewTask,
    Node,
    NodeId,
    Round,
    Task,
    TaskId,
    TaskStatus,
    Wei,
)

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 16_000


@dataclass(frozen=True)
class TaskView:
    """Everything ``GET /v1/tasks/{id}`` shows: the task, its round, answers and judgments."""

    task: Task
    round: Round | None
    answers: list[Answer]
    judgments: list[Judgment]
    nodes: dict[NodeId, Node]

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
    options: list[str] | tuple[str, ...] | None = None,
    bank: QuestionBank | None = None,
    payer: str | None = None,
    fees: FeeTerms | None = None,
) -> Task:
    """Store the task and enqueue its round; when the broker is down, nothing stays stored.

    A task with a fee (in ``fees.range``, with the ``payer`` whose escrow holds it) waits in
    AWAITING_FEE: its first fee check is queued instead of its round (``escrow.check_fee``
    dispatches it once the fee is held). Without ``fees`` only free tasks are taken.
    With a ``bank``, about one task in ``gold_every`` brings a hidden gold task along, made a
    random while later (``services.app.gold.mix_in_gold``), so its timing does not give it away."""
    if not prompt.strip():
        raise Invalid("prompt is empty", hint="send the question as a non-empty string")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise Invalid(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
    payer = check_declared_fee(fee_wei, payer, fees or FeeTerms(range=None))
    if options is not None:
        options = tuple(o.strip() for o in options)
        if not 2 <= len(options) <= len(OPTION_LETTERS) or not all(options):
            raise Invalid(
                "options must be 2 to 10 non-empty strings",
                hint='send e.g. "options": ["Paris", "Rome", "Madrid"]',
            )
        prompt = multiple_choice_prompt(prompt.strip(), options)
        if len(prompt) > MAX_PROMPT_CHARS:  # the limit holds for what every node is sent
            raise Invalid(
                f"the prompt with its options joined in is {len(prompt)} characters, over the "
                f"limit of {MAX_PROMPT_CHARS}",
                hint="shorten the question or its options",
            )
    queue.ping()  # fail before writing anything when the broker is unreachable
    task = store.tasks.add(
        NewTask(
            prompt=prompt,
            requester=requester,
            fee_wei=Wei(fee_wei),
            swarm_size=swarm_size,
            options=options,
            payer=payer,
        )
    )
    try:
        if task.status is TaskStatus.AWAITING_FEE:
            queue.enqueue_fee_check(task.id, 0.0)
        else:
            queue.enqueue_round(task.id)
    except BrokerUnavailable:
        store.tasks.delete(task.id)
        raise
    log.info("task submitted", extra={"task_id": task.id, "swarm_size": swarm_size})
    if bank is not None and bank.due(task.id, gold_every):
        try:  # best effort: the requester's task is accepted already
            queue.enqueue_gold(task.id, bank.delay_s(task.id))
        except BrokerUnavailable:
            log.warning("gold task not scheduled: the broker is down", extra={"task_id": task.id})
    return task


def view_own_task(store: Store, task_id: TaskId, requester: str) -> TaskView:
    """``view_task`` for the requester that submitted the task. Another requester's task, and
    every hidden gold task, is not found exactly like an id that does not exist, so ids cannot be
    probed."""
    task = store.tasks.get(task_id)  # NotFound for an unknown or malformed id
    if task.requester != requester or store.gold.of(task.id) is not None:
        raise NotFound(f"task {task_id} not found", hint="check the id returned by POST /v1/tasks")
    return view_task(store, task.id)


def view_task(store: Store, task_id: TaskId) -> TaskView:
    task = store.tasks.get(task_id)
    answers = store.answers.list_for_task(task_id)
    rnd = store.rounds.get(task_id)
    ids = {a.node_id for a in answers} | set(rnd.node_ids if rnd else ())
    nodes = {n.id: n for n in store.nodes.list() if n.id in ids}
    return TaskView(task, rnd, answers, store.judgments.list_for_task(task_id), nodes)

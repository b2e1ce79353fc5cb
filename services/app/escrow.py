"""Task fees held in escrow: a task with a fee is dispatched only once its payer's escrow holds
exactly that fee; only fees moved out of the escrow into an epoch's pool are ever pooled.

The path of a fee (``FeeState``):

- ``submit_task`` checks the declared fee against the escrow's range and stores the task
  AWAITING its fee, with the payer (the account whose escrow slot counts: another account's
  deposit for the same task id never does);
- ``check_fee`` (the worker, again and again until the deadline) finds it HELD and dispatches the
  round, or fails the task: nothing escrowed in time (UNPAID), or another amount escrowed
  (refunded at once);
- ``move_fees`` (before an epoch closes) moves the held fees of finished tasks into the open
  epoch's pool on chain and records, from the receipt, which moved (MOVED, with the epoch) and
  which were gone (MISSING: reclaimed by the payer after the escrow's expiry). A task that
  finished after the move keeps its fee HELD; the next epoch's move sweeps it into that pool;
- ``refund_if_failed`` returns a failed task's held fee to its payer (REFUNDED), also when it
  arrived after the task had failed.

Every chain write goes under an intent key, so a retry finds what the first attempt did.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from services.app.ports import Escrow, FeeRange, MovedFees, RoundQueue, Store
from services.core.errors import Conflict, Invalid, NotFound
from services.core.money import format_mrt
from services.core.types import EpochId, FeeState, TaskId, TaskStatus

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class FeeTerms:
    """What the marketplace accepts for a task's fee: the escrow's range (None: no escrow, only
    free tasks), whether free tasks are taken, and how long a task waits for its fee."""

    range: FeeRange | None
    free_tasks: bool = True
    wait_s: int = 600


def check_declared_fee(fee_wei: int, payer: str | None, terms: FeeTerms) -> str | None:
    """The payer of a task declaring ``fee_wei`` (normalised), or Invalid saying what to send."""
    if fee_wei < 0:
        raise Invalid(
            "fee_wei must not be negative", hint='send the fee in wei, e.g. "10000000000000000"'
        )
    r = terms.range
    span = (
        f"{r.min_wei} to {r.max_wei} wei ({format_mrt(r.min_wei)} to {format_mrt(r.max_wei)})"
        if r
        else ""
    )
    if fee_wei == 0:
        if not terms.free_tasks:
            raise Invalid(
                "this marketplace takes no free tasks", hint=f"send fee_wei of {span} and a payer"
            )
        return None
    if r is None:
        raise Invalid(
            "this marketplace holds no escrow, so it takes no fee",
            hint="send fee_wei 0 (a free task)",
        )
    if not r.min_wei <= fee_wei <= r.max_wei:
        raise Invalid(
            f"fee_wei {fee_wei} is outside the escrow's range", hint=f"send a fee of {span}"
        )
    if payer is None or not _ADDRESS.match(payer):
        raise Invalid(
            "a task with a fee needs its payer",
            hint='send "payer": the 0x address (40 hex digits) that escrows the fee',
        )
    return payer.lower()


class FeeCheck(StrEnum):
    HELD = "held"  # the fee is held: the round is queued
    WAITING = "waiting"  # not yet: look again later
    FAILED = "failed"  # the task failed for its fee
    DONE = "done"  # nothing to check: the task is past this step


def check_fee(
    store: Store,
    queue: RoundQueue,
    escrow: Escrow,
    task_id: TaskId,
    *,
    wait_s: int,
    now: datetime | None = None,
    look_again: bool = True,
) -> FeeCheck:
    """Dispatch ``task_id`` when its payer's escrow holds exactly its fee; fail it when the
    deadline (``wait_s`` after it came) has passed or another amount was escrowed (refunded);
    otherwise schedule the next look (not with ``look_again`` false: the reconciler looks at a
    task whose chain of looks may still be alive, and does not start a second one). Idempotent: a
    repeated call on a task past this step only makes sure its round was queued."""
    task = store.tasks.get(task_id)
    if task.fee_state is FeeState.HELD and task.status is TaskStatus.QUEUED:
        queue.enqueue_round(task.id)  # a redelivered check: dispatch is idempotent
        return FeeCheck.HELD
    if task.fee_state is not FeeState.AWAITING or task.status is not TaskStatus.AWAITING_FEE:
        return FeeCheck.DONE
    assert task.payer is not None  # an awaiting fee always has its payer (tasks_fee_needs_payer)
    held = escrow.held_wei(task.payer, task.id)
    if held == task.fee_wei:
        with store.transaction() as tx:
            tx.tasks.set_fee(task.id, FeeState.HELD)
            tx.tasks.set_status(task.id, TaskStatus.QUEUED)
        queue.enqueue_round(task.id)
        log.info("task fee held; round queued", extra={"task_id": task.id, "wei": held})
        return FeeCheck.HELD
    if held:
        reason = f"the escrow holds {held} wei but the task declared {task.fee_wei} wei: refunded"
        store.tasks.set_status(task.id, TaskStatus.FAILED, reason)
        store.tasks.set_fee(task.id, FeeState.UNPAID, note=reason)
        refund_if_failed(store, escrow, task.id)
        return FeeCheck.FAILED
    age = ((now or datetime.now(UTC)) - task.created_at).total_seconds()
    if age >= wait_s:
        reason = f"the fee was not escrowed within {wait_s} s of the task (payer {task.payer})"
        store.tasks.set_status(task.id, TaskStatus.FAILED, reason)
        store.tasks.set_fee(task.id, FeeState.UNPAID, note=reason)
        log.info("task failed: fee never escrowed", extra={"task_id": task.id})
        return FeeCheck.FAILED
    if look_again:
        queue.enqueue_fee_check(task.id, next_look_s(age))
    return FeeCheck.WAITING


def next_look_s(age_s: float) -> float:
    """How long to wait before looking again: every second at first, then every 5 s."""
    return 1.0 if age_s < 30 else 5.0


def refund_if_failed(store: Store, escrow: Escrow, task_id: TaskId) -> str | None:
    """Return a failed task's held fee to its payer (also one escrowed after the task failed);
    the tx hash, or None when nothing is held."""
    task = store.tasks.get(task_id)
    if task.status is not TaskStatus.FAILED or task.payer is None:
        return None
    if task.fee_state not in (FeeState.AWAITING, FeeState.HELD, FeeState.UNPAID):
        return None
    intent = f"refund:{escrow.chain_id}:{task.id}"
    if not escrow.held_wei(task.payer, task.id):
        if task.fee_state is not FeeState.HELD:
            return None
        # recorded as held, no longer held: if this intent's refund went out and its recording
        # was cut short (a worker killed between the receipt and the line below), it answers again
        try:
            tx = escrow.refund(intent, task.payer, task.id)
        except (Conflict, NotFound):  # never refunded by us: nothing was held
            return None
    else:
        tx = escrow.refund(intent, task.payer, task.id)
    store.tasks.set_fee(
        task.id, FeeState.REFUNDED, note=f"refunded: {task.error or 'the task failed'}"
    )
    log.info("task fee refunded", extra={"task_id": task.id, "tx_hash": tx})
    return tx


def refund_failed_tasks(store: Store, escrow: Escrow, *, recent: int = 500) -> list[str]:
    """Refund what is held for any of the ``recent`` newest tasks that failed; their ids."""
    return [
        t.id
        for t in store.tasks.list(limit=recent)
        if t.status is TaskStatus.FAILED and t.payer and refund_if_failed(store, escrow, t.id)
    ]


def move_fees(store: Store, escrow: Escrow, epoch_id: EpochId) -> MovedFees | None:
    """Move the held fees of every finished task into ``epoch_id``'s pool (the open epoch, just
    before it closes); None when none is held. The receipt says which moved and which were gone;
    both are recorded, so the close pools exactly what the chain holds for the epoch."""
    held = store.tasks.with_fee(FeeState.HELD, done=True)
    if not held:
        return None
    items = [(t.payer or "", t.id) for t in held]
    moved = escrow.move_fees(f"fees:{escrow.chain_id}:{epoch_id}", int(epoch_id), items)
    with store.transaction() as tx:
        for task_id in moved.moved:
            tx.tasks.set_fee(TaskId(task_id), FeeState.MOVED, epoch=epoch_id)
        for task_id in moved.missing:
            tx.tasks.set_fee(
                TaskId(task_id), FeeState.MISSING,
                note=f"the escrow no longer held the fee when epoch {epoch_id} closed "
                "(reclaimed by its payer?)",
            )  # fmt: skip
    log.info(
        "task fees moved into the epoch pool",
        extra={
            "epoch": epoch_id,
            "moved": len(moved.moved),
            "missing": len(moved.missing),
            "wei": moved.amount_wei,
        },
    )
    return moved

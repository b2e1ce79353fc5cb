"""Use cases that drive work left in a non-final state on, without a human (the reconciler).

Each is idempotent: it only repeats what the step it stands in for would do (through the same
outbox intents, the same stored answers and verdicts), so running it beside the step itself sends
nothing twice and stores nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from services.app.escrow import FeeCheck, check_fee
from services.app.ports import Escrow, RoundQueue, SettlementChain, Store
from services.app.rounds import fail
from services.app.settlement import SettleResult, finalize_epoch, settle_epoch
from services.core.errors import ChainUnavailable, Conflict
from services.core.settlement import SettlementStatus
from services.core.types import EpochId, TaskId, TaskStatus

log = logging.getLogger(__name__)


def finalize_due(store: Store, chain: SettlementChain) -> list[SettleResult]:
    """Finalize the proposed epochs (the newest and one before it: the contract holds two
    proposals at most), oldest first; each sends nothing while its window is still open. A
    proposal an upheld challenge cancelled is proposed again instead (``settle_epoch``, with its
    recorded proof); when that cannot be done yet (the settler's bond is to be posted again), it
    is said in the log and tried at the next run."""
    newest = store.settlements.latest(status=SettlementStatus.PROPOSED)
    if newest is None:
        return []
    before = store.settlements.get(EpochId(newest.epoch_id - 1)) if newest.epoch_id > 1 else None
    waiting = [
        s for s in (before, newest) if s is not None and s.status is SettlementStatus.PROPOSED
    ]
    done = []
    for s in waiting:
        if not chain.proposal_cancelled(s.epoch_id):
            done.append(finalize_epoch(store, chain, s.epoch_id))
            continue
        try:
            done.append(settle_epoch(store, chain, s.epoch_id))
        except Conflict as exc:
            log.warning(
                "cancelled epoch not proposed again yet",
                extra={"epoch": s.epoch_id, "error": exc.one_line()},
            )
    return done


class Drive(StrEnum):
    """What the reconciler did with a stalled task."""

    DISPATCHED = "dispatched"  # its fee is held now: its round was queued
    FEE_WAITING = "fee-waiting"  # its fee is not held yet; its deadline has not passed
    FEE_FAILED = "fee-failed"  # failed for its fee (deadline passed, or another amount escrowed)
    RESUMED = "resumed"  # its round was driven on from where it stands (``rounds.resume``)
    BACKLOG = "backlog"  # not re-driven: the round queues hold a backlog its step may wait in
    FAILED = "failed"  # it did not move after the last re-drive: failed with the reason


@dataclass(frozen=True)
class TaskRecovery:
    """When a task counts as stalled and what is done about it (``MERIT_TASK_STALL_S``,
    ``MERIT_TASK_REDRIVES``, ``MERIT_FEE_WAIT_S``, ``MERIT_RECONCILE_MAX_BACKLOG``)."""

    stall_s: float  # no progress this long: stalled (longer than a redelivery takes)
    max_redrives: int  # re-drives without progress before the task is failed
    fee_wait_s: int  # a task's fee deadline
    max_backlog: int  # round steps waiting in the queues above which nothing is re-driven


@dataclass(frozen=True)
class Driven:
    task_id: TaskId
    status: TaskStatus  # where it stood
    drive: Drive
    redrives: int = 0


def drive_stalled_tasks(
    store: Store,
    queue: RoundQueue,
    escrow: Escrow | None,
    terms: TaskRecovery,
    *,
    now: datetime | None = None,
    limit: int = 500,
) -> list[Driven]:
    """Drive on every unfinished task without progress for ``terms.stall_s``, the longest-stalled
    first: a task awaiting its fee is checked again (dispatched when held, failed past its
    deadline, else looked at again after another ``stall_s``: its deadline, not the count of
    re-drives, ends its wait); a round is resumed from where it stands (``rounds.resume``, through
    ``queue.enqueue_resume``), counted, and failed with the reason once it has not moved after
    ``terms.max_redrives`` re-drives (the caller refunds a held fee). While the queues hold more
    than ``terms.max_backlog`` waiting steps, rounds are not re-driven: their steps may only be
    waiting their turn. A failed task's fee is the caller's to refund."""
    now = now or datetime.now(UTC)
    found = store.tasks.stalled(now - timedelta(seconds=terms.stall_s), limit=limit)
    backlog: int | None = None
    out: list[Driven] = []
    for s in found:
        task = s.task
        if task.status is TaskStatus.AWAITING_FEE:
            if escrow is None:
                continue
            try:
                looked = check_fee(
                    store,
                    queue,
                    escrow,
                    task.id,
                    wait_s=terms.fee_wait_s,
                    now=now,
                    look_again=False,
                )
            except ChainUnavailable as exc:  # looked at again at the next run
                log.warning("fee not checked: %s", exc.one_line(), extra={"task_id": task.id})
                continue
            drive = {FeeCheck.HELD: Drive.DISPATCHED, FeeCheck.FAILED: Drive.FEE_FAILED}.get(
                looked, Drive.FEE_WAITING
            )
            if drive is Drive.FEE_WAITING:  # looked at again after another stall, not every run
                store.tasks.note_redrive(task.id)
            out.append(Driven(task.id, task.status, drive))
            continue
        if s.redrives >= terms.max_redrives:
            fail(
                store,
                task.id,
                f"stuck while {task.status.value}: "
                f"no progress since {s.last_progress:%Y-%m-%d %H:%M:%S} UTC "
                f"after {s.redrives} re-drives",
            )
            out.append(Driven(task.id, task.status, Drive.FAILED, s.redrives))
            continue
        if backlog is None:
            backlog = queue.backlog()
        if backlog > terms.max_backlog:
            out.append(Driven(task.id, task.status, Drive.BACKLOG, s.redrives))
            continue
        count = store.tasks.note_redrive(task.id)
        queue.enqueue_resume(task.id)
        log.info(
            "stalled task re-driven",
            extra={"task_id": task.id, "status": task.status.value, "redrives": count},
        )
        out.append(Driven(task.id, task.status, Drive.RESUMED, count))
    return out

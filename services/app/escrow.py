"""Task fees escrowed on chain (TaskEscrow): a requester funds a task's fee; the marketplace's
chain writer refunds it when the task fails, and moves the fees of an epoch's finished tasks into
that epoch's pool before the epoch is proposed (so less is minted as emission). Both go through
the writer's outbox under one intent each, so a retry finds the receipt instead of paying twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from services.app.ports import Store
from services.core.types import EpochId, TaskId, TaskStatus

log = logging.getLogger(__name__)


class EscrowChain(Protocol):
    @property
    def chain_id(self) -> int: ...
    def escrowed_wei(self, task_id: str) -> int: ...
    def refund_task(self, intent_key: str, task_id: str) -> str: ...
    def settle_task_fees(self, intent_key: str, epoch: int, task_ids: list[str]) -> str: ...


@dataclass(frozen=True)
class MovedFees:
    tasks: int
    amount_wei: int
    tx_hash: str | None


def refund_if_failed(store: Store, chain: EscrowChain, task_id: str) -> str | None:
    """Refund ``task_id``'s escrowed fee when the task failed; the tx hash, or None when there
    is nothing to refund (not failed, or nothing escrowed)."""
    if store.tasks.get(TaskId(task_id)).status is not TaskStatus.FAILED:
        return None
    if not chain.escrowed_wei(task_id):
        return None
    tx = chain.refund_task(f"refund:{chain.chain_id}:{task_id}", task_id)
    log.info("task fee refunded", extra={"task_id": task_id, "tx_hash": tx})
    return tx


def refund_failed_tasks(store: Store, chain: EscrowChain, *, recent: int = 500) -> list[str]:
    """Refund every escrowed fee of the ``recent`` newest tasks that failed; their ids."""
    done: list[str] = []
    for t in store.tasks.list(limit=recent):
        if t.status is TaskStatus.FAILED and refund_if_failed(store, chain, t.id):
            done.append(t.id)
    return done


def move_epoch_fees(store: Store, chain: EscrowChain, epoch_id: int) -> MovedFees:
    """Move the escrowed fees of closed epoch ``epoch_id``'s finished tasks into its pool."""
    funded = {
        t.id: chain.escrowed_wei(t.id)
        for t in store.tasks.list_for_epoch(EpochId(epoch_id))
        if t.status is TaskStatus.DONE
    }
    ids = sorted(str(t) for t, amount in funded.items() if amount)
    if not ids:
        return MovedFees(0, 0, None)
    tx = chain.settle_task_fees(f"fees:{chain.chain_id}:{epoch_id}", epoch_id, ids)
    amount = sum(funded[TaskId(t)] for t in ids)
    log.info("task fees moved into the epoch pool", extra={"epoch": epoch_id, "wei": amount})
    return MovedFees(len(ids), amount, tx)

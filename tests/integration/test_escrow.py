"""Task fees escrowed on chain: a failed task's fee goes back to its requester, the fees of an
epoch's finished tasks move into that epoch's pool; each once, through the writer's outbox
(anvil, PostgreSQL)."""

from __future__ import annotations

from services.app.escrow import move_epoch_fees, refund_failed_tasks
from services.chain.contracts import EscrowStatus
from services.core.types import NewTask, TaskStatus, Wei
from tests.contracts.market import MRT, operator, tx
from tests.integration.test_settlement import World, market_world  # noqa: F401 - the fixture

REQUESTER = operator(70)


def _funded_task(w: World, fee: int, status: TaskStatus) -> str:
    task = w.store.tasks.add(
        NewTask(prompt="What is 2+2?", requester="key:t", fee_wei=Wei(fee), swarm_size=3)
    )
    escrow = w.session.escrow
    tx(w.session.w3, REQUESTER, w.contracts.token.functions.approve(escrow.address, fee), "approve")
    tx(w.session.w3, REQUESTER, w.contracts.escrow.functions.fund(_key(task.id), fee), "fund")
    w.store.tasks.set_status(task.id, status)
    if status is TaskStatus.DONE:
        w.store.tasks.assign_open_epoch(task.id)
    return task.id


def _key(task_id: str) -> bytes:
    from services.chain.contracts import task_key

    return task_key(task_id)


def test_failed_fees_are_refunded_and_finished_fees_fill_the_pool_once(market_world: World) -> None:  # noqa: F811
    w = market_world
    w.contracts.faucet(REQUESTER, 10 * MRT)
    failed = _funded_task(w, 2 * MRT, TaskStatus.FAILED)
    done = [_funded_task(w, 3 * MRT, TaskStatus.DONE), _funded_task(w, 1 * MRT, TaskStatus.DONE)]
    token = w.session.token
    assert token.balance_of(REQUESTER.address) == 4 * MRT

    assert refund_failed_tasks(w.store, w.chain) == [failed]
    assert token.balance_of(REQUESTER.address) == 6 * MRT
    assert w.session.escrow.escrow_of(failed).status is EscrowStatus.REFUNDED
    assert refund_failed_tasks(w.store, w.chain) == []  # once

    epoch = w.store.epochs.current().id
    w.store.epochs.close(epoch, Wei(4 * MRT), None)
    moved = move_epoch_fees(w.store, w.chain, epoch)
    assert (moved.tasks, moved.amount_wei) == (2, 4 * MRT) and moved.tx_hash
    assert w.session.settlement.pool_of(epoch) == 4 * MRT
    assert all(w.session.escrow.escrow_of(t).status is EscrowStatus.SETTLED for t in done)
    assert move_epoch_fees(w.store, w.chain, epoch).tasks == 0  # once

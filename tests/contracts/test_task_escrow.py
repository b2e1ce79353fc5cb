"""TaskEscrow on a real anvil: settled tasks' fees move into an epoch's pool in EpochSettlement."""

from __future__ import annotations

import pytest
from web3 import Web3

from tests.contracts.market import MRT, SETTLER, Contracts, events, operator, reverts, tx
from tests.fixtures.chain import Market

REQUESTER = operator(40)
TASKS = [Web3.keccak(text=f"task-{i}") for i in range(3)]


@pytest.fixture
def c(chain: Web3, market: Market) -> Contracts:
    contracts = Contracts(chain, market)
    contracts.faucet(REQUESTER, 6 * MRT, contracts.escrow.address)
    for i, task in enumerate(TASKS):
        tx(chain, REQUESTER, contracts.escrow.functions.fund(task, (i + 1) * MRT))
    return contracts


def test_settled_fees_move_into_the_epochs_pool(c: Contracts) -> None:
    receipt = tx(c.w3, SETTLER, c.escrow.functions.settleTasks(3, TASKS[:2]))

    assert events(c.escrow, "TaskSettled", receipt) == [
        {"taskId": TASKS[0], "epoch": 3, "amount": MRT},
        {"taskId": TASKS[1], "epoch": 3, "amount": 2 * MRT},
    ]
    assert events(c.settlement, "PoolFunded", receipt) == [
        {"epoch": 3, "from": c.escrow.address, "amount": 3 * MRT, "pool": 3 * MRT}
    ]
    assert c.settlement.functions.poolOf(3).call() == 3 * MRT
    assert c.balance(c.settlement.address) == 3 * MRT + c.market.params.settler_bond_wei  # + bond
    assert c.balance(c.escrow.address) == 3 * MRT  # the third task's fee stays escrowed
    assert c.escrow.functions.escrowOf(TASKS[0]).call()[2] == 3  # Settled


def test_a_fee_is_settled_or_refunded_never_both(c: Contracts) -> None:
    tx(c.w3, SETTLER, c.escrow.functions.settleTasks(1, [TASKS[0]]))
    tx(c.w3, SETTLER, c.escrow.functions.refund(TASKS[1]))
    with reverts("TaskEscrowNotFunded", TASKS[0]):
        tx(c.w3, SETTLER, c.escrow.functions.refund(TASKS[0]))
    with reverts("TaskEscrowNotFunded", TASKS[1]):
        tx(c.w3, SETTLER, c.escrow.functions.settleTasks(1, [TASKS[1]]))
    with reverts("TaskEscrowNotFunded", TASKS[2]):  # one bad task fails the whole batch
        tx(c.w3, SETTLER, c.escrow.functions.settleTasks(1, [TASKS[2], TASKS[2]]))
    assert c.escrow.functions.escrowOf(TASKS[2]).call()[2] == 1  # still Funded


def test_settle_tasks_needs_the_operator_and_a_batch(c: Contracts) -> None:
    with reverts("AccessControlUnauthorizedAccount"):
        tx(c.w3, REQUESTER, c.escrow.functions.settleTasks(1, TASKS))
    with reverts("TaskEscrowInvalidInput"):
        tx(c.w3, SETTLER, c.escrow.functions.settleTasks(1, []))

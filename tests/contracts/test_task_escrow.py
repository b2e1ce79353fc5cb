"""TaskEscrow on a real anvil: fees held per (payer, task) inside a fee range, refunded by the
operator, reclaimed by their payer after the expiry, and moved into an epoch's pool; a task whose
fee is not held is skipped, never paid from someone else's money."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from services.chain.deploy import DEV_PARAMS, _deploy_one
from services.chain.rpc import account_from_key
from services.settings import ANVIL_DEV_KEY
from tests.contracts.market import (
    MRT,
    SETTLER,
    Contracts,
    events,
    operator,
    reverts,
    travel,
    tree_of,
    tx,
)
from tests.fixtures.chain import Market

REQUESTER = operator(40)
OTHER = operator(41)
TASKS = [Web3.keccak(text=f"task-{i}") for i in range(5)]
MIN_FEE, MAX_FEE = DEV_PARAMS.min_fee_wei, DEV_PARAMS.max_fee_wei
EXPIRY = DEV_PARAMS.escrow_expiry_s
NONE, FUNDED, REFUNDED, SETTLED, RECLAIMED = range(5)


@pytest.fixture
def c(chain: Web3, market: Market) -> Contracts:
    contracts = Contracts(chain, market)
    for payer in (REQUESTER, OTHER):
        contracts.faucet(payer, 2 * MAX_FEE, contracts.escrow.address)
    return contracts


def _fund(c: Contracts, payer: LocalAccount, task: bytes, amount: int) -> TxReceipt:
    return tx(c.w3, payer, c.escrow.functions.fund(task, amount), "fund")


def _escrow(c: Contracts, payer: LocalAccount, task: bytes) -> tuple[int, int, int]:
    amount, funded_at, status = c.escrow.functions.escrowOf(payer.address, task).call()
    return int(amount), int(funded_at), int(status)


def _held(c: Contracts) -> int:
    held = int(c.escrow.functions.held().call())
    assert c.balance(c.escrow.address) == held  # the balance is exactly what is held
    return held


def _block_time(c: Contracts, receipt: TxReceipt) -> int:
    return int(c.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


# --- parameters -------------------------------------------------------------------------------


def test_the_escrow_says_its_fee_range_expiry_and_counterparts(c: Contracts) -> None:
    assert c.escrow.functions.feeRange().call() == [MIN_FEE, MAX_FEE]
    assert c.escrow.functions.expiry().call() == EXPIRY == 24 * 3600
    assert c.escrow.functions.settlement().call() == c.settlement.address
    assert c.escrow.functions.token().call() == c.token.address
    assert _held(c) == 0


@pytest.mark.parametrize(
    ("min_fee", "max_fee", "expiry"),
    [(0, MRT, 60), (2 * MRT, MRT, 60), (MRT, MRT, 0)],
    ids=["zero-min-fee", "min-above-max", "zero-expiry"],
)
def test_the_constructor_refuses_an_empty_range_or_no_expiry(
    c: Contracts, min_fee: int, max_fee: int, expiry: int
) -> None:
    deployer = account_from_key(ANVIL_DEV_KEY)
    args = (c.token.address, c.settlement.address, deployer.address, min_fee, max_fee, expiry)
    with reverts("TaskEscrowInvalidInput"):
        _deploy_one(c.w3, deployer, "TaskEscrow", *args)
    zero = "0x" + "00" * 20
    with reverts("TaskEscrowInvalidInput"):
        _deploy_one(c.w3, deployer, "TaskEscrow", zero, *args[1:3], MRT, MRT, 60)
    made = _deploy_one(c.w3, deployer, "TaskEscrow", *args[:3], MRT, MRT, 60)
    assert made.address  # a one-fee range is a range


# --- funding ----------------------------------------------------------------------------------


def test_a_fee_inside_the_range_is_held_for_its_payer(c: Contracts) -> None:
    receipt = _fund(c, REQUESTER, TASKS[0], MIN_FEE)
    assert events(c.escrow, "TaskFunded", receipt) == [
        {"payer": REQUESTER.address, "taskId": TASKS[0], "amount": MIN_FEE}
    ]
    assert _escrow(c, REQUESTER, TASKS[0]) == (MIN_FEE, _block_time(c, receipt), FUNDED)
    _fund(c, REQUESTER, TASKS[1], MAX_FEE)
    assert _held(c) == MIN_FEE + MAX_FEE
    assert c.balance(REQUESTER.address) == 2 * MAX_FEE - MIN_FEE - MAX_FEE


@pytest.mark.parametrize("amount", [0, MIN_FEE - 1, MAX_FEE + 1, 2**256 - 1])
def test_a_fee_outside_the_range_is_refused(c: Contracts, amount: int) -> None:
    with reverts("TaskEscrowFeeOutOfRange", amount, MIN_FEE, MAX_FEE):
        _fund(c, REQUESTER, TASKS[0], amount)
    assert _escrow(c, REQUESTER, TASKS[0]) == (0, 0, NONE)
    assert _held(c) == 0


def test_a_payer_funds_a_task_once_whatever_became_of_it(c: Contracts) -> None:
    _fund(c, REQUESTER, TASKS[0], MRT)
    with reverts("TaskEscrowAlreadyFunded", REQUESTER.address, TASKS[0]):
        _fund(c, REQUESTER, TASKS[0], MRT)
    tx(c.w3, SETTLER, c.escrow.functions.refund(REQUESTER.address, TASKS[0]))
    with reverts("TaskEscrowAlreadyFunded", REQUESTER.address, TASKS[0]):
        _fund(c, REQUESTER, TASKS[0], MRT)  # a refunded slot is not funded again


def test_each_payer_has_its_own_escrow_for_a_task(c: Contracts) -> None:
    _fund(c, REQUESTER, TASKS[0], MRT)
    _fund(c, OTHER, TASKS[0], 2 * MRT)  # the same task id, another payer: a separate escrow
    _fund(c, OTHER, TASKS[1], 3 * MRT)
    assert _escrow(c, REQUESTER, TASKS[0])[::2] == (MRT, FUNDED)
    assert _escrow(c, OTHER, TASKS[0])[::2] == (2 * MRT, FUNDED)

    # OTHER's deposit for TASKS[1] does not count for REQUESTER, who paid nothing for it
    assert _escrow(c, REQUESTER, TASKS[1]) == (0, 0, NONE)
    with reverts("TaskEscrowNotFunded", REQUESTER.address, TASKS[1]):
        tx(c.w3, SETTLER, c.escrow.functions.refund(REQUESTER.address, TASKS[1]))
    receipt = tx(c.w3, SETTLER, c.escrow.functions.settleTasks(1, [REQUESTER.address], [TASKS[1]]))
    assert events(c.escrow, "TaskSettled", receipt) == []
    assert events(c.escrow, "TaskFeeMissing", receipt) == [
        {"epoch": 1, "payer": REQUESTER.address, "taskId": TASKS[1]}
    ]
    assert _escrow(c, OTHER, TASKS[1])[::2] == (3 * MRT, FUNDED)

    # refunding one payer leaves the other's escrow of the same task alone
    tx(c.w3, SETTLER, c.escrow.functions.refund(OTHER.address, TASKS[0]))
    assert c.balance(OTHER.address) == 2 * MAX_FEE - 3 * MRT
    assert _escrow(c, REQUESTER, TASKS[0])[::2] == (MRT, FUNDED)
    assert _held(c) == 4 * MRT


# --- refunds ----------------------------------------------------------------------------------


def test_only_the_operator_refunds_and_only_once(c: Contracts) -> None:
    _fund(c, REQUESTER, TASKS[0], 5 * MRT)
    for stranger in (REQUESTER, OTHER):
        with reverts("AccessControlUnauthorizedAccount"):
            tx(c.w3, stranger, c.escrow.functions.refund(REQUESTER.address, TASKS[0]))

    receipt = tx(c.w3, SETTLER, c.escrow.functions.refund(REQUESTER.address, TASKS[0]))

    assert events(c.escrow, "TaskRefunded", receipt) == [
        {"payer": REQUESTER.address, "taskId": TASKS[0], "amount": 5 * MRT}
    ]
    assert c.balance(REQUESTER.address) == 2 * MAX_FEE
    assert _escrow(c, REQUESTER, TASKS[0])[::2] == (5 * MRT, REFUNDED)
    assert _held(c) == 0
    with reverts("TaskEscrowNotFunded", REQUESTER.address, TASKS[0]):
        tx(c.w3, SETTLER, c.escrow.functions.refund(REQUESTER.address, TASKS[0]))
    travel(c.w3, EXPIRY)
    with reverts("TaskEscrowNotFunded", REQUESTER.address, TASKS[0]):
        tx(c.w3, REQUESTER, c.escrow.functions.reclaim(TASKS[0]))  # refunded: nothing to reclaim


# --- reclaims ---------------------------------------------------------------------------------


def test_the_payer_reclaims_after_the_expiry_and_nobody_else(c: Contracts) -> None:
    receipt = _fund(c, REQUESTER, TASKS[0], 7 * MRT)
    expires_at = _block_time(c, receipt) + EXPIRY
    with reverts("TaskEscrowNotExpired", REQUESTER.address, TASKS[0], expires_at):
        tx(c.w3, REQUESTER, c.escrow.functions.reclaim(TASKS[0]))
    travel(c.w3, EXPIRY - 120)
    with reverts("TaskEscrowNotExpired", REQUESTER.address, TASKS[0], expires_at):
        tx(c.w3, REQUESTER, c.escrow.functions.reclaim(TASKS[0]))
    travel(c.w3, 120)
    with reverts("TaskEscrowNotFunded", OTHER.address, TASKS[0]):
        tx(c.w3, OTHER, c.escrow.functions.reclaim(TASKS[0]))  # another account has no escrow
    with reverts("TaskEscrowNotFunded", SETTLER.address, TASKS[0]):
        tx(c.w3, SETTLER, c.escrow.functions.reclaim(TASKS[0]))  # nor has the operator

    receipt = tx(c.w3, REQUESTER, c.escrow.functions.reclaim(TASKS[0]))

    assert events(c.escrow, "TaskReclaimed", receipt) == [
        {"payer": REQUESTER.address, "taskId": TASKS[0], "amount": 7 * MRT}
    ]
    assert c.balance(REQUESTER.address) == 2 * MAX_FEE
    assert _escrow(c, REQUESTER, TASKS[0])[::2] == (7 * MRT, RECLAIMED)
    assert _held(c) == 0
    with reverts("TaskEscrowNotFunded", REQUESTER.address, TASKS[0]):
        tx(c.w3, REQUESTER, c.escrow.functions.reclaim(TASKS[0]))
    with reverts("TaskEscrowNotFunded", REQUESTER.address, TASKS[0]):
        tx(c.w3, SETTLER, c.escrow.functions.refund(REQUESTER.address, TASKS[0]))


def test_a_never_funded_task_cannot_be_reclaimed(c: Contracts) -> None:
    with reverts("TaskEscrowNotFunded", REQUESTER.address, TASKS[3]):
        tx(c.w3, REQUESTER, c.escrow.functions.reclaim(TASKS[3]))


# --- settling into an epoch's pool --------------------------------------------------------------


def test_settling_moves_held_fees_and_skips_the_rest(c: Contracts) -> None:
    for i, task in enumerate(TASKS[:4]):
        _fund(c, REQUESTER, task, (i + 1) * MRT)  # 1, 2, 3, 4 MRT
    tx(c.w3, SETTLER, c.escrow.functions.refund(REQUESTER.address, TASKS[1]))
    travel(c.w3, EXPIRY)
    tx(c.w3, REQUESTER, c.escrow.functions.reclaim(TASKS[2]))
    batch = [TASKS[0], TASKS[1], TASKS[2], TASKS[3], TASKS[4], TASKS[0]]  # 4: never funded
    settle = c.escrow.functions.settleTasks(3, [REQUESTER.address] * len(batch), batch)
    assert settle.call({"from": SETTLER.address}) == 5 * MRT  # what it returns

    receipt = tx(c.w3, SETTLER, settle)

    assert events(c.escrow, "TaskSettled", receipt) == [
        {"epoch": 3, "payer": REQUESTER.address, "taskId": TASKS[0], "amount": MRT},
        {"epoch": 3, "payer": REQUESTER.address, "taskId": TASKS[3], "amount": 4 * MRT},
    ]
    missing = [e["taskId"] for e in events(c.escrow, "TaskFeeMissing", receipt)]
    assert missing == [TASKS[1], TASKS[2], TASKS[4], TASKS[0]]  # the repeat moves nothing more
    assert events(c.settlement, "PoolFunded", receipt) == [
        {"epoch": 3, "from": c.escrow.address, "amount": 5 * MRT, "pool": 5 * MRT}
    ]
    assert c.settlement.functions.poolOf(3).call() == 5 * MRT
    assert c.balance(c.settlement.address) == 5 * MRT + c.market.params.settler_bond_wei
    assert [_escrow(c, REQUESTER, t)[2] for t in TASKS] == [
        SETTLED, REFUNDED, RECLAIMED, SETTLED, NONE,
    ]  # fmt: skip
    assert _held(c) == 0
    with reverts("TaskEscrowNotFunded", REQUESTER.address, TASKS[0]):
        tx(c.w3, SETTLER, c.escrow.functions.refund(REQUESTER.address, TASKS[0]))
    with reverts("TaskEscrowNotFunded", REQUESTER.address, TASKS[3]):
        tx(c.w3, REQUESTER, c.escrow.functions.reclaim(TASKS[3]))  # settled: not reclaimable


def test_a_batch_that_moves_nothing_funds_no_pool(c: Contracts) -> None:
    _fund(c, REQUESTER, TASKS[0], MRT)
    tx(c.w3, SETTLER, c.escrow.functions.refund(REQUESTER.address, TASKS[0]))
    settle = c.escrow.functions.settleTasks(2, [REQUESTER.address, OTHER.address], TASKS[:2])
    assert settle.call({"from": SETTLER.address}) == 0

    receipt = tx(c.w3, SETTLER, settle)

    assert len(events(c.escrow, "TaskFeeMissing", receipt)) == 2
    assert events(c.settlement, "PoolFunded", receipt) == []
    assert c.settlement.functions.poolOf(2).call() == 0
    assert c.token.functions.allowance(c.escrow.address, c.settlement.address).call() == 0


def test_settling_needs_the_operator_and_one_payer_per_task(c: Contracts) -> None:
    _fund(c, REQUESTER, TASKS[0], MRT)
    for stranger in (REQUESTER, OTHER):
        with reverts("AccessControlUnauthorizedAccount"):
            tx(c.w3, stranger, c.escrow.functions.settleTasks(1, [REQUESTER.address], TASKS[:1]))
    with reverts("TaskEscrowInvalidInput"):
        tx(c.w3, SETTLER, c.escrow.functions.settleTasks(1, [], []))
    with reverts("TaskEscrowInvalidInput"):
        tx(c.w3, SETTLER, c.escrow.functions.settleTasks(1, [REQUESTER.address], TASKS[:2]))
    with reverts("TaskEscrowInvalidInput"):
        tx(c.w3, SETTLER, c.escrow.functions.settleTasks(1, [REQUESTER.address] * 2, TASKS[:1]))
    assert _escrow(c, REQUESTER, TASKS[0])[2] == FUNDED


def test_fees_cannot_move_into_a_finalized_epoch(c: Contracts) -> None:
    node = c.register(operator(42))
    c.settle(1, tree_of(1, {node: (operator(42).address, MRT)}), MRT)
    _fund(c, REQUESTER, TASKS[0], MRT)
    with reverts("EpochSettlementEpochClosed", 1):
        tx(c.w3, SETTLER, c.escrow.functions.settleTasks(1, [REQUESTER.address], TASKS[:1]))
    assert _escrow(c, REQUESTER, TASKS[0])[2] == FUNDED  # the whole call reverted: still held
    assert _held(c) == MRT

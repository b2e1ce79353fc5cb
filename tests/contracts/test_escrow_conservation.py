"""A seeded random run on a real anvil: fees funded, refunded, reclaimed after time jumps, moved
into epoch pools, epochs proposed, finalized and claimed. A plain Python model predicts every
outcome (a refusal only where the model refuses, with the same error), and after every step:

- the escrow's token balance equals ``held()``, which equals the model's held fees;
- nothing is paid out that was not paid in or minted: refunds + reclaims + claims never exceed
  the fees escrowed plus the emission minted, and the difference is exactly what the escrow and
  the settlement still hold.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from web3 import Web3

from services.chain.client import ChainReverted
from tests.contracts.market import (
    MRT,
    SETTLER,
    Contracts,
    events,
    now,
    operator,
    travel,
    tree_of,
    tx,
)
from tests.fixtures.chain import Market

SEED = 20_260_611
STEPS = 300
PAYERS = [operator(70 + i) for i in range(3)]
NODES = [operator(80 + i) for i in range(2)]
FUNDED, REFUNDED, SETTLED, RECLAIMED = 1, 2, 3, 4


@dataclass
class Slot:
    amount: int
    funded_at: int
    status: int = FUNDED


@dataclass
class Model:
    """What the contracts should hold, and the money that went in and came out."""

    slots: dict[tuple[int, bytes], Slot] = field(default_factory=dict)
    pools: dict[int, int] = field(default_factory=dict)  # epoch -> fees moved into it
    carry: int = 0
    finalized: int = 0
    earned: list[int] = field(default_factory=lambda: [0, 0])  # cumulative, per node
    received: list[int] = field(default_factory=lambda: [0, 0])
    escrowed: int = 0  # every fee funded
    minted: int = 0  # every epoch's emission
    paid_out: int = 0  # refunds + reclaims + claims

    @property
    def held(self) -> int:
        return sum(s.amount for s in self.slots.values() if s.status == FUNDED)


@pytest.fixture
def c(chain: Web3, market: Market) -> Contracts:
    return Contracts(chain, market)


def _refused(call: Callable[[], object]) -> ChainReverted | None:
    """None when the call went through, else the named refusal."""
    try:
        call()
    except ChainReverted as refused:
        return refused
    return None


def test_a_random_run_pays_out_only_what_was_paid_in_or_minted(c: Contracts) -> None:
    rng = random.Random(SEED)
    escrow, st_, w3 = c.escrow, c.settlement, c.w3
    low, high = (int(v) for v in escrow.functions.feeRange().call())
    expiry = int(escrow.functions.expiry().call())
    ids = [c.register(node) for node in NODES]
    for payer in PAYERS:
        c.faucet(payer, 50_000 * MRT, escrow.address)
    bond = int(st_.functions.bondOf(SETTLER.address).call()[0])
    tasks = [Web3.keccak(text="escrow run task 0")]
    m = Model()
    counts: dict[str, int] = {}

    def pick_task() -> bytes:
        if rng.random() < 0.3:  # a new task id, later funded by others too
            tasks.append(Web3.keccak(text=f"escrow run task {len(tasks)}"))
        return bytes(rng.choice(tasks))

    def fund() -> None:
        i, task = rng.randrange(len(PAYERS)), pick_task()
        amount = rng.choice([low, high, low - 1, high + 1, rng.randint(low, 5 * MRT)])
        refused = _refused(lambda: tx(w3, PAYERS[i], escrow.functions.fund(task, amount)))
        if not low <= amount <= high:
            assert refused is not None and refused.error_name == "TaskEscrowFeeOutOfRange"
        elif (i, task) in m.slots:
            assert refused is not None and refused.error_name == "TaskEscrowAlreadyFunded"
        else:
            assert refused is None, refused
            m.slots[(i, task)] = Slot(amount, now(w3))
            m.escrowed += amount

    def pick_slot() -> tuple[int, bytes]:
        if m.slots and rng.random() < 0.8:
            return rng.choice(sorted(m.slots))
        return rng.randrange(len(PAYERS)), pick_task()

    def refund() -> None:
        i, task = pick_slot()
        slot = m.slots.get((i, task))
        before = c.balance(PAYERS[i].address)
        call = escrow.functions.refund(PAYERS[i].address, task)
        refused = _refused(lambda: tx(w3, SETTLER, call))
        if slot is None or slot.status != FUNDED:
            assert refused is not None and refused.error_name == "TaskEscrowNotFunded"
            return
        assert refused is None, refused
        assert c.balance(PAYERS[i].address) - before == slot.amount
        slot.status = REFUNDED
        m.paid_out += slot.amount

    def reclaim() -> None:
        i, task = pick_slot()
        slot = m.slots.get((i, task))
        before = c.balance(PAYERS[i].address)
        refused = _refused(lambda: tx(w3, PAYERS[i], escrow.functions.reclaim(task)))
        if slot is None or slot.status != FUNDED:
            assert refused is not None and refused.error_name == "TaskEscrowNotFunded"
            return
        if refused is not None:
            assert refused.error_name == "TaskEscrowNotExpired", refused
            assert refused.error_args[2] == slot.funded_at + expiry > now(w3)
            return
        assert now(w3) >= slot.funded_at + expiry
        assert c.balance(PAYERS[i].address) - before == slot.amount
        slot.status = RECLAIMED
        m.paid_out += slot.amount

    def settle() -> None:
        epoch = m.finalized + rng.choice([1, 1, 2])
        batch = [pick_slot() for _ in range(rng.randint(1, 5))]
        payers, task_ids = [PAYERS[i].address for i, _ in batch], [t for _, t in batch]
        receipt = tx(w3, SETTLER, escrow.functions.settleTasks(epoch, payers, task_ids))
        moved, missing = [], []
        for i, task in batch:
            slot = m.slots.get((i, task))
            if slot is not None and slot.status == FUNDED:
                slot.status = SETTLED
                moved.append(slot.amount)
            else:
                missing.append(task)
        assert [e["amount"] for e in events(escrow, "TaskSettled", receipt)] == moved
        assert [e["taskId"] for e in events(escrow, "TaskFeeMissing", receipt)] == missing
        pooled = events(st_, "PoolFunded", receipt)
        assert [e["amount"] for e in pooled] == ([sum(moved)] if moved else [])
        m.pools[epoch] = m.pools.get(epoch, 0) + sum(moved)

    def close_epoch() -> None:
        epoch = m.finalized + 1
        pool = m.pools.get(epoch, 0) + m.carry
        total = rng.choice([0, pool // 2, pool, pool + rng.randint(1, 20) * MRT])
        share = rng.randint(0, total)
        m.earned = [m.earned[0] + share, m.earned[1] + total - share]
        tree = tree_of(epoch, {ids[j]: (NODES[j].address, m.earned[j]) for j in range(2)})
        (final,) = events(st_, "EpochFinalized", c.settle(epoch, tree, total))
        assert final["emission"] == max(0, total - pool) and final["carry"] == max(0, pool - total)
        m.minted += final["emission"]
        m.carry, m.finalized = final["carry"], epoch
        for j in range(2):
            if m.received[j] < m.earned[j] and rng.random() < 0.7:
                before = c.balance(NODES[j].address)
                c.claim(tree, ids[j])
                paid = c.balance(NODES[j].address) - before
                assert paid == m.earned[j] - m.received[j]
                m.received[j] += paid
                m.paid_out += paid

    def wait() -> None:
        travel(w3, rng.choice([60, 3600, expiry // 2, expiry]))

    ops = [(fund, 35), (refund, 15), (reclaim, 15), (settle, 15), (wait, 10), (close_epoch, 10)]
    for _ in range(STEPS):
        (op,) = rng.choices([o for o, _ in ops], weights=[w for _, w in ops])
        op()
        counts[op.__name__] = counts.get(op.__name__, 0) + 1

        held = int(escrow.functions.held().call())
        assert c.balance(escrow.address) == held == m.held
        in_settlement = c.balance(st_.address) - bond
        assert m.paid_out <= m.escrowed + m.minted
        assert m.escrowed + m.minted == held + in_settlement + m.paid_out
        assert int(st_.functions.totalClaimed().call()) == sum(m.received)

    statuses = [s.status for s in m.slots.values()]
    assert all(statuses.count(s) >= 3 for s in (FUNDED, REFUNDED, SETTLED, RECLAIMED)), statuses
    assert m.finalized >= 10 and sum(m.received) > 0 and m.minted > 0, (counts, m)

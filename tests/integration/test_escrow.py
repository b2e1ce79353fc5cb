"""Only paid money is paid out, on the real anvil and the real PostgreSQL: tasks go through
``submit_task`` and ``check_fee`` against TaskEscrow, the close moves the held fees into the
epoch's pool through the settler's outbox, and the epoch settles and finalizes with nothing
minted beyond the emission asked for. Each bad fee (outside the range, missing, from another
payer, another amount, late, reclaimed before the close) gets its error or exclusion, and the
NEXT epoch still settles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from services.app.epochs import close_epoch
from services.app.escrow import FeeCheck, FeeTerms, check_fee, refund_failed_tasks
from services.app.settlement import finalize_epoch, settle_epoch
from services.app.tasks import submit_task
from services.chain.contracts import EscrowStatus, task_key
from services.content.local import LocalContentStore
from services.core.errors import Invalid
from services.core.types import (
    Answer,
    AnswerStatus,
    FeeState,
    Judgment,
    Outcome,
    PairAssignment,
    RankEntry,
    TaskStatus,
)
from services.sim.harness import ListQueue
from tests.contracts.market import MRT, operator, travel, tx
from tests.integration.test_settlement import World, market_world  # noqa: F401 - the fixture

REQUESTER = operator(70)
OTHER = operator(71)
FEE = MRT
WAIT_S = 600


class Requests:
    """A requester's tasks through the product, its fees through the real escrow."""

    def __init__(self, w: World) -> None:
        self.w, self.queue = w, ListQueue()
        self.terms = FeeTerms(w.chain.fee_range(), wait_s=WAIT_S)
        for who in (REQUESTER, OTHER):
            w.contracts.faucet(who, 20 * MRT, w.contracts.escrow.address)

    def submit(self, fee: int = FEE):
        return submit_task(
            self.w.store, self.queue, prompt="What is the capital of France?", requester="key:r",
            fee_wei=fee, swarm_size=3, payer=REQUESTER.address, fees=self.terms,
        )  # fmt: skip

    def fund(self, task_id: str, amount: int = FEE, who=REQUESTER) -> None:
        tx(self.w.session.w3, who, self.w.contracts.escrow.functions.fund(task_key(task_id), amount), "fund")

    def check(self, task_id: str, after_s: float = 0) -> FeeCheck:
        now = self.w.store.tasks.get(task_id).created_at + timedelta(seconds=after_s)
        return check_fee(self.w.store, self.queue, self.w.chain, task_id, wait_s=WAIT_S, now=now)

    def finish(self, task_id: str) -> None:
        """The round as the workers would leave it: three answers judged in pairs, a's best."""
        store, (a, b, c) = self.w.store, self.w.nodes
        pairs = [PairAssignment(c, a, b), PairAssignment(a, b, c), PairAssignment(b, a, c)]
        for node, text in ((a, "Paris"), (b, "Lyon"), (c, "Nice")):
            store.answers.put(Answer(task_id, node, AnswerStatus.OK, text, 5))
        store.rounds.start(task_id, [a, b, c], pairs)
        for p in pairs:
            store.judgments.put(Judgment(task_id, p.judge_id, p.left_id, p.right_id, Outcome.LEFT))
        ranking = (RankEntry(a, 0.7, 1), RankEntry(b, 0.2, 2), RankEntry(c, 0.1, 3))
        store.rounds.finish(task_id, a, ranking, "bt", True, None)
        store.tasks.assign_open_epoch(task_id)
        store.tasks.set_status(task_id, TaskStatus.DONE)

    def paid(self, fee: int = FEE) -> str:
        task = self.submit(fee)
        self.fund(task.id, fee)
        assert self.check(task.id) is FeeCheck.HELD
        self.finish(task.id)
        return task.id

    def settle(self, content: LocalContentStore, emission: int = 0) -> tuple[int, int]:
        """Close, propose and finalize the open epoch; (epoch, what its finalize minted)."""
        w = self.w
        closed = close_epoch(w.store, content, emission_wei=emission, escrow=w.chain)
        epoch = closed.epoch.id
        assert settle_epoch(w.store, w.chain, epoch, prove=w.prove, check=w.check).sent
        travel(w.session.w3, w.session.settlement.challenge_window_s() + 1)
        before = w.session.token.total_supply()
        assert finalize_epoch(w.store, w.chain, epoch).sent
        return epoch, w.session.token.total_supply() - before


@pytest.fixture
def r(market_world: World) -> Requests:  # noqa: F811
    return Requests(market_world)


@pytest.mark.parametrize("fee", [2**256, 10**30, -1, 1])
def test_a_fee_outside_the_escrows_range_is_refused_before_anything_is_stored(r: Requests, fee: int) -> None:
    with pytest.raises(Invalid):
        r.submit(fee)
    assert r.w.store.tasks.list() == []


def test_only_escrowed_fees_are_pooled_and_nothing_is_minted_beyond_emission(r: Requests, tmp_path) -> None:
    w = r.w
    paid = [r.paid(), r.paid(2 * FEE)]
    unpaid = r.submit()
    assert r.check(unpaid.id, after_s=5) is FeeCheck.WAITING
    content = LocalContentStore(tmp_path)
    epoch, minted = r.settle(content, emission=0)
    assert w.session.settlement.pool_of(epoch) == 3 * FEE == w.store.epochs.get(epoch).pool_wei
    assert minted == 0  # every reward came out of escrowed fees
    assert all(w.session.escrow.escrow_of(REQUESTER.address, t).status is EscrowStatus.SETTLED for t in paid)
    assert {w.store.tasks.get(t).fee_epoch for t in paid} == {epoch}
    assert w.store.tasks.get(unpaid.id).status is TaskStatus.AWAITING_FEE  # never dispatched
    assert r.queue.queued == paid


def test_bad_fees_leave_their_epoch_with_a_reason_and_the_next_epoch_settles(r: Requests, tmp_path) -> None:
    w, token, escrow = r.w, r.w.session.token, r.w.session.escrow
    content = LocalContentStore(tmp_path)

    other = r.submit()  # escrowed by another account: never counts for this payer
    r.fund(other.id, FEE, who=OTHER)
    assert r.check(other.id, after_s=10) is FeeCheck.WAITING
    assert r.check(other.id, after_s=WAIT_S) is FeeCheck.FAILED
    assert w.store.tasks.get(other.id).fee_state is FeeState.UNPAID
    assert escrow.escrow_of(OTHER.address, other.id).status is EscrowStatus.FUNDED  # OTHER's own

    wrong = r.submit()  # another amount: refunded at once
    before = token.balance_of(REQUESTER.address)
    r.fund(wrong.id, 2 * FEE)
    assert r.check(wrong.id) is FeeCheck.FAILED
    assert token.balance_of(REQUESTER.address) == before
    assert w.store.tasks.get(wrong.id).fee_state is FeeState.REFUNDED

    late = r.submit()  # paid after its deadline: refunded by the sweep
    assert r.check(late.id, after_s=WAIT_S) is FeeCheck.FAILED
    r.fund(late.id)
    assert refund_failed_tasks(w.store, w.chain) == [late.id]
    assert escrow.escrow_of(REQUESTER.address, late.id).status is EscrowStatus.REFUNDED

    kept = r.paid()
    gone = r.paid()  # the payer waits out the expiry and takes its fee back before the close
    travel(w.session.w3, escrow.expiry_s() + 1)
    tx(w.session.w3, REQUESTER, w.contracts.escrow.functions.reclaim(task_key(gone)), "reclaim")

    first, minted = r.settle(content)
    assert minted == 0 and w.session.settlement.pool_of(first) == FEE
    left = w.store.tasks.get(gone)
    assert left.fee_state is FeeState.MISSING and left.fee_note
    assert w.store.tasks.get(kept).fee_state is FeeState.MOVED

    nxt = r.paid()
    second, minted = r.settle(content)
    assert second == first + 1 and minted == 0
    assert w.session.settlement.pool_of(second) == FEE and w.store.tasks.get(nxt).fee_epoch == second
    assert w.session.settlement.last_finalized_epoch() == second


def test_a_retried_move_reads_the_first_receipt_and_sends_nothing(r: Requests, tmp_path) -> None:
    w = r.w
    task = r.paid()
    epoch = w.store.epochs.current().id
    items = [(REQUESTER.address, task)]
    first = w.chain.move_fees(f"fees:31337:{epoch}", epoch, items)
    nonce = w.session.w3.eth.get_transaction_count(w.chain.sender("settler").address)
    again = w.chain.move_fees(f"fees:31337:{epoch}", epoch, items)
    assert again == first and dict(first.moved) == {task: FEE}
    assert w.session.w3.eth.get_transaction_count(w.chain.sender("settler").address) == nonce
    closed = close_epoch(w.store, LocalContentStore(tmp_path), escrow=w.chain)
    assert closed.epoch.pool_wei == FEE and w.store.tasks.get(task).fee_state is FeeState.MOVED


def test_a_fee_found_held_on_the_dev_chain_is_saved_before_it_is_reported(r: Requests, tmp_path) -> None:
    """The fee check dispatches a task on a fee it found held: on the dev chain, the chain's state
    is saved with that fee before held_wei reports it (services.chain.durable)."""
    from services.chain.durable import ChainPersister
    from services.chain.settlement import ChainSettlement

    w3 = r.w.session.w3
    keeper = ChainPersister(w3.provider.endpoint_uri, tmp_path / "anvil" / "state.json")
    chain = ChainSettlement(r.w.session, {}, r.w.store.outbox, keeper)
    task = r.submit()
    assert chain.held_wei(REQUESTER.address, task.id) == 0 and keeper.held() == -1  # nothing to keep
    r.fund(task.id)
    funded_in = w3.eth.block_number
    assert chain.held_wei(REQUESTER.address, task.id) == FEE
    assert keeper.held() >= funded_in and keeper.state_file.exists()

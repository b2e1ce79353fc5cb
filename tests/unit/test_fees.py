"""Only paid money is paid out, through the product's use cases on the in-memory ports: a task's
fee must be within the escrow's range and held by its own payer before its round is dispatched;
an epoch pools exactly what moved out of the escrow into it; a task whose fee cannot be paid, or
is gone at the close, leaves its epoch with a reason (refunded where money was held), and the
next epoch still closes."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from services.app import rounds
from services.app.bundles import load_bundle
from services.app.epochs import close_epoch
from services.app.escrow import FeeCheck, FeeTerms, check_fee, refund_failed_tasks
from services.app.tasks import submit_task
from services.core.errors import Invalid
from services.core.types import FeeState, NewNode, NodeKind, NodeStatus, TaskStatus, Wei
from services.inmemory import MemoryContent, MemoryStore
from services.inmemory.escrow import MemoryEscrow
from services.sim.harness import ListQueue, sim_node
from services.sim.world import Behaviour, SimNodes, World

PAYER = "0x" + "a1" * 20
OTHER = "0x" + "b2" * 20
FEE = 10**16
WAIT_S = 600


class Market:
    """One marketplace on the in-memory ports, with five simulated nodes."""

    def __init__(self, seed: int = 1) -> None:
        ids = random.Random(seed)
        self.store = MemoryStore(new_id=lambda: uuid.UUID(int=ids.getrandbits(128), version=4))
        self.queue, self.escrow, self.content = ListQueue(), MemoryEscrow(), MemoryContent()
        self.terms = FeeTerms(self.escrow.fee_range(), wait_s=WAIT_S)
        self.world = World(seed)
        self.nodes = SimNodes(self.world)
        for i in range(5):
            self.world.behaviours[f"n{i}"] = Behaviour(0.8, 0.8)
            node = self.store.nodes.add(sim_node(f"n{i}", 10))
            self.store.nodes.set_status(node.id, NodeStatus.ACTIVE)

    def submit(self, fee: int = FEE, payer: str | None = PAYER):
        q = self.world.question()
        return submit_task(
            self.store, self.queue, prompt=q.text, requester="key:r", fee_wei=fee, swarm_size=4,
            options=list(q.options), payer=payer, fees=self.terms,
        )  # fmt: skip

    def check(self, task_id, *, after_s: float = 0.0) -> FeeCheck:
        now = self.store.tasks.get(task_id).created_at + timedelta(seconds=after_s)
        return check_fee(self.store, self.queue, self.escrow, task_id, wait_s=WAIT_S, now=now)

    def paid(self, fee: int = FEE):
        """A task whose payer escrowed its fee; dispatched and played to the end."""
        task = self.submit(fee)
        self.escrow.fund(PAYER, task.id, fee)
        assert self.check(task.id) is FeeCheck.HELD
        self.play(task.id)
        return task

    def play(self, task_id) -> None:
        rounds.run_round(self.store, self.nodes, task_id, min_answers=3)
        assert self.store.tasks.get(task_id).status is TaskStatus.DONE

    def free(self):
        """A free task (no fee), played to the end."""
        task = self.submit(0, payer=None)
        self.play(task.id)
        return task

    def close(self, emission: int = 0):
        return close_epoch(self.store, self.content, emission_wei=emission, escrow=self.escrow)


@pytest.mark.parametrize(
    "fee, hint",
    [
        (2**256, "range"),
        (10**30, "range"),
        (1000 * 10**18 + 1, "range"),
        (10**15 - 1, "range"),
        (-1, "negative"),
    ],
)
def test_a_fee_outside_the_range_is_refused_and_nothing_is_stored(fee, hint):
    m = Market()
    with pytest.raises(Invalid) as caught:
        m.submit(fee)
    assert hint in (caught.value.detail + (caught.value.hint or ""))
    assert m.store.tasks.list() == [] and not m.queue.queued and not m.queue.fee_checks


def test_a_fee_needs_its_payer_and_a_marketplace_without_escrow_takes_only_free_tasks():
    m = Market()
    with pytest.raises(Invalid, match="payer"):
        m.submit(FEE, payer=None)
    with pytest.raises(Invalid, match="payer"):
        m.submit(FEE, payer="0x1234")
    q = m.world.question()
    with pytest.raises(Invalid, match="no escrow"):
        submit_task(m.store, m.queue, prompt=q.text, requester="r", fee_wei=FEE, swarm_size=4, payer=PAYER)
    free = submit_task(m.store, m.queue, prompt=q.text, requester="r", fee_wei=0, swarm_size=4)
    assert free.fee_state is FeeState.FREE and free.status is TaskStatus.QUEUED and m.queue.queued == [free.id]
    with pytest.raises(Invalid, match="no free tasks"):
        submit_task(m.store, m.queue, prompt=q.text, requester="r", fee_wei=0, swarm_size=4,
                    fees=FeeTerms(m.escrow.fee_range(), free_tasks=False))  # fmt: skip


def test_a_task_is_dispatched_only_once_its_own_payer_holds_the_fee():
    m = Market()
    task = m.submit()
    assert task.status is TaskStatus.AWAITING_FEE and task.fee_state is FeeState.AWAITING
    assert m.queue.fee_checks == [task.id] and m.queue.queued == []
    assert rounds.choose_swarm(m.store, task.id, min_answers=3) == []  # a stray dispatch does nothing
    assert m.check(task.id, after_s=5) is FeeCheck.WAITING and m.queue.queued == []
    m.escrow.fund(OTHER, task.id, FEE)  # another account's deposit for the same task id
    assert m.check(task.id, after_s=10) is FeeCheck.WAITING and m.queue.queued == []
    m.escrow.fund(PAYER, task.id, FEE)
    assert m.check(task.id, after_s=11) is FeeCheck.HELD and m.queue.queued == [task.id]
    assert m.store.tasks.get(task.id).fee_state is FeeState.HELD
    assert m.check(task.id, after_s=12) is FeeCheck.HELD  # a redelivered check queues it again only
    m.play(task.id)


def test_a_fee_never_escrowed_fails_the_task_and_one_escrowed_late_is_refunded():
    m = Market()
    task = m.submit()
    m.escrow.fund(OTHER, task.id, FEE)
    assert m.check(task.id, after_s=WAIT_S) is FeeCheck.FAILED
    failed = m.store.tasks.get(task.id)
    assert failed.status is TaskStatus.FAILED and failed.fee_state is FeeState.UNPAID
    assert f"within {WAIT_S} s" in (failed.error or "") and m.queue.queued == []
    assert m.escrow.held_wei(OTHER, task.id) == FEE  # the other account's money stays its own
    m.escrow.fund(PAYER, task.id, FEE)  # the payer pays after the deadline
    assert refund_failed_tasks(m.store, m.escrow) == [task.id]
    assert m.escrow.paid_back[PAYER] == FEE and m.store.tasks.get(task.id).fee_state is FeeState.REFUNDED
    assert refund_failed_tasks(m.store, m.escrow) == []  # once


def test_another_amount_escrowed_fails_the_task_and_is_refunded_at_once():
    m = Market()
    task = m.submit()
    m.escrow.fund(PAYER, task.id, 2 * FEE)
    assert m.check(task.id) is FeeCheck.FAILED
    t = m.store.tasks.get(task.id)
    assert t.status is TaskStatus.FAILED and t.fee_state is FeeState.REFUNDED
    assert m.escrow.paid_back[PAYER] == 2 * FEE and m.escrow.held_total == 0


def test_the_pool_is_what_moved_out_of_the_escrow_plus_emission():
    m = Market()
    paid = [m.paid(FEE * (i + 1)) for i in range(3)]
    m.free()
    closed = m.close(emission=7)
    assert closed.epoch.pool_wei == m.escrow.pools[closed.epoch.id] + 7 == 6 * FEE + 7
    assert sum(n.reward for n in closed.result.nodes) + closed.result.carried == closed.epoch.pool_wei
    assert all(m.store.tasks.get(t.id).fee_state is FeeState.MOVED for t in paid)
    assert {m.store.tasks.get(t.id).fee_epoch for t in paid} == {closed.epoch.id}
    doc = load_bundle(m.content, closed.epoch.audit_cid)
    assert doc["minted_wei"] == "7"
    assert sorted(int(f["fee_wei"]) for f in doc["fees_moved"]) == [FEE, 2 * FEE, 3 * FEE]
    assert {f["payer"] for f in doc["fees_moved"]} == {PAYER}


def test_a_fee_gone_at_the_close_is_left_out_with_its_reason_and_the_next_epoch_closes():
    m = Market()
    kept, gone = m.paid(), m.paid()
    m.escrow.now += m.escrow.expiry_s  # the payer waits out the expiry and takes the fee back
    m.escrow.reclaim(PAYER, gone.id)
    first = m.close()
    assert first.epoch.pool_wei == m.escrow.pools[first.epoch.id] == FEE
    left = m.store.tasks.get(gone.id)
    assert left.fee_state is FeeState.MISSING and "no longer held" in (left.fee_note or "")
    doc = load_bundle(m.content, first.epoch.audit_cid)
    assert [(u["task_id"], u["fee_state"]) for u in doc["fees_unpooled"]] == [(gone.id, "missing")]
    assert next(t for t in doc["tasks"] if t["task_id"] == gone.id)["fee_wei"] == "0"
    assert m.store.tasks.get(kept.id).fee_state is FeeState.MOVED
    m.paid()
    second = m.close()
    assert second.epoch.id == first.epoch.id + 1 and second.epoch.pool_wei == FEE


def test_a_fee_that_did_not_move_with_its_epoch_is_swept_into_the_next_pool():
    m = Market()
    early = m.paid()
    late = m.submit()
    m.escrow.fund(PAYER, late.id, FEE)
    assert m.check(late.id) is FeeCheck.HELD
    # the epoch's move was sent before the late task finished (a close that is retried finds it)
    epoch = m.store.epochs.current().id
    m.escrow.move_fees(f"fees:{m.escrow.chain_id}:{epoch}", epoch, [(PAYER, early.id)])
    m.play(late.id)
    first = m.close()
    assert first.epoch.pool_wei == FEE and m.store.tasks.get(late.id).fee_state is FeeState.HELD
    assert m.store.tasks.get(late.id).epoch_id == first.epoch.id
    m.paid()
    second = m.close()
    assert second.epoch.pool_wei == m.escrow.pools[second.epoch.id] == 2 * FEE
    assert m.store.tasks.get(late.id).fee_epoch == second.epoch.id
    swept = load_bundle(m.content, second.epoch.audit_cid)
    assert {f["task_id"]: f["task_epoch"] for f in swept["fees_moved"]}[late.id] == first.epoch.id
    assert int(swept["emission_wei"]) == FEE  # the swept fee is split beside emission


def test_paid_out_never_exceeds_escrowed_plus_emission_over_many_epochs():
    """A random mix of paid, unpaid, mis-paid, reclaimed and free tasks over five epochs."""
    m, rng = Market(7), random.Random(7)
    emitted = 0
    for _ in range(5):
        for _ in range(8):
            kind = rng.choice(["paid", "paid", "unpaid", "wrong", "free", "reclaimed"])
            if kind == "free":
                m.free()
            elif kind == "unpaid":
                m.check(m.submit().id, after_s=WAIT_S)
            elif kind == "wrong":
                t = m.submit()
                m.escrow.fund(PAYER, t.id, FEE + 1)
                m.check(t.id)
            else:
                t = m.paid(rng.randrange(10**15, 10**17))
                if kind == "reclaimed":
                    m.escrow.now += m.escrow.expiry_s
                    m.escrow.reclaim(PAYER, t.id)
        emission = rng.randrange(0, 10**16)
        emitted += emission
        closed = m.close(emission)
        assert closed.epoch.pool_wei == m.escrow.pools.get(closed.epoch.id, 0) + emission
    paid_out = sum(r.reward_wei for e in m.store.epochs.list() for r in m.store.epochs.nodes(e.id))
    assert paid_out <= sum(m.escrow.pools.values()) + emitted


def test_a_pool_the_proof_could_never_settle_is_refused_and_the_epoch_stays_open():
    m = Market()
    task = m.paid()
    epoch = m.store.epochs.current().id
    with pytest.raises(Invalid, match="2\\^96"):
        m.close(emission=2**96)
    assert m.store.epochs.current().id == epoch and m.store.epochs.get(epoch).audit_cid is None
    assert m.store.tasks.get(task.id).fee_state is FeeState.MOVED  # the move stands for the retry
    closed = m.close(emission=10**18)
    assert closed.epoch.id == epoch and closed.epoch.pool_wei == FEE + 10**18


def test_a_refund_whose_recording_was_cut_short_is_recorded_on_the_next_look():
    """The chain worker killed after the refund's receipt but before the task's fee was marked
    refunded: the next refund pass finds its own refund (the same intent) and records it, and
    sends nothing again."""
    m = Market()
    task = m.submit()
    m.escrow.fund(PAYER, task.id, FEE)
    assert m.check(task.id) is FeeCheck.HELD
    rounds.fail(m.store, task.id, "a node fault")
    m.escrow.refund(f"refund:{m.escrow.chain_id}:{task.id}", PAYER, task.id)  # ... and the worker died
    assert m.store.tasks.get(task.id).fee_state is FeeState.HELD and m.escrow.held_wei(PAYER, task.id) == 0
    assert refund_failed_tasks(m.store, m.escrow) == [task.id]
    assert m.store.tasks.get(task.id).fee_state is FeeState.REFUNDED and m.escrow.paid_back[PAYER] == FEE
    other = m.submit()  # a held fee gone for another reason (reclaimed) is not marked refunded
    m.escrow.fund(PAYER, other.id, FEE)
    assert m.check(other.id) is FeeCheck.HELD
    rounds.fail(m.store, other.id, "a node fault")
    m.escrow.now = m.escrow.expiry_s + 1
    m.escrow.reclaim(PAYER, other.id)
    assert refund_failed_tasks(m.store, m.escrow) == []
    assert m.store.tasks.get(other.id).fee_state is FeeState.HELD

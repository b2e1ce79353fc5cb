"""The reconciler drives on what was left behind, on the real anvil and PostgreSQL: a proposed epoch
whose finalize was lost is finalized once its window has passed (and not before); running it again
sends nothing."""

from __future__ import annotations

from services.app.recovery import finalize_due
from services.app.settlement import settle_epoch
from services.broker.celery_app import create_celery
from services.core.settlement import SettlementStatus
from tests.contracts.market import MRT, SETTLER, travel
from tests.integration.test_settlement import World, _close, market_world  # noqa: F401 (a fixture)
from services.settings import Settings


def test_a_proposed_epoch_whose_finalize_was_lost_is_finalized_once_its_window_passed(
    market_world: World,  # noqa: F811
) -> None:
    w = market_world
    a, b, _ = w.nodes
    e1 = _close(w.store, {a: 2 * MRT, b: MRT}, {})
    assert settle_epoch(w.store, w.chain, e1, prove=w.prove, check=w.check).sent  # its finalize task: lost
    assert finalize_due(w.store, w.chain)[0].message.startswith("not yet")  # the window is open
    assert w.store.settlements.get(e1).status is SettlementStatus.PROPOSED

    travel(w.session.w3, w.session.settlement.challenge_window_s() + 1)
    (done,) = finalize_due(w.store, w.chain)
    assert done.sent and done.settlement.status is SettlementStatus.FINALIZED
    assert w.session.settlement.last_finalized_epoch() == e1

    nonce = w.session.w3.eth.get_transaction_count(SETTLER.address)
    assert finalize_due(w.store, w.chain) == []  # nothing waits any more
    assert w.session.w3.eth.get_transaction_count(SETTLER.address) == nonce


def test_beat_runs_the_reconciler_every_minute(tmp_path) -> None:
    schedule = create_celery(Settings(env="test", data_dir=tmp_path)).conf.beat_schedule
    assert schedule["reconcile"] == {"task": "merit.chain.reconcile", "schedule": 60.0}


# ------------------------------------------------------------------ stalled tasks
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from services.app import rounds  # noqa: E402
from services.app.escrow import refund_if_failed  # noqa: E402
from services.app.recovery import Drive, TaskRecovery, drive_stalled_tasks  # noqa: E402
from services.core.types import Answer, AnswerStatus, FeeState, NewTask, TaskStatus, Wei  # noqa: E402
from services.inmemory.escrow import MemoryEscrow  # noqa: E402
from services.sim.harness import ListQueue  # noqa: E402

TERMS = TaskRecovery(stall_s=80, max_redrives=2, fee_wait_s=600, max_backlog=10)
PAYER = "0x" + "d4" * 20


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def add_task(store, *, fee: int = 0, status: TaskStatus | None = None):
    t = store.tasks.add(
        NewTask(prompt="What is 2+2?", requester="key:t", fee_wei=Wei(fee), swarm_size=4, payer=PAYER if fee else None)
    )
    if status is not None:
        store.tasks.set_status(t.id, status)
    return store.tasks.get(t.id)


def test_a_task_stalled_past_the_deadline_is_driven_on_once_per_stall_then_failed(store, registered_nodes):
    queue, escrow = ListQueue(), MemoryEscrow()
    stuck = add_task(store, status=TaskStatus.ANSWERING)
    moving = add_task(store, status=TaskStatus.ANSWERING)
    fresh = add_task(store)  # queued just now

    assert drive_stalled_tasks(store, queue, escrow, TERMS) == []  # nothing has waited 80 s
    time.sleep(1.2)
    # an answer stored within the window is progress: that round is not stalled
    store.answers.put(Answer(moving.id, registered_nodes[0].id, AnswerStatus.OK, "4", 1))
    short = TaskRecovery(stall_s=1, max_redrives=2, fee_wait_s=600, max_backlog=10)
    driven = drive_stalled_tasks(store, queue, escrow, short)
    assert {d.task_id: d.drive for d in driven} == {stuck.id: Drive.RESUMED, fresh.id: Drive.RESUMED}
    assert queue.resumed == [stuck.id, fresh.id]  # the longest-stalled first
    assert drive_stalled_tasks(store, queue, escrow, short) == []  # a re-drive restarts the clock

    for n in (1, 2):  # it never moves: re-driven up to the limit, then failed with the reason
        (d,) = [d for d in drive_stalled_tasks(store, queue, escrow, TERMS, now=later(n * (TERMS.stall_s + 1) + 90))
                if d.task_id == stuck.id]
        assert d.drive is (Drive.RESUMED if n == 1 else Drive.FAILED)
    failed = store.tasks.get(stuck.id)
    assert failed.status is TaskStatus.FAILED
    assert failed.error.startswith("stuck while answering: no progress since") and "after 2 re-drives" in failed.error


def test_a_change_of_state_resets_the_count_of_re_drives(store, registered_nodes):
    queue = ListQueue()
    task = add_task(store, status=TaskStatus.ANSWERING)
    drive_stalled_tasks(store, queue, None, TERMS, now=later(TERMS.stall_s + 1))
    store.tasks.set_status(task.id, TaskStatus.JUDGING)  # the re-drive worked: it moved
    (s,) = store.tasks.stalled(later(TERMS.stall_s + 1))
    assert (s.task.id, s.redrives) == (task.id, 0)


def test_rounds_are_not_re_driven_while_the_queues_hold_a_backlog(store, registered_nodes):
    queue = ListQueue()
    queue.queued = [f"waiting-{i}" for i in range(TERMS.max_backlog + 1)]
    task = add_task(store, status=TaskStatus.JUDGING)
    (d,) = drive_stalled_tasks(store, queue, None, TERMS, now=later(TERMS.stall_s + 1))
    assert (d.task_id, d.drive) == (task.id, Drive.BACKLOG) and queue.resumed == []
    assert store.tasks.stalled(later(TERMS.stall_s + 1))[0].redrives == 0  # not counted


def test_a_fee_check_is_done_again_and_a_task_past_its_deadline_fails(store, registered_nodes):
    queue, escrow = ListQueue(), MemoryEscrow()
    paid = add_task(store, fee=10**16)
    unpaid = add_task(store, fee=10**16)
    escrow.fund(PAYER, paid.id, 10**16)  # its chain of fee checks was lost
    assert paid.status is TaskStatus.AWAITING_FEE
    driven = drive_stalled_tasks(store, queue, escrow, TERMS, now=later(TERMS.stall_s + 1))
    assert {d.task_id: d.drive for d in driven} == {paid.id: Drive.DISPATCHED, unpaid.id: Drive.FEE_WAITING}
    assert queue.queued == [paid.id] and queue.fee_checks == []  # no second chain of looks
    assert store.tasks.get(paid.id).fee_state is FeeState.HELD

    driven = drive_stalled_tasks(store, queue, escrow, TERMS, now=later(TERMS.fee_wait_s + 1))
    assert {d.task_id: d.drive for d in driven}[unpaid.id] is Drive.FEE_FAILED
    assert store.tasks.get(unpaid.id).status is TaskStatus.FAILED


def test_a_held_fee_of_a_task_failed_for_being_stuck_is_refunded(store, registered_nodes):
    queue, escrow = ListQueue(), MemoryEscrow()
    task = add_task(store, fee=10**16)
    escrow.fund(PAYER, task.id, 10**16)
    drive_stalled_tasks(store, queue, escrow, TERMS, now=later(TERMS.stall_s + 1))  # dispatched
    rounds.choose_swarm(store, task.id, min_answers=3)  # answering; then nothing more happens
    terms = TaskRecovery(stall_s=80, max_redrives=0, fee_wait_s=600, max_backlog=10)
    (d,) = drive_stalled_tasks(store, queue, escrow, terms, now=later(2 * TERMS.stall_s))
    assert d.drive is Drive.FAILED
    assert refund_if_failed(store, escrow, task.id) is not None  # what merit.round.reconcile queues
    assert store.tasks.get(task.id).fee_state is FeeState.REFUNDED and escrow.held_wei(PAYER, task.id) == 0


def test_beat_runs_the_task_reconciler_every_5_s(tmp_path) -> None:
    schedule = create_celery(Settings(env="test", data_dir=tmp_path)).conf.beat_schedule
    assert schedule["reconcile-tasks"] == {"task": "merit.round.reconcile", "schedule": 5.0}

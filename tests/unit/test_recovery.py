"""The task reconciler on the in-memory ports with a clock of its own: a task awaiting its fee is
looked at once per stall (its deadline ends its wait, not a count of re-drives), a stalled round
once per stall until the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.app.recovery import Drive, TaskRecovery, drive_stalled_tasks
from services.core.types import NewTask, TaskStatus, Wei
from services.inmemory import MemoryStore
from services.inmemory.escrow import MemoryEscrow
from services.sim.harness import ListQueue

PAYER = "0x" + "e5" * 20
TERMS = TaskRecovery(stall_s=45, max_redrives=3, fee_wait_s=600, max_backlog=200)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def test_a_task_awaiting_its_fee_is_looked_at_once_per_stall_until_its_deadline():
    clock = Clock()
    store, queue, escrow = MemoryStore(clock=clock), ListQueue(), MemoryEscrow()
    task = store.tasks.add(NewTask("q", "key:r", Wei(10**16), 4, payer=PAYER))
    assert drive_stalled_tasks(store, queue, escrow, TERMS, now=clock.advance(46))[0].drive is Drive.FEE_WAITING
    assert drive_stalled_tasks(store, queue, escrow, TERMS, now=clock.advance(5)) == []  # the next run
    looks = [drive_stalled_tasks(store, queue, escrow, TERMS, now=clock.advance(46)) for _ in range(10)]
    assert all(d[0].drive is Drive.FEE_WAITING for d in looks)  # never failed for being "stuck"
    (last,) = drive_stalled_tasks(store, queue, escrow, TERMS, now=clock.advance(600))
    assert last.drive is Drive.FEE_FAILED and store.tasks.get(task.id).status is TaskStatus.FAILED


def test_a_stalled_round_is_re_driven_once_per_stall_then_failed():
    clock = Clock()
    store, queue = MemoryStore(clock=clock), ListQueue()
    task = store.tasks.add(NewTask("q", "key:r", Wei(0), 4))
    store.tasks.set_status(task.id, TaskStatus.JUDGING)
    drives = []
    for _ in range(4):
        drives += [d.drive for d in drive_stalled_tasks(store, queue, None, TERMS, now=clock.advance(10))]
        drives += [d.drive for d in drive_stalled_tasks(store, queue, None, TERMS, now=clock.advance(36))]
    assert drives == [Drive.RESUMED] * 3 + [Drive.FAILED]
    assert queue.resumed == [task.id] * 3
    assert "after 3 re-drives" in (store.tasks.get(task.id).error or "")

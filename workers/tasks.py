"""Round tasks: thin; each takes ids, calls one use case, and starts the next step.

dispatch -> chord(infer per node) -> plan_judging -> chord(judge per judge) -> rank
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import chord, shared_task

from services.app import epochs, rounds
from services.app.epochs import EpochEmpty
from services.core.errors import BrokerUnavailable, ChainUnavailable, StoreUnavailable
from services.core.types import NodeId, TaskId
from services.settings import Settings
from workers.container import container
from zk.prover import ProverFailed

# the database comes back (merit up restarts it): until then a step waits, never fails for it
_RETRY: dict[str, Any] = {
    "autoretry_for": (StoreUnavailable,),
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": None,
}


FINALIZE_RECHECK_MAX_S = 300  # a finalize waiting for a long window looks again this often


def _on_error(task_id: str, step: str) -> Any:
    return fail.si(task_id, f"{step} failed on a worker; see the worker log")


@shared_task(name="merit.round.dispatch", bind=True, **_RETRY)
def dispatch(self: Any, task_id: str) -> list[NodeId]:
    c = container()
    node_ids = rounds.choose_swarm(c.store, TaskId(task_id), min_answers=c.settings.min_answers)
    if node_ids:  # one entry per seat
        _answer(task_id, node_ids)
    elif _redelivered(self):  # its worker died, maybe halfway through starting the answers
        _resume(task_id)
    else:
        _refund_if_failed(task_id)
    return node_ids


def _redelivered(task: Any) -> bool:
    """Whether this delivery is the broker's second: the worker that took the first died before
    acknowledging it, maybe after the step's state changed but before its next steps were sent."""
    return bool((task.request.delivery_info or {}).get("redelivered"))


def _answer(task_id: str, seats: list[NodeId] | list[int]) -> None:
    """Ask each seated node (once per node), then plan the judging."""
    body = plan_judging.si(task_id, [int(n) for n in seats]).on_error(
        _on_error(task_id, "answering")
    )
    chord([infer.si(task_id, int(n)) for n in sorted(set(seats))])(body)


def _judge(task_id: str, judges: list[NodeId] | list[int], step: str) -> None:
    """Ask each judge its pairs, then rank."""
    body = rank.si(task_id).on_error(_on_error(task_id, step))
    chord([judge.si(task_id, int(j)) for j in judges])(body)


@shared_task(name="merit.round.resume", **_RETRY)
def resume(task_id: str) -> str:
    """Drive a stalled round on from where it stands (queued by the reconciler); the step."""
    return _resume(task_id)


def _resume(task_id: str) -> str:
    c = container()
    plan = rounds.resume(c.store, TaskId(task_id), min_answers=c.settings.min_answers)
    if plan.step is rounds.Step.ANSWER:
        _answer(task_id, list(plan.nodes))
    elif plan.step is rounds.Step.JUDGE:
        _judge(task_id, list(plan.nodes), "judging")
    elif plan.step is rounds.Step.RANK:
        rank.delay(task_id)
    else:
        _refund_if_failed(task_id)
    return plan.step.value


@shared_task(name="merit.round.reconcile")
def reconcile() -> dict[str, int]:
    """Drive on the tasks left without progress (periodic, idempotent): a fee check again, a
    round resumed, a task that does not move failed with the reason and its fee refunded; how many
    of each. A failure waits for the next run."""
    from services.app.recovery import Drive, TaskRecovery, drive_stalled_tasks

    c = container()
    s = c.settings
    try:
        escrow = c.chain()
    except ChainUnavailable:  # fee checks wait for the chain; rounds need none
        escrow = None
    terms = TaskRecovery(
        s.effective_task_stall_s, s.task_redrives, s.fee_wait_s, s.reconcile_max_backlog
    )
    driven = drive_stalled_tasks(c.store, c.queue, escrow, terms)
    for d in driven:
        if d.drive in (Drive.FAILED, Drive.FEE_FAILED):
            refund_task.delay(d.task_id)
    counts: dict[str, int] = {}
    for d in driven:
        counts[d.drive.value] = counts.get(d.drive.value, 0) + 1
    return counts


@shared_task(
    name="merit.round.await_fee",
    **{
        **_RETRY,
        "autoretry_for": (StoreUnavailable, ChainUnavailable, BrokerUnavailable),
        "max_retries": None,
    },
)
def await_fee(task_id: str) -> str:
    """Dispatch the task once its payer's escrow holds its fee; look again later until the
    deadline (MERIT_FEE_WAIT_S), then fail it."""
    from services.app.escrow import check_fee

    c = container()
    return check_fee(
        c.store, c.queue, c.chain(), TaskId(task_id), wait_s=c.settings.fee_wait_s
    ).value


@shared_task(name="merit.round.gold", **_RETRY)
def gold(beside: str) -> str | None:
    """Make the hidden gold task due beside requester task ``beside`` (sent with its delay)."""
    from services.app.gold import mix_in_gold

    c = container()
    made = mix_in_gold(c.store, c.queue, c.store.tasks.get(TaskId(beside)), c.bank)
    return None if made is None else made.id


@shared_task(name="merit.round.infer", **_RETRY)
def infer(task_id: str, node_id: int) -> str:
    c = container()
    return rounds.collect_answer(c.store, c.nodes, TaskId(task_id), NodeId(node_id)).status.value


@shared_task(name="merit.round.plan_judging", bind=True, **_RETRY)
def plan_judging(self: Any, task_id: str, node_ids: list[int]) -> list[NodeId] | None:
    c = container()
    judges = rounds.plan_judging(
        c.store, TaskId(task_id), [NodeId(n) for n in node_ids], min_answers=c.settings.min_answers
    )
    if judges:
        _judge(task_id, judges, "judging")
    elif judges is None and _redelivered(self):
        # planned by a worker that died, maybe before its judges went out
        _resume(task_id)
    elif judges is None:  # failed here (refund), or planned before (its judges are under way)
        _refund_if_failed(task_id)
    else:  # the swarm agreed: nothing to judge
        rank.delay(task_id)
    return judges


@shared_task(name="merit.round.judge", bind=True, **_RETRY)
def judge(self: Any, task_id: str, judge_id: int) -> int:
    """Ask the judge its pairs; a step that ran out of time (``judge_budget_s``) goes on with the
    pairs left in a delivery of its own (its chord waits), so no delivery outlives the broker's
    visibility timeout."""
    c = container()
    done = rounds.judge_within(
        c.store, c.nodes, TaskId(task_id), NodeId(judge_id), budget_s=c.settings.judge_budget_s
    )
    if done.unasked:
        raise self.retry(countdown=0)
    return len(done.made)


@shared_task(name="merit.round.rank", **_RETRY)
def rank(task_id: str) -> list[NodeId]:
    """Rank the round; when the top two still overlap, judge the recruited pairs and rank again."""
    judges = rounds.rank(container().store, TaskId(task_id))
    if judges:
        _judge(task_id, judges, "recruited judging")
    return judges


@shared_task(name="merit.round.fail")
def fail(task_id: str, reason: str) -> None:
    rounds.fail(container().store, TaskId(task_id), reason)
    refund_task.delay(task_id)


def _refund_if_failed(task_id: str) -> bool:
    """Refund the task's fee when it failed; whether it did."""
    from services.core.types import TaskStatus

    if container().store.tasks.get(TaskId(task_id)).status is TaskStatus.FAILED:
        refund_task.delay(task_id)
        return True
    return False


@shared_task(name="merit.chain.refund_task", **_RETRY)
def refund_task(task_id: str) -> str | None:
    """Refund a failed task's escrowed fee on chain (idempotent); the tx hash, or None."""
    from services.app.escrow import refund_if_failed

    c = container()
    if c.store.tasks.get(TaskId(task_id)).payer is None:
        return None  # a free task: nothing was escrowed
    return refund_if_failed(c.store, c.chain(), TaskId(task_id))


@shared_task(name="merit.chain.refund_failed", **_RETRY)
def refund_failed() -> list[str]:
    """Refund what the escrow holds for recent failed tasks (periodic: a fee escrowed after its
    task failed goes back to its payer); the refunded task ids."""
    from services.app.escrow import refund_failed_tasks

    c = container()
    if not any(t.payer for t in c.store.tasks.list(limit=500)):
        return []
    return refund_failed_tasks(c.store, c.chain())


@shared_task(name="merit.epoch.close", **_RETRY)
def close_epoch(emission_wei: str = "0", settle: bool = False) -> int | None:
    """Close the open epoch (periodic from beat, or on demand); its id, or None when it is empty.
    With ``settle``, the closed epoch is then proved (zk queue), proposed (chain queue) and
    finalized once its challenge window has passed."""
    c = container()
    try:
        closed = epochs.close_epoch(
            c.store,
            c.content,
            emission_wei=int(emission_wei),
            bank=c.bank,
            escrow=c.escrow_for_close(),
        )
        epoch_id = int(closed.epoch.id)
    except EpochEmpty:
        return None  # nothing finished this period: the epoch stays open
    commit_gold.delay()  # the next epoch's gold set, on chain before its first task
    if settle:
        (prove_epoch.si(epoch_id) | settle_epoch.si(epoch_id)).delay()
    return epoch_id


@shared_task(name="merit.chain.commit_gold", **_RETRY)
def commit_gold() -> str | None:
    """Draw the open epoch's gold set and commit its root on chain (idempotent); the tx hash."""
    from services.app.gold import commit_gold_set

    c = container()
    return commit_gold_set(c.store, c.chain(), c.bank)


@lru_cache(maxsize=1)
def _epoch_prover() -> Any:
    """The worker process's warm prover and verifying key, made once."""
    from services.app.bundles import load_bundle
    from zk.epoch_proof import EpochProver

    return EpochProver(lambda cid: load_bundle(container().content, cid))


@shared_task(
    name="merit.zk.prove_epoch",
    **{**_RETRY, "autoretry_for": (StoreUnavailable, ProverFailed), "max_retries": 2},
)
def prove_epoch(epoch_id: int) -> str:
    """Prove closed epoch ``epoch_id``'s settlement and check the proof with py_ecc before any gas
    is spent (a prover crash is retried); the proof's status ("verified" or "rejected")."""
    from services.app.settlement import prove_settlement

    c = container()
    prover = _epoch_prover()
    s = prove_settlement(
        c.store, c.chain(), epoch_id,
        prove=prover.prove, check=prover.check,
    )  # fmt: skip
    return s.proof_status.value


@shared_task(name="merit.chain.settle_epoch", **_RETRY)
def settle_epoch(epoch_id: int) -> str:
    """Propose closed epoch ``epoch_id`` on chain with its verified proof (idempotent); its
    settlement status. A proposal schedules its finalize for when the window ends."""
    from services.app.settlement import settle_epoch as settle

    c = container()
    chain = c.chain()
    result = settle(c.store, chain, epoch_id)
    if result.sent:
        finalize_epoch.apply_async(
            (epoch_id,), countdown=_recheck_s(c.settings, chain.challenge_window_s + 1)
        )
    return result.settlement.status.value


@shared_task(
    name="merit.chain.finalize_epoch",
    **{**_RETRY, "autoretry_for": (StoreUnavailable, ChainUnavailable), "max_retries": None},
)
def finalize_epoch(epoch_id: int) -> str:
    """Finalize proposed epoch ``epoch_id`` once its challenge window has passed (idempotent).
    While the window is open by the chain's clock (its latest block), it schedules itself again
    for when the window ends (at most a few minutes ahead, well inside the broker's visibility
    timeout): it never gives up waiting."""
    from services.app.settlement import finalize_epoch as finalize
    from services.chain.rpc import chain_time
    from services.core.settlement import window_wait_s

    c = container()
    chain = c.chain()
    result = finalize(c.store, chain, epoch_id)
    ends = result.extra.get("window_ends_at")
    if not result.sent and ends is not None:
        wait = window_wait_s(int(ends), chain_time(chain.session.w3), cap_s=_recheck_s(c.settings))
        finalize_epoch.apply_async((epoch_id,), countdown=wait)
    return result.settlement.status.value


def _recheck_s(settings: Settings, wait_s: int = FINALIZE_RECHECK_MAX_S) -> int:
    """``wait_s``, at most FINALIZE_RECHECK_MAX_S and half the visibility timeout: a task due
    later than that would be delivered again before it is due."""
    return max(1, min(wait_s, FINALIZE_RECHECK_MAX_S, settings.task_visibility_timeout_s // 2))

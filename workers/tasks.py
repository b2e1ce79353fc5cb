"""Round tasks: thin; each takes ids, calls one use case, and starts the next step.

dispatch -> chord(infer per node) -> plan_judging -> chord(judge per judge) -> rank
"""

from __future__ import annotations

from typing import Any

from celery import chord, shared_task

from services.app import epochs, rounds
from services.app.epochs import EpochEmpty
from services.core.errors import StoreUnavailable
from services.core.types import NodeId, TaskId
from workers.container import container

_RETRY: dict[str, Any] = {
    "autoretry_for": (StoreUnavailable,),
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": 5,
}


def _on_error(task_id: str, step: str) -> Any:
    return fail.si(task_id, f"{step} failed on a worker; see the worker log")


@shared_task(name="merit.round.dispatch", **_RETRY)
def dispatch(task_id: str) -> list[int]:
    c = container()
    node_ids = rounds.choose_swarm(c.store, TaskId(task_id), min_answers=c.settings.min_answers)
    if node_ids:
        body = plan_judging.si(task_id, node_ids).on_error(_on_error(task_id, "answering"))
        chord([infer.si(task_id, n) for n in node_ids])(body)
    return node_ids


@shared_task(name="merit.round.infer", **_RETRY)
def infer(task_id: str, node_id: int) -> str:
    c = container()
    return rounds.collect_answer(c.store, c.nodes, TaskId(task_id), NodeId(node_id)).status.value


@shared_task(name="merit.round.plan_judging", **_RETRY)
def plan_judging(task_id: str, node_ids: list[int]) -> list[int]:
    c = container()
    judges = rounds.plan_judging(
        c.store, TaskId(task_id), [NodeId(n) for n in node_ids], min_answers=c.settings.min_answers
    )
    if judges:
        body = rank.si(task_id).on_error(_on_error(task_id, "judging"))
        chord([judge.si(task_id, j) for j in judges])(body)
    return judges


@shared_task(name="merit.round.judge", **_RETRY)
def judge(task_id: str, judge_id: int) -> int:
    c = container()
    return len(rounds.collect_judgments(c.store, c.nodes, TaskId(task_id), NodeId(judge_id)))


@shared_task(name="merit.round.rank", **_RETRY)
def rank(task_id: str) -> list[int]:
    """Rank the round; when the top two still overlap, judge the recruited pairs and rank again."""
    judges = rounds.rank(container().store, TaskId(task_id))
    if judges:
        body = rank.si(task_id).on_error(_on_error(task_id, "recruited judging"))
        chord([judge.si(task_id, j) for j in judges])(body)
    return judges


@shared_task(name="merit.round.fail")
def fail(task_id: str, reason: str) -> None:
    rounds.fail(container().store, TaskId(task_id), reason)


@shared_task(name="merit.epoch.close", **_RETRY)
def close_epoch(emission_wei: str = "0") -> int | None:
    """Close the open epoch (periodic from beat, or on demand); its id, or None when it is empty."""
    c = container()
    try:
        return int(epochs.close_epoch(c.store, c.content, emission_wei=int(emission_wei)).epoch.id)
    except EpochEmpty:
        return None  # nothing finished this period: the epoch stays open


@shared_task(name="merit.chain.settle_epoch", **_RETRY)
def settle_epoch(epoch_id: int) -> str:
    """Propose closed epoch ``epoch_id`` on chain (idempotent); its settlement status."""
    from services.app.settlement import settle_epoch as settle
    from services.chain.settlement import open_chain_settlement

    c = container()
    result = settle(c.store, open_chain_settlement(c.settings, c.store), epoch_id)
    return result.settlement.status.value


@shared_task(name="merit.chain.finalize_epoch", **_RETRY)
def finalize_epoch(epoch_id: int) -> str:
    """Finalize proposed epoch ``epoch_id`` once its challenge window has passed (idempotent);
    its settlement status ("proposed" while the window is open)."""
    from services.app.settlement import finalize_epoch as finalize
    from services.chain.settlement import open_chain_settlement

    c = container()
    result = finalize(c.store, open_chain_settlement(c.settings, c.store), epoch_id)
    return result.settlement.status.value

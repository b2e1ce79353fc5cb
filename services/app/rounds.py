"""One round of a task: choose a swarm, collect answers, collect pairwise judgments, rank.

Each step takes ids, reads what it needs from the store and is idempotent, so a worker may run it
again after a crash (``acks_late``) without calling a node twice for work already stored.
"""

from __future__ import annotations

import logging
import random

from services.app.ports import NodeGateway, Store
from services.core import bradley_terry, schedule
from services.core.errors import NodeUnreachable
from services.core.types import (
    Answer,
    AnswerStatus,
    Judgment,
    NodeId,
    NodeStatus,
    Outcome,
    RankEntry,
    Round,
    TaskId,
    TaskStatus,
)

log = logging.getLogger(__name__)

FIT_METHOD = "bradley-terry-mm/v0"
_SCORE = {Outcome.LEFT: 1.0, Outcome.RIGHT: 0.0, Outcome.TIE: 0.5}


def fail(store: Store, task_id: TaskId, reason: str) -> None:
    """Mark the task failed with the reason a requester sees; a finished task stays as it is."""
    if store.tasks.get(task_id).status.finished:
        return
    log.warning("task failed: %s", reason, extra={"task_id": task_id})
    store.tasks.set_status(task_id, TaskStatus.FAILED, error=reason)


def choose_swarm(store: Store, task_id: TaskId, *, min_answers: int) -> list[NodeId]:
    """Up to ``swarm_size`` active nodes, sampled without replacement weighted by reputation.

    The draw is seeded by the task id, so a retried dispatch picks the same swarm.
    """
    task = store.tasks.get(task_id)
    if task.status.finished:
        return []
    active = store.nodes.list(status=NodeStatus.ACTIVE)
    if len(active) < min_answers:
        fail(store, task_id, f"{len(active)} active nodes; a round needs at least {min_answers}")
        return []
    rng = random.Random(task_id)
    keyed = sorted(active, key=lambda n: rng.random() ** (1.0 / max(n.reputation_bp, 1)), reverse=True)
    chosen = sorted(n.id for n in keyed[: task.swarm_size])
    store.tasks.set_status(task_id, TaskStatus.ANSWERING)
    return chosen


def collect_answer(store: Store, nodes: NodeGateway, task_id: TaskId, node_id: NodeId) -> Answer:
    stored = next((a for a in store.answers.list_for_task(task_id) if a.node_id == node_id), None)
    if stored is not None:
        return stored
    task = store.tasks.get(task_id)
    node = store.nodes.get(node_id)
    try:
        reply = nodes.answer(node, task.prompt)
        answer = Answer(task_id, node_id, AnswerStatus.OK, reply.content, reply.latency_ms, reply.raw)
    except NodeUnreachable as exc:
        log.info("no-show: %s", exc.detail, extra={"task_id": task_id, "node_id": node_id})
        answer = Answer(task_id, node_id, AnswerStatus.NO_SHOW, None, 0, {"error": exc.detail})
    store.answers.put(answer)
    return answer


def plan_judging(
    store: Store, task_id: TaskId, node_ids: list[NodeId], *, min_answers: int
) -> list[NodeId]:
    """Store the round's pair schedule over the answers that came; return the judges."""
    if store.tasks.get(task_id).status.finished:
        return []
    answered = sorted(
        a.node_id for a in store.answers.list_for_task(task_id) if a.status is AnswerStatus.OK
    )
    if len(answered) < min_answers:
        fail(store, task_id, f"{len(answered)} of {len(node_ids)} nodes answered; need {min_answers}")
        return []
    pairs = schedule.round_robin(answered, answered)
    rnd = store.rounds.start(task_id, node_ids, pairs)
    store.tasks.set_status(task_id, TaskStatus.JUDGING)
    return sorted({p.judge_id for p in rnd.pairs})


def collect_judgments(
    store: Store, nodes: NodeGateway, task_id: TaskId, judge_id: NodeId
) -> list[Judgment]:
    rnd = store.rounds.get(task_id)
    if rnd is None:
        return []
    done = {(j.left_id, j.right_id) for j in store.judgments.list_for_task(task_id) if j.judge_id == judge_id}
    todo = [p for p in rnd.pairs if p.judge_id == judge_id and (p.left_id, p.right_id) not in done]
    if not todo:
        return []
    task = store.tasks.get(task_id)
    judge = store.nodes.get(judge_id)
    text = {a.node_id: a.content or "" for a in store.answers.list_for_task(task_id)}
    made = []
    for p in todo:
        try:
            verdict = nodes.judge(judge, task.prompt, text[p.left_id], text[p.right_id])
        except NodeUnreachable as exc:
            log.info("judge no-show: %s", exc.detail, extra={"task_id": task_id, "node_id": judge_id})
            continue
        j = Judgment(task_id, judge_id, p.left_id, p.right_id, verdict.outcome, verdict.raw)
        store.judgments.put(j)
        made.append(j)
    return made


def competition_ranks(scored: list[tuple[NodeId, float]], tol: float = 1e-9) -> list[RankEntry]:
    """Ranks 1, 1, 3, ...: answers whose scores are equal share a rank (input is best first)."""
    out: list[RankEntry] = []
    for i, (node_id, score) in enumerate(scored):
        tied = out and abs(out[-1].score - score) <= tol
        out.append(RankEntry(node_id=node_id, score=score, rank=out[-1].rank if tied else i + 1))
    return out


def rank(store: Store, task_id: TaskId) -> Round | None:
    """Fit Bradley-Terry over the round's judgments and store ranking and winner."""
    task = store.tasks.get(task_id)
    rnd = store.rounds.get(task_id)
    if rnd is None or task.status.finished:
        return rnd
    store.tasks.set_status(task_id, TaskStatus.RANKING)
    judgments = store.judgments.list_for_task(task_id)
    if not judgments:
        fail(store, task_id, "no judge returned a verdict")
        return rnd
    answered = sorted(
        a.node_id for a in store.answers.list_for_task(task_id) if a.status is AnswerStatus.OK
    )
    result = bradley_terry.fit(
        answered,
        [bradley_terry.Comparison(j.left_id, j.right_id, _SCORE[j.outcome]) for j in judgments],
    )
    order = result.ranking()
    ranking = competition_ranks([(n, result.scores[n]) for n in order])
    done = store.rounds.finish(task_id, order[0], ranking, FIT_METHOD)
    store.tasks.set_status(task_id, TaskStatus.DONE)
    log.info("task ranked", extra={"task_id": task_id, "winner": order[0]})
    return done

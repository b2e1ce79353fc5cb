"""One round of a task: choose a swarm, collect answers, collect pairwise judgments, rank.

Each step takes ids, reads what it needs from the store and is idempotent, so a worker may run it
again after a crash (``acks_late``) without calling a node twice for work already stored.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from services.app.ports import NodeGateway, Store
from services.app.signatures import verify
from services.core import aggregation, candidates, letters, schedule, seats
from services.core.errors import NodeUnreachable
from services.core.letters import OPTION_LETTERS
from services.core.types import (
    Answer,
    AnswerStatus,
    Candidate,
    Judgment,
    JudgmentStatus,
    Node,
    NodeId,
    NodeStatus,
    PairAssignment,
    RankEntry,
    Task,
    TaskId,
    TaskStatus,
)
from services.core.work import TASK_ROUND, Receipt, WorkKind, WorkOrder, task_number, text_hash

log = logging.getLogger(__name__)

FIT_METHOD = "reliability-posterior/v1"  # services.core.aggregation
MAX_RECRUITS = 2  # extra judging passes while no candidate is confidently right
RECRUIT_PAIRS = 3  # rivals of the winner per extra pass, each pair judged in both orders


def fail(store: Store, task_id: TaskId, reason: str) -> None:
    """Mark the task failed with the reason a requester sees; a finished task stays as it is."""
    if store.tasks.get(task_id).status.finished:
        return
    log.warning("task failed: %s", reason, extra={"task_id": task_id})
    store.tasks.set_status(task_id, TaskStatus.FAILED, error=reason)


def choose_swarm(store: Store, task_id: TaskId, *, min_answers: int) -> list[NodeId]:
    """The task's seats, drawn in proportion to stake times answer weight (``seat_weight``) among
    active nodes the marketplace trusts (``aggregation.trusted``), a Sybil cluster the last
    closed epoch found standing as one identity (``core.seats``): one entry per seat, so a node
    holding two seats appears twice. The draw is seeded by the task id, so a re-drawn swarm is the
    same swarm.

    Only a queued task is dispatched (under its row lock): a repeated dispatch (a redelivered
    message) finds it answering and returns [], so one round's answers are asked for once; a round
    that stalls after this is driven on by ``resume``.
    """
    with store.transaction() as tx:
        task = tx.tasks.lock(task_id)
        if task.status is not TaskStatus.QUEUED:
            return []  # finished, its fee not held, or dispatched already
        seated = _draw(tx, task, min_answers=min_answers)
        if seated:
            tx.tasks.set_status(task_id, TaskStatus.ANSWERING)
    return seated


def _draw(store: Store, task: Task, *, min_answers: int) -> list[NodeId]:
    """``choose_swarm``'s draw, without changing the task's state; [] (the task failed) when too
    few nodes can take part."""
    active = [
        n for n in store.nodes.list(status=NodeStatus.ACTIVE) if aggregation.trusted(n.reliability)
    ]
    if len(active) < min_answers:
        fail(
            store,
            task.id,
            f"{len(active)} active, trusted nodes; a round needs at least {min_answers}",
        )
        return []
    held = seats.draw(
        {n.id: seat_weight(n) for n in active},
        task.swarm_size,
        seed=_seed(task.id),
        clusters=store.epochs.latest_clusters(),
    )
    return [n for n in sorted(held) for _ in range(held[n])]


def seat_weight(node: Node) -> int:
    """Stake times the weight one seat of the node's answer carries (on a four-option question):
    linear in stake, so splitting a stake over identities of one skill changes nothing, and a
    node whose answers carry little weight is seldom seated (its seat would dilute the swarm)."""
    weight = aggregation.answer_weight(aggregation.rates(node.reliability), 4)
    return int(node.stake_wei) * round(weight * 1_000_000)


def collect_answer(store: Store, nodes: NodeGateway, task_id: TaskId, node_id: NodeId) -> Answer:
    """The node's answer: the stored one, else asked for and stored. Once the round has started
    (its candidates formed without this node's answer: a copy of the step that came late) the
    node is not asked, and a NO_SHOW that is not stored comes back."""
    stored = next((a for a in store.answers.list_for_task(task_id) if a.node_id == node_id), None)
    if stored is not None:
        return stored
    if store.rounds.get(task_id) is not None:
        return Answer(
            task_id,
            node_id,
            AnswerStatus.NO_SHOW,
            None,
            0,
            {"error": "the round started without it"},
        )
    task = store.tasks.get(task_id)
    node = store.nodes.get(node_id)
    order = WorkOrder(WorkKind.ANSWER, task_number(task_id), TASK_ROUND)
    try:
        if task.options is not None:
            answer, receipt = _choose(nodes, node, task_id, task.prompt, task.options, order)
        else:
            reply = nodes.answer(node, task.prompt, order)
            answer = Answer(
                task_id, node_id, AnswerStatus.OK, reply.content, reply.latency_ms, reply.raw
            )
            receipt = reply.receipt
        signed, rejected = verify(nodes.domain, node, order, receipt)
        answer = replace(answer, signed=signed)
        if rejected is not None:  # kept with the reason; never a candidate, never paid
            answer = replace(
                answer, status=AnswerStatus.REJECTED, raw={**answer.raw, "rejected": rejected}
            )
    except NodeUnreachable as exc:
        log.info("no-show: %s", exc.detail, extra={"task_id": task_id, "node_id": node_id})
        answer = Answer(task_id, node_id, AnswerStatus.NO_SHOW, None, 0, {"error": exc.detail})
    store.answers.put(answer)
    return answer


def _choose(
    nodes: NodeGateway,
    node: Node,
    task_id: TaskId,
    prompt: str,
    options: tuple[str, ...],
    order: WorkOrder,
) -> tuple[Answer, Receipt | None]:
    """A multiple-choice answer: the letter the node's top log-probabilities favour once its
    calibration's letter bias is removed, written out as "B. <option>" (so equal choices are
    equal answers); with the reply's receipt."""
    allowed = OPTION_LETTERS[: len(options)]
    choice = nodes.choose(node, prompt, allowed, order)
    letter = letters.debiased_one(choice.probs, allowed, node.letter_bias)
    if letter is None:
        raise NodeUnreachable(f"{node.name} named none of the letters {', '.join(allowed)}")
    content = f"{letter}. {options[allowed.index(letter)]}"
    answer = Answer(
        task_id,
        node.id,
        AnswerStatus.OK,
        content,
        choice.latency_ms,
        {**choice.raw, "probs": choice.probs},
    )
    return answer, choice.receipt


def plan_judging(
    store: Store, task_id: TaskId, node_ids: list[NodeId], *, min_answers: int
) -> list[NodeId] | None:
    """Group the answers that came into candidates and store the round's pair schedule over them;
    return the judges ([] when the swarm agreed: ``rank`` then decides alone), or None when there
    is nothing to do: the task finished or failed here, or its round was planned before (a repeated
    call: that plan's judges and rank are under way, or ``resume`` drives them on).

    ``node_ids`` is the swarm as ``choose_swarm`` drew it, one entry per seat; answers of nodes
    outside it are not counted. Runs under the task's row lock: an answer that comes later is not
    stored (``AnswerRepository.put``), so the candidates hold every answer the round keeps.
    """
    with store.transaction() as tx:
        task = tx.tasks.lock(task_id)
        if task.status.finished or tx.rounds.get(task_id) is not None:
            return None
        held = Counter(node_ids)
        answers = {
            a.node_id: a.content or ""
            for a in tx.answers.list_for_task(task_id)
            if a.status is AnswerStatus.OK and a.node_id in held
        }
        if len(answers) < min(min_answers, len(held)):
            fail(tx, task_id, f"{len(answers)} of {len(held)} nodes answered; need {min_answers}")
            return None
        found = candidates.group(answers, task.options)
        pairs = schedule.plan(found, {n: held[n] for n in answers}, seed=_seed(task_id))
        rnd = tx.rounds.start(task_id, sorted(held), pairs, seats=dict(held), candidates=found)
        tx.tasks.set_status(task_id, TaskStatus.JUDGING)
    return sorted({p.judge_id for p in rnd.pairs})


def collect_judgments(
    store: Store, nodes: NodeGateway, task_id: TaskId, judge_id: NodeId
) -> list[Judgment]:
    """Ask ``judge_id`` every pair of the round it has not judged yet; the verdicts stored."""
    return judge_within(store, nodes, task_id, judge_id, budget_s=None).made


@dataclass(frozen=True)
class JudgingPass:
    made: list[Judgment]  # verdicts stored in this pass
    unasked: int  # pairs left because the pass ran out of time (not no-shows: they were asked)


def judge_within(
    store: Store,
    nodes: NodeGateway,
    task_id: TaskId,
    judge_id: NodeId,
    *,
    budget_s: float | None,
    clock: Callable[[], float] = time.monotonic,
) -> JudgingPass:
    """Ask ``judge_id`` the pairs it has not judged yet, starting a new call only while the pass
    has run less than ``budget_s`` (None: no limit; the first call is always made), so one
    worker step stays shorter than the broker's visibility timeout; the pairs left are for the
    next pass. A no-show is logged and not retried in this pass."""
    rnd = store.rounds.get(task_id)
    if rnd is None or rnd.finished_at is not None:
        return JudgingPass([], 0)
    done = {
        (j.left_id, j.right_id)
        for j in store.judgments.list_for_task(task_id)
        if j.judge_id == judge_id
    }
    todo = [p for p in rnd.pairs if p.judge_id == judge_id and (p.left_id, p.right_id) not in done]
    if not todo:
        return JudgingPass([], 0)
    task = store.tasks.get(task_id)
    judge = store.nodes.get(judge_id)
    text = {a.node_id: a.content or "" for a in store.answers.list_for_task(task_id)}
    made: list[Judgment] = []
    order = WorkOrder(WorkKind.JUDGMENT, task_number(task_id), TASK_ROUND)
    started = clock()
    for asked, p in enumerate(todo):
        if asked and budget_s is not None and clock() - started >= budget_s:
            return JudgingPass(made, len(todo) - asked)
        left, right = text[p.left_id], text[p.right_id]
        try:
            verdict = nodes.judge(judge, task.prompt, left, right, order)
        except NodeUnreachable as exc:
            log.info(
                "judge no-show: %s", exc.detail, extra={"task_id": task_id, "node_id": judge_id}
            )
            continue
        signed, rejected = verify(
            nodes.domain,
            judge,
            order,
            verdict.receipt,
            left=text_hash(left),
            right=text_hash(right),
        )
        j = Judgment(task_id, judge_id, p.left_id, p.right_id, verdict.outcome, verdict.raw, signed)
        if rejected is not None:  # kept with the reason; never counted
            j = replace(j, status=JudgmentStatus.REJECTED, raw={**j.raw, "rejected": rejected})
        if store.judgments.put(j):
            made.append(j)
    return JudgingPass(made, 0)


def _seed(task_id: TaskId) -> int:
    return int(str(task_id).replace("-", "")[:15], 16) if task_id else 0


def rank(store: Store, task_id: TaskId) -> list[NodeId]:
    """Decide the round; recruit more verdicts while no candidate is confidently right.

    Returns the judges of a recruited pass (run them, then call ``rank`` again), or [] when the
    round is finished. Each candidate's score is the posterior probability that it is the right
    answer (``core.aggregation``), from its supporters' seats and the verdicts, each weighted by
    the node's rates as the marketplace knows them now (kept with the round for the audit). The
    round is *separated* when the winner alone reaches 95%, or the swarm agreed; until then, up
    to ``MAX_RECRUITS`` passes ask more judges about the winner against its rivals, after which
    the round finishes with ``separated`` false rather than judge forever. Runs under the task's
    row lock: a verdict that comes after the round finished is not stored
    (``JudgmentRepository.put``), so the ranking used every verdict the round keeps.
    """
    with store.transaction() as tx:
        task = tx.tasks.lock(task_id)
        rnd = tx.rounds.get(task_id)
        if rnd is None or task.status.finished:
            return []
        tx.tasks.set_status(task_id, TaskStatus.RANKING)
        # rejected verdicts too: those judges were asked
        asked = tx.judgments.list_for_task(task_id)
        judgments = [j for j in asked if j.status is JudgmentStatus.OK]
        held = dict(rnd.seats or dict.fromkeys(rnd.node_ids, 1))
        found = rnd.candidates
        if not found:
            fail(tx, task_id, "no answers to rank")
            return []
        members = {n for c in found for n in c.supporters} | {j.judge_id for j in judgments}
        rates = {n.id: aggregation.rates(n.reliability) for n in tx.nodes.list() if n.id in members}
        post = aggregation.posterior(
            aggregation.round_of(found, judgments, rates, held, task.options)
        )
        entries = post.ranking()
        separated = post.decided or len(found) == 1
        if not separated and rnd.recruits < MAX_RECRUITS:
            extra = _recruit(entries, found, asked, held)
            if extra:
                tx.rounds.add_pairs(task_id, extra, rnd.recruits + 1)
                tx.tasks.set_status(task_id, TaskStatus.JUDGING)
                return sorted({p.judge_id for p in extra})
        used = {n: (r.answer_ppm, r.judge_ppm) for n, r in rates.items()}
        tx.rounds.finish(task_id, entries[0].node_id, entries, FIT_METHOD, separated, used)
        tx.tasks.assign_open_epoch(task_id)
        tx.tasks.set_status(task_id, TaskStatus.DONE)
    log.info(
        "task ranked",
        extra={"task_id": task_id, "winner": entries[0].node_id, "separated": separated},
    )
    return []


def _recruit(
    entries: tuple[RankEntry, ...],
    found: tuple[Candidate, ...],
    judgments: list[Judgment],
    held: dict[NodeId, int],
) -> list[PairAssignment]:
    """Both orders of the winner against each rival in the running (the runner-up first), each
    order to the least-busy seat holder that has not yet judged it in that order, preferring one
    that supports neither (asked again, a judge only repeats itself)."""
    seen = {(j.judge_id, j.left_id, j.right_id) for j in judgments}
    own = candidates.candidate_of(found)
    load = Counter(j.judge_id for j in judgments)
    top = entries[0].node_id
    rivals = [e.node_id for e in entries[1 : 1 + RECRUIT_PAIRS]]
    out: list[PairAssignment] = []
    for rival in rivals:
        for left, right in ((top, rival), (rival, top)):
            fresh = [j for j in held if j not in (left, right) and (j, left, right) not in seen]
            if fresh:
                judge = min(
                    fresh, key=lambda j: (own.get(j) in (left, right), load[j] / held[j], j)
                )
                load[judge] += 1
                out.append(PairAssignment(judge, left, right))
    return out


class Step(StrEnum):
    """The step a stalled round goes on with (``resume``)."""

    ANSWER = "answer"  # ask the seated nodes (those without a stored answer), then plan judging
    JUDGE = "judge"  # ask the judges with pairs still to judge, then rank
    RANK = "rank"  # rank (again: every verdict is in, or the rank's last write was lost)
    NONE = "none"  # nothing: finished, failed here, or waiting for its fee


@dataclass(frozen=True)
class Resume:
    step: Step
    nodes: tuple[NodeId, ...] = ()  # ANSWER: the seats (one entry per seat); JUDGE: the judges


def resume(store: Store, task_id: TaskId, *, min_answers: int) -> Resume:
    """Where a stalled round goes on from what is stored (the reconciler): a queued task is
    dispatched, an answering one asks its swarm again (re-drawn: the same seats; stored answers
    are not asked again), a judging one asks the judges whose pairs are not all judged, a
    ranking one is ranked. Every step it names is idempotent beside a copy of itself still
    running, so resuming a round that was only slow does no harm."""
    task = store.tasks.get(task_id)
    if task.status.finished or task.status is TaskStatus.AWAITING_FEE:
        return Resume(Step.NONE)
    if task.status is TaskStatus.QUEUED:
        seated = choose_swarm(store, task_id, min_answers=min_answers)
        return Resume(Step.ANSWER, tuple(seated)) if seated else Resume(Step.NONE)
    rnd = store.rounds.get(task_id)
    if rnd is None:
        seated = _draw(store, task, min_answers=min_answers)
        return Resume(Step.ANSWER, tuple(seated)) if seated else Resume(Step.NONE)
    if task.status is TaskStatus.RANKING or rnd.finished_at is not None:
        return Resume(Step.RANK)
    judged = {(j.judge_id, j.left_id, j.right_id) for j in store.judgments.list_for_task(task_id)}
    judges = sorted(
        {p.judge_id for p in rnd.pairs if (p.judge_id, p.left_id, p.right_id) not in judged}
    )
    return Resume(Step.JUDGE, tuple(judges)) if judges else Resume(Step.RANK)


def run_round(store: Store, nodes: NodeGateway, task_id: TaskId, *, min_answers: int) -> None:
    """One round start to finish in this process: the steps the Celery chain of
    ``workers.tasks`` runs (dispatch, infer, plan_judging, judge, rank and its recruits), in order.
    The consensus harness drives rounds through it."""
    seated = choose_swarm(store, task_id, min_answers=min_answers)
    if not seated:
        return
    for node in sorted(set(seated)):
        collect_answer(store, nodes, task_id, node)
    judges = plan_judging(store, task_id, seated, min_answers=min_answers)
    while judges is not None:
        for judge in judges:
            collect_judgments(store, nodes, task_id, judge)
        judges = rank(store, task_id) or None

"""One round of a task: choose a swarm, collect answers, collect pairwise judgments, rank.

Each step takes ids, reads what it needs from the store and is idempotent, so a worker may run it
again after a crash (``acks_late``) without calling a node twice for work already stored.
"""

from __future__ import annotations

import logging
import random

from services.app.ports import NodeGateway, Store
from services.core import bradley_terry, confidence, consensus, letters, reputation, schedule
from services.core.errors import NodeUnreachable
from services.core.letters import OPTION_LETTERS
from services.core.types import (
    Answer,
    AnswerStatus,
    Judgment,
    Node,
    NodeId,
    NodeStatus,
    PairAssignment,
    RankEntry,
    TaskId,
    TaskStatus,
    Wei,
)

log = logging.getLogger(__name__)

FIT_METHOD = "bradley-terry-newton/v1"
BOOTSTRAP_ROUNDS = 200
MAX_RECRUITS = 2  # extra judging passes when the top two answers are not yet separated
RECRUIT_PAIRS = 3  # pairs per extra pass, each judged in both orders


def fail(store: Store, task_id: TaskId, reason: str) -> None:
    """Mark the task failed with the reason a requester sees; a finished task stays as it is."""
    if store.tasks.get(task_id).status.finished:
        return
    log.warning("task failed: %s", reason, extra={"task_id": task_id})
    store.tasks.set_status(task_id, TaskStatus.FAILED, error=reason)


def choose_swarm(store: Store, task_id: TaskId, *, min_answers: int) -> list[NodeId]:
    """Up to ``swarm_size`` active nodes, sampled without replacement weighted by reputation,
    at most one from each Sybil cluster the last closed epoch found.

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
    keyed = sorted(
        active, key=lambda n: rng.random() ** (1.0 / max(n.reputation_bp, 1)), reverse=True
    )
    cluster_of = {m: i for i, c in enumerate(store.epochs.latest_clusters()) for m in c}
    taken: set[int] = set()
    picked: list[NodeId] = []
    for n in keyed:
        if len(picked) == task.swarm_size:
            break
        cluster = cluster_of.get(n.id)
        if cluster is not None:
            if cluster in taken:
                continue
            taken.add(cluster)
        picked.append(n.id)
    chosen = sorted(picked)
    store.tasks.set_status(task_id, TaskStatus.ANSWERING)
    return chosen


def collect_answer(store: Store, nodes: NodeGateway, task_id: TaskId, node_id: NodeId) -> Answer:
    stored = next((a for a in store.answers.list_for_task(task_id) if a.node_id == node_id), None)
    if stored is not None:
        return stored
    task = store.tasks.get(task_id)
    node = store.nodes.get(node_id)
    try:
        if task.options is not None:
            answer = _choose(nodes, node, task_id, task.prompt, task.options)
        else:
            reply = nodes.answer(node, task.prompt)
            answer = Answer(
                task_id, node_id, AnswerStatus.OK, reply.content, reply.latency_ms, reply.raw
            )
    except NodeUnreachable as exc:
        log.info("no-show: %s", exc.detail, extra={"task_id": task_id, "node_id": node_id})
        answer = Answer(task_id, node_id, AnswerStatus.NO_SHOW, None, 0, {"error": exc.detail})
    store.answers.put(answer)
    return answer


def _choose(
    nodes: NodeGateway, node: Node, task_id: TaskId, prompt: str, options: tuple[str, ...]
) -> Answer:
    """A multiple-choice answer: the letter the node's top log-probabilities favour once its
    calibration's letter bias is removed, written out as "B. <option>" (so equal choices are
    equal answers)."""
    allowed = OPTION_LETTERS[: len(options)]
    choice = nodes.choose(node, prompt, allowed)
    letter = letters.debiased_one(choice.probs, allowed, node.letter_bias)
    if letter is None:
        raise NodeUnreachable(f"{node.name} named none of the letters {', '.join(allowed)}")
    content = f"{letter}. {options[allowed.index(letter)]}"
    return Answer(
        task_id,
        node.id,
        AnswerStatus.OK,
        content,
        choice.latency_ms,
        {**choice.raw, "probs": choice.probs},
    )


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
        fail(
            store, task_id, f"{len(answered)} of {len(node_ids)} nodes answered; need {min_answers}"
        )
        return []
    pairs = schedule.schedule(answered, answered, seed=_seed(task_id))
    rnd = store.rounds.start(task_id, node_ids, pairs)
    store.tasks.set_status(task_id, TaskStatus.JUDGING)
    return sorted({p.judge_id for p in rnd.pairs})


def collect_judgments(
    store: Store, nodes: NodeGateway, task_id: TaskId, judge_id: NodeId
) -> list[Judgment]:
    rnd = store.rounds.get(task_id)
    if rnd is None:
        return []
    done = {
        (j.left_id, j.right_id)
        for j in store.judgments.list_for_task(task_id)
        if j.judge_id == judge_id
    }
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
            log.info(
                "judge no-show: %s", exc.detail, extra={"task_id": task_id, "node_id": judge_id}
            )
            continue
        j = Judgment(task_id, judge_id, p.left_id, p.right_id, verdict.outcome, verdict.raw)
        store.judgments.put(j)
        made.append(j)
    return made


def _seed(task_id: TaskId) -> int:
    return int(str(task_id).replace("-", "")[:15], 16) if task_id else 0


def influence(nodes: dict[NodeId, Node], judges: set[NodeId]) -> dict[NodeId, int] | None:
    """Each judge's weight: stake times its reputation factor; None (equal weights) when no judge
    has any, as on a fresh dev stack where nobody has staked or passed calibration yet."""
    weights = {
        j: reputation.influence(
            Wei(nodes[j].stake_wei),
            reputation.Reputation(nodes[j].reputation_bp, nodes[j].reputation_anchor_bp),
        )
        for j in judges
        if j in nodes
    }
    return weights if any(weights.values()) else None


def _same_answer(a: Answer | None, b: Answer | None) -> bool:
    norm = [" ".join((x.content or "").split()).casefold() if x else None for x in (a, b)]
    return norm[0] is not None and norm[0] == norm[1]


def rank(store: Store, task_id: TaskId) -> list[NodeId]:
    """Fit the round's judgments; recruit more when the top two overlap, else store the result.

    Returns the judges of a recruited pass (run them, then call ``rank`` again), or [] when the
    round is finished. The fit weighs each judgment by its judge's influence; the bootstrap gives
    each answer a 95% interval, and the winner is *separated* when its interval lies above the
    runner-up's (or both gave the same answer). After ``MAX_RECRUITS`` passes the round finishes
    with ``separated`` false rather than judge forever.
    """
    task = store.tasks.get(task_id)
    rnd = store.rounds.get(task_id)
    if rnd is None or task.status.finished:
        return []
    store.tasks.set_status(task_id, TaskStatus.RANKING)
    judgments = store.judgments.list_for_task(task_id)
    if not judgments:
        fail(store, task_id, "no judge returned a verdict")
        return []
    answers = {
        a.node_id: a for a in store.answers.list_for_task(task_id) if a.status is AnswerStatus.OK
    }
    answered = sorted(answers)
    nodes = {n.id: n for n in store.nodes.list() if n.id in set(rnd.node_ids)}
    weights = influence(nodes, {j.judge_id for j in judgments})
    counts = bradley_terry.aggregate(answered, consensus.comparisons(judgments, weights))
    point = bradley_terry.fit_counts(counts)
    intervals = confidence.bootstrap(
        counts, rounds=BOOTSTRAP_ROUNDS, seed=_seed(task_id), point=point
    )
    entries = consensus.ranking(point.scores)
    order = [e.node_id for e in entries]
    separated = confidence.separated(intervals, order) or _same_answer(
        answers[order[0]], answers[order[1]]
    )
    if not separated and rnd.recruits < MAX_RECRUITS:
        extra = _recruit(counts, intervals, order, judgments, answered)
        if extra:
            store.rounds.add_pairs(task_id, extra, rnd.recruits + 1)
            store.tasks.set_status(task_id, TaskStatus.JUDGING)
            return sorted({p.judge_id for p in extra})
    ranking = [
        RankEntry(
            e.node_id, e.score, e.rank, intervals.lower[e.node_id], intervals.upper[e.node_id]
        )
        for e in entries
    ]
    method = FIT_METHOD + ("" if weights else " (equal judge weights)")
    store.rounds.finish(task_id, order[0], ranking, method, separated, weights)
    store.tasks.assign_open_epoch(task_id)
    store.tasks.set_status(task_id, TaskStatus.DONE)
    log.info("task ranked", extra={"task_id": task_id, "winner": order[0], "separated": separated})
    return []


def _recruit(
    counts: bradley_terry.PairCounts[NodeId],
    intervals: confidence.Intervals[NodeId],
    order: list[NodeId],
    judgments: list[Judgment],
    answered: list[NodeId],
) -> list[PairAssignment]:
    """Both orders of the pairs that would best separate the top two, each order to the least-busy
    judge that has not yet judged it in that order (asked again, a judge only repeats itself)."""
    seen = {(j.judge_id, j.left_id, j.right_id) for j in judgments}
    load = dict.fromkeys(answered, 0)
    out: list[PairAssignment] = []
    for a, b in confidence.next_pairs(counts, intervals, order, limit=RECRUIT_PAIRS):
        for left, right in ((a, b), (b, a)):
            fresh = [j for j in answered if j not in (a, b) and (j, left, right) not in seen]
            if fresh:
                judge = min(fresh, key=lambda j: (load[j], j))
                load[judge] += 1
                out.append(PairAssignment(judge, left, right))
    return out

"""What one round records: the nodes' answers, their pairwise judgments, and the round itself
(who took part, the pair schedule, the ranking and the winner).

Writes are idempotent so that a retried Celery task does no harm: storing an answer or a judgment
a second time returns False and changes nothing; starting a round that exists returns it as stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.core.errors import NotFound
from services.core.schedule import check_judge
from services.core.types import (
    Answer,
    AnswerStatus,
    Candidate,
    Judgment,
    JudgmentStatus,
    NodeId,
    Outcome,
    PairAssignment,
    RankEntry,
    Round,
    TaskId,
)
from services.core.work import ZERO, Signed, Work, WorkKind, task_number
from services.store.jsonb import (
    candidates_json,
    candidates_of,
    pairs_json,
    pairs_of,
    ranking_json,
    ranking_of,
    seats_json,
    seats_of,
    weights_json,
    weights_of,
)
from services.store.refusals import no_round, parse_task_id
from services.store.session import Session, task_id_of, to_jsonb


def _task_key_or_none(task_id: TaskId) -> Any:
    try:
        return parse_task_id(task_id)
    except NotFound:
        return None


def _share_task(cur: Any, key: Any) -> None:
    """Share-lock the task's row for this transaction: a step that holds it for update
    (``PostgresTasks.lock``: plan_judging, rank) finishes first, and the next statement sees what it
    wrote (its own snapshot). An unknown task is left to the insert's foreign key."""
    cur.execute("SELECT 1 FROM tasks WHERE id = %s FOR SHARE", (key,))


# ---------------------------------------------------------------- answers
def _signed_of(row: dict[str, Any], kind: WorkKind) -> Signed | None:
    """The signed message a row keeps (None for a row stored without one: a no-show)."""
    if row["request_hash"] is None:
        return None
    work = Work(
        kind, task_number(str(row["task_id"])), int(row["work_round"]),
        bytes(row.get("left_hash") or ZERO), bytes(row.get("right_hash") or ZERO),
        bytes(row["request_hash"]), bytes(row["reply_hash"]),
    )  # fmt: skip
    return Signed(
        work, None if row["signature"] is None else bytes(row["signature"]), row["signer"]
    )


def _signed_columns(signed: Signed | None) -> tuple[Any, ...]:
    """(round, request hash, reply hash, signature, signer) of ``signed``; Nones without."""
    if signed is None:
        return (None, None, None, None, None)
    w = signed.work
    return (w.round, w.request, w.reply, signed.signature, signed.signer)


_SIGNED_COLUMNS = "work_round, request_hash, reply_hash, signature, signer"


def answer_from_row(row: dict[str, Any]) -> Answer:
    return Answer(
        task_id=task_id_of(row["task_id"]),
        node_id=NodeId(row["node_id"]),
        status=AnswerStatus(row["status"]),
        content=row["content"],
        latency_ms=row["latency_ms"],
        raw=row["raw"],
        signed=_signed_of(row, WorkKind.ANSWER),
    )


class PostgresAnswers:
    def __init__(self, session: Session) -> None:
        self._s = session

    def put(self, answer: Answer) -> bool:
        """Store the answer; False when this node's answer to this task was already stored, or
        the task's round has started (its candidates were formed without this answer)."""
        key = parse_task_id(answer.task_id)
        with self._s.cursor() as cur:
            # waits for a plan_judging in progress, which then has started the round
            _share_task(cur, key)
            cur.execute(
                """
                INSERT INTO answers (task_id, node_id, status, content, latency_ms, raw,
                                     work_round, request_hash, reply_hash, signature, signer)
                SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
                WHERE NOT EXISTS (SELECT 1 FROM rounds WHERE task_id = %s)
                ON CONFLICT (task_id, node_id) DO NOTHING
                """,
                (
                    key,
                    int(answer.node_id),
                    AnswerStatus(answer.status).value,
                    answer.content,
                    answer.latency_ms,
                    to_jsonb(dict(answer.raw)),
                    *_signed_columns(answer.signed),
                    key,
                ),
            )
            return cur.rowcount == 1

    def list_for_task(self, task_id: TaskId) -> list[Answer]:
        """The task's answers by node id (empty for an unknown task)."""
        key = _task_key_or_none(task_id)
        if key is None:
            return []
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                SELECT task_id, node_id, status, content, latency_ms, raw, {_SIGNED_COLUMNS}
                FROM answers WHERE task_id = %s ORDER BY node_id
                """,
                (key,),
            )
            return [answer_from_row(r) for r in cur.fetchall()]


# ---------------------------------------------------------------- judgments
def judgment_from_row(row: dict[str, Any]) -> Judgment:
    return Judgment(
        task_id=task_id_of(row["task_id"]),
        judge_id=NodeId(row["judge_id"]),
        left_id=NodeId(row["left_id"]),
        right_id=NodeId(row["right_id"]),
        outcome=Outcome(row["outcome"]),
        raw=row["raw"],
        signed=_signed_of(row, WorkKind.JUDGMENT),
        status=JudgmentStatus(row["status"]),
    )


class PostgresJudgments:
    def __init__(self, session: Session) -> None:
        self._s = session

    def put(self, judgment: Judgment) -> bool:
        """Store the verdict; False when this judge already judged this ordered pair of this task,
        or the round is finished (its ranking was made without this verdict).

        A judge judging its own answer is refused (Invalid).
        """
        key = parse_task_id(judgment.task_id)
        check_judge(judgment.judge_id, judgment.left_id, judgment.right_id)
        with self._s.cursor() as cur:
            _share_task(cur, key)  # waits for a rank in progress, which then has finished the round
            cur.execute(
                """
                INSERT INTO judgments (task_id, judge_id, left_id, right_id, outcome, raw, status,
                                       left_hash, right_hash, work_round, request_hash, reply_hash,
                                       signature, signer)
                SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
                WHERE NOT EXISTS (
                    SELECT 1 FROM rounds WHERE task_id = %s AND finished_at IS NOT NULL
                )
                ON CONFLICT (task_id, judge_id, left_id, right_id) DO NOTHING
                """,
                (
                    key,
                    int(judgment.judge_id),
                    int(judgment.left_id),
                    int(judgment.right_id),
                    Outcome(judgment.outcome).value,
                    to_jsonb(dict(judgment.raw)),
                    JudgmentStatus(judgment.status).value,
                    None if judgment.signed is None else judgment.signed.work.left,
                    None if judgment.signed is None else judgment.signed.work.right,
                    *_signed_columns(judgment.signed),
                    key,
                ),
            )
            return cur.rowcount == 1

    def list_for_task(self, task_id: TaskId) -> list[Judgment]:
        key = _task_key_or_none(task_id)
        if key is None:
            return []
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                SELECT task_id, judge_id, left_id, right_id, outcome, raw, status,
                       left_hash, right_hash, {_SIGNED_COLUMNS}
                FROM judgments WHERE task_id = %s
                ORDER BY judge_id, left_id, right_id
                """,
                (key,),
            )
            return [judgment_from_row(r) for r in cur.fetchall()]


# ---------------------------------------------------------------- rounds
_ROUND_COLUMNS = (
    "task_id, node_ids, pairs, winner_id, ranking, method, started_at, finished_at, separated, "
    "recruits, weights, seats, candidates"
)


def round_from_row(row: dict[str, Any]) -> Round:
    return Round(
        task_id=task_id_of(row["task_id"]),
        node_ids=tuple(NodeId(n) for n in row["node_ids"]),
        pairs=pairs_of(row["pairs"]),
        winner_id=NodeId(row["winner_id"]) if row["winner_id"] is not None else None,
        ranking=ranking_of(row["ranking"]),
        method=row["method"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        separated=row["separated"],
        recruits=int(row["recruits"]),
        weights=weights_of(row["weights"]),
        seats=seats_of(row["seats"]),
        candidates=candidates_of(row["candidates"]),
    )


class PostgresRounds:
    def __init__(self, session: Session) -> None:
        self._s = session

    def start(
        self,
        task_id: TaskId,
        node_ids: Sequence[NodeId],
        pairs: Sequence[PairAssignment],
        *,
        seats: Mapping[NodeId, int] | None = None,
        candidates: Sequence[Candidate] = (),
    ) -> Round:
        """Record the round's swarm, seats, candidates and pair schedule; returns the stored round
        if one exists."""
        key = parse_task_id(task_id)
        stored_seats = seats_json(seats)
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO rounds (task_id, node_ids, pairs, seats, candidates)
                VALUES (%s, %s::bigint[], %s, %s, %s)
                ON CONFLICT (task_id) DO NOTHING
                RETURNING {_ROUND_COLUMNS}
                """,
                (
                    key,
                    [int(n) for n in node_ids],
                    to_jsonb(pairs_json(pairs)),
                    None if stored_seats is None else to_jsonb(stored_seats),
                    to_jsonb(candidates_json(candidates)),
                ),
            )
            row = cur.fetchone()
            if row is None:
                cur.execute(f"SELECT {_ROUND_COLUMNS} FROM rounds WHERE task_id = %s", (key,))
                row = cur.fetchone()
        assert row is not None
        return round_from_row(row)

    def get(self, task_id: TaskId) -> Round | None:
        key = _task_key_or_none(task_id)
        if key is None:
            return None
        with self._s.cursor() as cur:
            cur.execute(f"SELECT {_ROUND_COLUMNS} FROM rounds WHERE task_id = %s", (key,))
            row = cur.fetchone()
        return round_from_row(row) if row is not None else None

    def add_pairs(self, task_id: TaskId, pairs: Sequence[PairAssignment], recruit: int) -> Round:
        """Append recruited pairs as recruit number ``recruit``; a repeated call changes nothing."""
        key = parse_task_id(task_id)
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                UPDATE rounds SET pairs = pairs || %s, recruits = %s
                WHERE task_id = %s AND recruits = %s - 1
                RETURNING {_ROUND_COLUMNS}
                """,
                (to_jsonb(pairs_json(pairs)), recruit, key, recruit),
            )
            row = cur.fetchone()
            if row is None:
                cur.execute(f"SELECT {_ROUND_COLUMNS} FROM rounds WHERE task_id = %s", (key,))
                row = cur.fetchone()
        if row is None:
            raise no_round(task_id)
        return round_from_row(row)

    def finish(
        self,
        task_id: TaskId,
        winner_id: NodeId | None,
        ranking: Sequence[RankEntry],
        method: str,
        separated: bool | None = None,
        weights: Mapping[NodeId, tuple[int, int]] | None = None,
    ) -> Round:
        """Store the outcome (winner, ranking, method); NotFound when the round was not started."""
        key = parse_task_id(task_id)
        stored_weights = weights_json(weights)
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                UPDATE rounds
                SET winner_id = %s, ranking = %s, method = %s, separated = %s, weights = %s,
                    finished_at = clock_timestamp()
                WHERE task_id = %s
                RETURNING {_ROUND_COLUMNS}
                """,
                (
                    None if winner_id is None else int(winner_id),
                    to_jsonb(ranking_json(ranking)),
                    method,
                    separated,
                    None if stored_weights is None else to_jsonb(stored_weights),
                    key,
                ),
            )
            row = cur.fetchone()
        if row is None:
            raise no_round(task_id)
        return round_from_row(row)

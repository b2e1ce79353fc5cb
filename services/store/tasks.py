"""Tasks: a requester's prompt, its escrowed fee and where its round stands."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from services.core.errors import Conflict
from services.core.types import (
    EpochId,
    FeeState,
    NewTask,
    StalledTask,
    Task,
    TaskId,
    TaskStatus,
    Wei,
)
from services.store.epochs import OPEN_NEXT
from services.store.refusals import parse_task_id, task_not_found
from services.store.session import Session, task_id_of, to_jsonb

_COLUMNS = (
    "id, prompt, requester, fee_wei, swarm_size, status, error, epoch_id, created_at, updated_at, "
    "options, payer, fee_state, fee_epoch, fee_note"
)


def task_from_row(row: dict[str, Any]) -> Task:
    return Task(
        id=task_id_of(row["id"]),
        prompt=row["prompt"],
        requester=row["requester"],
        fee_wei=Wei(int(row["fee_wei"])),
        swarm_size=row["swarm_size"],
        status=TaskStatus(row["status"]),
        error=row["error"],
        epoch_id=EpochId(row["epoch_id"]) if row["epoch_id"] is not None else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        options=tuple(row["options"]) if row.get("options") is not None else None,
        payer=row["payer"],
        fee_state=FeeState(row["fee_state"]),
        fee_epoch=EpochId(row["fee_epoch"]) if row["fee_epoch"] is not None else None,
        fee_note=row["fee_note"],
    )


class PostgresTasks:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, task: NewTask) -> Task:
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO tasks (prompt, requester, fee_wei, swarm_size, options, payer,
                                   fee_state, status)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                RETURNING {_COLUMNS}
                """,
                (
                    task.prompt, task.requester, int(task.fee_wei), task.swarm_size,
                    to_jsonb(list(task.options)) if task.options is not None else None,
                    task.payer, task.fee_state.value, task.status.value,
                ),
            )  # fmt: skip
            row = cur.fetchone()
        assert row is not None
        return task_from_row(row)

    def get(self, task_id: TaskId) -> Task:
        return self._one(task_id)

    def list(self, *, limit: int = 50) -> list[Task]:
        """The newest ``limit`` tasks, newest first."""
        with self._s.cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM tasks ORDER BY created_at DESC, id LIMIT %s",
                (max(0, limit),),
            )
            return [task_from_row(r) for r in cur.fetchall()]

    def assign_open_epoch(self, task_id: TaskId) -> EpochId:
        """Put a finished task into the open epoch (once; a repeated call returns its epoch).

        Shares the open epoch's row lock, so a concurrent close either sees this task or the task
        lands in the next epoch.
        """
        key = parse_task_id(task_id)
        with self._s.cursor() as cur:
            for _ in range(3):
                cur.execute("SELECT epoch_id FROM tasks WHERE id = %s", (key,))
                row = cur.fetchone()
                if row is None:
                    raise task_not_found(task_id)
                if row["epoch_id"] is not None:
                    return EpochId(row["epoch_id"])
                cur.execute("SELECT 1 FROM epochs WHERE status = 'open'")
                if cur.fetchone() is None:
                    cur.execute(OPEN_NEXT)
                cur.execute(
                    """
                    UPDATE tasks SET epoch_id = e.id, updated_at = clock_timestamp()
                    FROM (SELECT id FROM epochs WHERE status = 'open' FOR SHARE) e
                    WHERE tasks.id = %s AND tasks.epoch_id IS NULL
                    RETURNING e.id
                    """,
                    (key,),
                )
                done = cur.fetchone()
                if done is not None:
                    return EpochId(done["id"])
        raise Conflict(f"task {task_id} found no open epoch", hint="retry")

    def list_for_epoch(self, epoch_id: EpochId) -> builtins.list[Task]:
        with self._s.cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE epoch_id = %s ORDER BY created_at, id",
                (int(epoch_id),),
            )
            return [task_from_row(r) for r in cur.fetchall()]

    def set_status(self, task_id: TaskId, status: TaskStatus, error: str | None = None) -> None:
        """Move the task to ``status``; ``error`` is stored as given (None clears it)."""
        key = parse_task_id(task_id)
        with self._s.cursor() as cur:
            cur.execute(
                """
                UPDATE tasks
                SET status = %s, error = %s, redrives = 0, updated_at = clock_timestamp()
                WHERE id = %s
                """,
                (TaskStatus(status).value, error, key),
            )
            if cur.rowcount == 0:
                raise task_not_found(task_id)

    def set_fee(
        self,
        task_id: TaskId,
        state: FeeState,
        *,
        epoch: EpochId | None = None,
        note: str | None = None,
    ) -> None:
        """Record where the task's fee stands (``epoch``: the pool it moved into, MOVED only)."""
        key = parse_task_id(task_id)
        with self._s.cursor() as cur:
            cur.execute(
                """
                UPDATE tasks SET fee_state = %s, fee_epoch = %s, fee_note = %s,
                                 updated_at = clock_timestamp()
                WHERE id = %s
                """,
                (FeeState(state).value, None if epoch is None else int(epoch), note, key),
            )
            if cur.rowcount == 0:
                raise task_not_found(task_id)

    def with_fee(
        self,
        state: FeeState,
        *,
        fee_epoch: EpochId | None = None,
        done: bool = False,
        limit: int = 10_000,
    ) -> builtins.list[Task]:
        """Tasks whose fee is in ``state`` (moved into ``fee_epoch``'s pool; only finished tasks
        with ``done``), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM tasks WHERE fee_state = %s"
        args: builtins.list[Any] = [FeeState(state).value]
        if fee_epoch is not None:
            sql += " AND fee_epoch = %s"
            args.append(int(fee_epoch))
        if done:
            sql += " AND status = 'done'"
        with self._s.cursor() as cur:
            cur.execute(sql + " ORDER BY created_at, id LIMIT %s", (*args, max(0, limit)))
            return [task_from_row(r) for r in cur.fetchall()]

    def lock(self, task_id: TaskId) -> Task:
        """The task, row-locked (FOR UPDATE) until the transaction ends."""
        return self._one(task_id, for_update=True)

    def _one(self, task_id: TaskId, *, for_update: bool = False) -> Task:
        """The task (row-locked with ``for_update``); NotFound when there is none."""
        key = parse_task_id(task_id)
        lock = " FOR UPDATE" if for_update else ""
        with self._s.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = %s{lock}", (key,))
            row = cur.fetchone()
        if row is None:
            raise task_not_found(task_id)
        return task_from_row(row)

    def stalled(self, before: datetime, *, limit: int = 500) -> builtins.list[StalledTask]:
        """Unfinished tasks whose last progress (change of state, answer, judgment) is older than
        ``before``, the longest-stalled first."""
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                SELECT * FROM (
                    SELECT {", ".join("t." + c.strip() for c in _COLUMNS.split(","))}, t.redrives,
                           GREATEST(t.updated_at,
                                    (SELECT max(created_at) FROM answers a WHERE a.task_id = t.id),
                                    (SELECT max(created_at) FROM judgments j WHERE j.task_id = t.id)
                           ) AS last_progress
                    FROM tasks t
                    WHERE t.status NOT IN ('done', 'failed') AND t.updated_at < %(before)s
                ) s
                WHERE last_progress < %(before)s
                ORDER BY last_progress, id LIMIT %(limit)s
                """,
                {"before": before, "limit": max(0, limit)},
            )
            return [
                StalledTask(task_from_row(r), r["last_progress"], int(r["redrives"]))
                for r in cur.fetchall()
            ]

    def note_redrive(self, task_id: TaskId) -> int:
        """Count one more re-drive of the task (its stall is timed afresh from now); the count."""
        key = parse_task_id(task_id)
        with self._s.cursor() as cur:
            cur.execute(
                "UPDATE tasks SET redrives = redrives + 1, updated_at = clock_timestamp() "
                "WHERE id = %s RETURNING redrives",
                (key,),
            )
            row = cur.fetchone()
        if row is None:
            raise task_not_found(task_id)
        return int(row["redrives"])

    def unfinished(self) -> int:
        with self._s.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM tasks WHERE status NOT IN ('done', 'failed')")
            row = cur.fetchone()
        return int(row["n"]) if row else 0

    def delete(self, task_id: TaskId) -> None:
        """Remove the task with its answers, judgments and round."""
        key = parse_task_id(task_id)
        with self._s.cursor() as cur:
            cur.execute("DELETE FROM tasks WHERE id = %s", (key,))
            if cur.rowcount == 0:
                raise task_not_found(task_id)

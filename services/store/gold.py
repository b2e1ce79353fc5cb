"""Gold sets and gold tasks: which hidden items each epoch committed to, and which task carries one.

The tasks table says nothing of gold; this is the only place that does, and it holds no answer
(items follow from the deployment's secret and their index).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.core.types import EpochId, GoldSet, GoldTask, TaskId
from services.store.refusals import parse_task_id
from services.store.session import Session, task_id_of


def _set(row: dict[str, Any]) -> GoldSet:
    return GoldSet(EpochId(row["epoch_id"]), bytes(row["root"]), row["size"], row["committed_at"])


def _task(row: dict[str, Any]) -> GoldTask:
    beside = None if row["beside"] is None else task_id_of(row["beside"])
    return GoldTask(
        task_id_of(row["task_id"]), EpochId(row["set_epoch"]), row["item_index"], beside
    )


class PostgresGold:
    def __init__(self, session: Session) -> None:
        self._s = session

    def commit(self, epoch_id: EpochId, root: bytes, size: int) -> GoldSet:
        """Record epoch ``epoch_id``'s gold set; the first commitment stands."""
        with self._s.cursor() as cur:
            cur.execute(
                """
                INSERT INTO gold_sets (epoch_id, root, size) VALUES (%s, %s, %s)
                ON CONFLICT (epoch_id) DO NOTHING
                """,
                (int(epoch_id), bytes(root), int(size)),
            )
            cur.execute("SELECT * FROM gold_sets WHERE epoch_id = %s", (int(epoch_id),))
            row = cur.fetchone()
        assert row is not None
        return _set(row)

    def set_of(self, epoch_id: EpochId) -> GoldSet | None:
        with self._s.cursor() as cur:
            cur.execute("SELECT * FROM gold_sets WHERE epoch_id = %s", (int(epoch_id),))
            row = cur.fetchone()
        return None if row is None else _set(row)

    def next_index(self, set_epoch: EpochId) -> int | None:
        """The set's next unused item; None when every item is used (or no set). Locks the set's
        row until the transaction ends, so call it and ``link`` in one transaction."""
        with self._s.cursor() as cur:
            cur.execute(
                "SELECT size FROM gold_sets WHERE epoch_id = %s FOR UPDATE", (int(set_epoch),)
            )
            found = cur.fetchone()
            if found is None:
                return None
            cur.execute(
                "SELECT coalesce(max(item_index) + 1, 0) AS next FROM gold_tasks "
                "WHERE set_epoch = %s",
                (int(set_epoch),),
            )
            row = cur.fetchone()
        assert row is not None
        return int(row["next"]) if row["next"] < found["size"] else None

    def link(
        self, task_id: TaskId, set_epoch: EpochId, index: int, beside: TaskId | None = None
    ) -> GoldTask:
        """Record that task ``task_id`` carries item ``index`` of the set, beside requester task
        ``beside`` (Conflict if the item, or the requester task's gold, is taken)."""
        with self._s.cursor() as cur:
            cur.execute(
                "INSERT INTO gold_tasks (task_id, set_epoch, item_index, beside) "
                "VALUES (%s, %s, %s, %s) RETURNING *",
                (parse_task_id(task_id), int(set_epoch), int(index),
                 None if beside is None else parse_task_id(beside)),
            )  # fmt: skip
            row = cur.fetchone()
        assert row is not None
        return _task(row)

    def beside(self, task_id: TaskId) -> GoldTask | None:
        with self._s.cursor() as cur:
            cur.execute("SELECT * FROM gold_tasks WHERE beside = %s", (parse_task_id(task_id),))
            row = cur.fetchone()
        return None if row is None else _task(row)

    def of(self, task_id: TaskId) -> GoldTask | None:
        with self._s.cursor() as cur:
            cur.execute("SELECT * FROM gold_tasks WHERE task_id = %s", (parse_task_id(task_id),))
            row = cur.fetchone()
        return None if row is None else _task(row)

    def for_tasks(self, task_ids: Iterable[TaskId]) -> dict[TaskId, GoldTask]:
        keys = [parse_task_id(t) for t in task_ids]
        if not keys:
            return {}
        with self._s.cursor() as cur:
            cur.execute("SELECT * FROM gold_tasks WHERE task_id = ANY(%s)", (keys,))
            return {g.task_id: g for g in (_task(r) for r in cur.fetchall())}

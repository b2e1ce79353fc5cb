"""Epochs: the periods whose tasks are rewarded together. At most one is open at a time."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from services.core.errors import Conflict
from services.core.types import Epoch, EpochId, EpochNode, EpochStatus, NodeId, Wei
from services.store.refusals import closed_again, epoch_not_found
from services.store.session import Session, to_jsonb

_COLUMNS = "id, status, pool_wei, audit_cid, opened_at, closed_at"

# Epoch numbers are gapless (1, 2, 3, ...) because the chain takes them in order: the next number is
# max + 1, never an identity value that a lost race would burn. A racing opener hits the primary key
# or the one-open index and does nothing.
OPEN_NEXT = """
    INSERT INTO epochs (id, status) OVERRIDING SYSTEM VALUE
    SELECT coalesce(max(id), 0) + 1, 'open' FROM epochs
    ON CONFLICT DO NOTHING
"""


def epoch_from_row(row: dict[str, Any]) -> Epoch:
    return Epoch(
        id=EpochId(row["id"]),
        status=EpochStatus(row["status"]),
        pool_wei=Wei(int(row["pool_wei"])),
        audit_cid=row["audit_cid"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
    )


class PostgresEpochs:
    def __init__(self, session: Session) -> None:
        self._s = session

    def current(self) -> Epoch:
        """The open epoch, opened now if there is none.

        Safe under concurrency: the partial unique index ``epochs_one_open`` admits one open row;
        a racing opener's INSERT waits for ours, does nothing, and then reads the winner's row.
        """
        with self._s.cursor() as cur:
            for _ in range(10):
                cur.execute(f"SELECT {_COLUMNS} FROM epochs WHERE status = 'open'")
                row = cur.fetchone()
                if row is not None:
                    return epoch_from_row(row)
                cur.execute(OPEN_NEXT + f" RETURNING {_COLUMNS}")
                row = cur.fetchone()
                if row is not None:
                    return epoch_from_row(row)
        raise Conflict(
            "could not open an epoch: it was opened and closed again repeatedly meanwhile",
            hint="retry",
        )

    def lock_current(self) -> Epoch:
        """The open epoch, row-locked until the transaction ends (closing takes this lock first,
        so tasks finishing meanwhile wait and then land in the next epoch)."""
        self.current()
        with self._s.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM epochs WHERE status = 'open' FOR UPDATE")
            row = cur.fetchone()
        if row is None:
            raise Conflict("the open epoch was closed meanwhile", hint="retry")
        return epoch_from_row(row)

    def get(self, epoch_id: EpochId) -> Epoch:
        with self._s.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM epochs WHERE id = %s", (int(epoch_id),))
            row = cur.fetchone()
        if row is None:
            raise epoch_not_found(epoch_id)
        return epoch_from_row(row)

    def list(self, *, limit: int = 50) -> list[Epoch]:
        """The newest ``limit`` epochs, newest first."""
        with self._s.cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM epochs ORDER BY id DESC LIMIT %s", (max(0, limit),)
            )
            return [epoch_from_row(r) for r in cur.fetchall()]

    def close(self, epoch_id: EpochId, pool_wei: Wei, audit_cid: str | None) -> Epoch:
        """Close the open epoch with its reward pool and audit bundle CID.

        Idempotent: closing a closed epoch again with the same pool and CID returns it unchanged;
        with different values it is a Conflict. The next ``current()`` opens a new epoch.
        """
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                UPDATE epochs
                SET status = 'closed', pool_wei = %s, audit_cid = %s, closed_at = now()
                WHERE id = %s AND status = 'open'
                RETURNING {_COLUMNS}
                """,
                (int(pool_wei), audit_cid, int(epoch_id)),
            )
            row = cur.fetchone()
            if row is None:
                cur.execute(f"SELECT {_COLUMNS} FROM epochs WHERE id = %s", (int(epoch_id),))
                row = cur.fetchone()
                if row is None:
                    raise epoch_not_found(epoch_id)
                return closed_again(epoch_from_row(row), pool_wei, audit_cid)
        return epoch_from_row(row)

    def record_clusters(self, epoch_id: EpochId, clusters: Sequence[Sequence[NodeId]]) -> None:
        """The Sybil clusters epoch ``epoch_id`` found (sorted node ids each)."""
        with self._s.cursor() as cur:
            cur.execute(
                "UPDATE epochs SET clusters = %s WHERE id = %s",
                (to_jsonb([sorted(int(n) for n in c) for c in clusters]), int(epoch_id)),
            )

    def latest_clusters(self) -> builtins.list[frozenset[NodeId]]:
        """The clusters of the newest closed epoch (none before the first close)."""
        with self._s.cursor() as cur:
            cur.execute(
                "SELECT clusters FROM epochs WHERE status = 'closed' ORDER BY id DESC LIMIT 1"
            )
            row = cur.fetchone()
        if row is None:
            return []
        return [frozenset(NodeId(int(n)) for n in c) for c in row["clusters"]]

    def record_nodes(self, rows: Sequence[EpochNode]) -> None:
        """Store each node's line of a closed epoch; a repeated close stores nothing new."""
        with self._s.cursor() as cur:
            cur.executemany(
                """
                INSERT INTO epoch_nodes (epoch_id, node_id, reward_wei, reputation_before_bp,
                                         reputation_after_bp, anchor_after_bp, withheld)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (epoch_id, node_id) DO NOTHING
                """,
                [
                    (
                        int(r.epoch_id),
                        int(r.node_id),
                        int(r.reward_wei),
                        r.reputation_before_bp,
                        r.reputation_after_bp,
                        r.anchor_after_bp,
                        r.withheld,
                    )
                    for r in rows
                ],
            )

    def nodes(self, epoch_id: EpochId) -> builtins.list[EpochNode]:
        with self._s.cursor() as cur:
            cur.execute(
                """
                SELECT epoch_id, node_id, reward_wei, reputation_before_bp, reputation_after_bp,
                       anchor_after_bp, withheld
                FROM epoch_nodes WHERE epoch_id = %s ORDER BY node_id
                """,
                (int(epoch_id),),
            )
            return [
                EpochNode(
                    EpochId(r["epoch_id"]),
                    NodeId(r["node_id"]),
                    Wei(int(r["reward_wei"])),
                    r["reputation_before_bp"],
                    r["reputation_after_bp"],
                    r["anchor_after_bp"],
                    r["withheld"],
                )
                for r in cur.fetchall()
            ]

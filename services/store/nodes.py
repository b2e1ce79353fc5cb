"""Nodes: the inference servers of the swarm, as the marketplace knows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import errors as pg_errors

from services.app.ports import node_taken
from services.core.types import NewNode, Node, NodeId, NodeKind, NodeStatus, Reliability, Wei
from services.store.refusals import chain_node_not_known, node_name_not_found, node_not_found
from services.store.session import Session, to_jsonb

_RELIABILITY = (
    "answer_hits", "answer_total", "judge_hits", "judge_total",
    "gold_answer_hits", "gold_answer_total", "gold_judge_hits", "gold_judge_total",
)  # fmt: skip
_COLUMNS = (
    "id, name, endpoint_url, model, kind, status, reputation_bp, stake_wei, address, created_at, "
    "reputation_anchor_bp, letter_bias, distrusted, calibration_attempts, last_calibration_at, "
    "chain_node_id, metadata_cid, signer, unbonding_wei, synced_block, status_note, "
    + ", ".join(_RELIABILITY)
)


def node_from_row(row: dict[str, Any]) -> Node:
    return Node(
        id=NodeId(row["id"]),
        name=row["name"],
        endpoint_url=row["endpoint_url"],
        model=row["model"],
        kind=NodeKind(row["kind"]),
        status=NodeStatus(row["status"]),
        reputation_bp=row["reputation_bp"],
        reputation_anchor_bp=row["reputation_anchor_bp"],
        stake_wei=Wei(int(row["stake_wei"])),
        address=row["address"],
        created_at=row["created_at"],
        letter_bias=row.get("letter_bias"),
        reliability=Reliability(*(int(row[c]) for c in _RELIABILITY), distrusted=row["distrusted"]),
        calibration_attempts=row["calibration_attempts"],
        last_calibration_at=row["last_calibration_at"],
        chain_node_id=row["chain_node_id"],
        metadata_cid=row["metadata_cid"],
        signer=row["signer"],
        unbonding_wei=Wei(int(row["unbonding_wei"])),
        synced_block=row["synced_block"],
        status_note=row["status_note"],
    )


class PostgresNodes:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, node: NewNode) -> Node:
        """Store a new node; Conflict when its name or address is already registered."""
        with self._s.cursor() as cur:
            try:
                cur.execute(
                    f"""
                    INSERT INTO nodes (name, endpoint_url, model, kind, address, stake_wei,
                                       chain_node_id, metadata_cid, signer, status, status_note)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    RETURNING {_COLUMNS}
                    """,
                    (
                        node.name,
                        node.endpoint_url,
                        node.model,
                        NodeKind(node.kind).value,
                        node.address,
                        int(node.stake_wei),
                        node.chain_node_id,
                        node.metadata_cid,
                        node.signer,
                        NodeStatus(node.status).value,
                        node.status_note,
                    ),
                )
            except pg_errors.UniqueViolation as exc:
                raise node_taken(node, exc.diag.constraint_name or "nodes_name_key") from exc
            row = cur.fetchone()
        assert row is not None
        return node_from_row(row)

    def get(self, node_id: NodeId) -> Node:
        with self._s.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM nodes WHERE id = %s", (int(node_id),))
            row = cur.fetchone()
        if row is None:
            raise node_not_found(node_id)
        return node_from_row(row)

    def get_by_chain_id(self, chain_node_id: int) -> Node:
        with self._s.cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM nodes WHERE chain_node_id = %s", (int(chain_node_id),)
            )
            row = cur.fetchone()
        if row is None:
            raise chain_node_not_known(chain_node_id)
        return node_from_row(row)

    def set_metadata(
        self, node_id: NodeId, *, endpoint_url: str, model: str, kind: NodeKind, signer: str
    ) -> None:
        with self._s.cursor() as cur:
            cur.execute(
                "UPDATE nodes SET endpoint_url = %s, model = %s, kind = %s, signer = %s "
                "WHERE id = %s",
                (endpoint_url, model, NodeKind(kind).value, signer, int(node_id)),
            )
            if cur.rowcount == 0:
                raise node_not_found(node_id)

    def set_chain_state(
        self, node_id: NodeId, *, stake_wei: Wei, unbonding_wei: Wei, block: int
    ) -> None:
        """The node's stake as the chain held it at ``block`` (a state read at an older block
        than the one stored is not written)."""
        with self._s.cursor() as cur:
            cur.execute(
                "UPDATE nodes SET stake_wei = %s, unbonding_wei = %s, synced_block = %s"
                " WHERE id = %s AND (synced_block IS NULL OR synced_block <= %s)",
                (int(stake_wei), int(unbonding_wei), int(block), int(node_id), int(block)),
            )

    def get_by_name(self, name: str) -> Node:
        with self._s.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM nodes WHERE name = %s", (name,))
            row = cur.fetchone()
        if row is None:
            raise node_name_not_found(name)
        return node_from_row(row)

    def list(self, *, status: NodeStatus | None = None) -> list[Node]:
        with self._s.cursor() as cur:
            if status is None:
                cur.execute(f"SELECT {_COLUMNS} FROM nodes ORDER BY id")
            else:
                cur.execute(
                    f"SELECT {_COLUMNS} FROM nodes WHERE status = %s ORDER BY id",
                    (NodeStatus(status).value,),
                )
            return [node_from_row(r) for r in cur.fetchall()]

    def set_reputation(self, node_id: NodeId, score_bp: int, anchor_bp: int) -> None:
        with self._s.cursor() as cur:
            cur.execute(
                "UPDATE nodes SET reputation_bp = %s, reputation_anchor_bp = %s WHERE id = %s",
                (int(score_bp), int(anchor_bp), int(node_id)),
            )
            if cur.rowcount == 0:
                raise node_not_found(node_id)

    def set_letter_bias(self, node_id: NodeId, bias: Mapping[str, float]) -> None:
        with self._s.cursor() as cur:
            cur.execute(
                "UPDATE nodes SET letter_bias = %s WHERE id = %s",
                (to_jsonb(dict(bias)), int(node_id)),
            )
            if cur.rowcount == 0:
                raise node_not_found(node_id)

    def set_reliability(self, node_id: NodeId, reliability: Reliability) -> None:
        with self._s.cursor() as cur:
            cur.execute(
                f"UPDATE nodes SET {', '.join(c + ' = %s' for c in _RELIABILITY)}, distrusted = %s"
                " WHERE id = %s",
                (*reliability.values(), reliability.distrusted, int(node_id)),
            )
            if cur.rowcount == 0:
                raise node_not_found(node_id)

    def record_calibration_attempt(self, node_id: NodeId) -> Node:
        """Count one more calibration attempt, now; the node as it stands after."""
        with self._s.cursor() as cur:
            cur.execute(
                "UPDATE nodes SET calibration_attempts = calibration_attempts + 1,"
                f" last_calibration_at = clock_timestamp() WHERE id = %s RETURNING {_COLUMNS}",
                (int(node_id),),
            )
            row = cur.fetchone()
        if row is None:
            raise node_not_found(node_id)
        return node_from_row(row)

    def set_status(self, node_id: NodeId, status: NodeStatus, note: str | None = None) -> None:
        with self._s.cursor() as cur:
            cur.execute(
                "UPDATE nodes SET status = %s, status_note = %s WHERE id = %s",
                (NodeStatus(status).value, note, int(node_id)),
            )
            if cur.rowcount == 0:
                raise node_not_found(node_id)

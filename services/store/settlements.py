"""Settlements of closed epochs and each on-chain node's cumulative leaf with its Merkle proof.

A settlement is recorded once per epoch (``record`` is idempotent: a second record of the same
epoch returns the stored one, whatever it was given), then moves on with ``set_status``. Claims
are read from the latest finalized settlement: it alone holds every node's cumulative amount.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from services.core.settlement import ClaimEntry, ProofStatus, Settlement, SettlementStatus
from services.core.types import EpochId, NodeId, Wei
from services.store.refusals import no_settlement
from services.store.session import Session, to_jsonb

_COLUMNS = (
    "epoch_id, chain_id, root, total_wei, audit_cid, rep_first_word, rep_words, left_out, "
    "status, propose_intent, finalize_intent, detail, proof_status, proof_detail, proof_chunks"
)
_CLAIM_COLUMNS = "epoch_id, chain_node_id, node_id, account, reward_wei, cumulative_wei, proof"


def settlement_from_row(row: dict[str, Any]) -> Settlement:
    return Settlement(
        epoch_id=EpochId(row["epoch_id"]),
        chain_id=int(row["chain_id"]),
        root=row["root"],
        total_wei=Wei(int(row["total_wei"])),
        audit_cid=row["audit_cid"],
        rep_first_word=int(row["rep_first_word"]),
        rep_words=tuple(int(w) for w in row["rep_words"]),
        left_out=tuple(NodeId(int(n)) for n in row["left_out"]),
        status=SettlementStatus(row["status"]),
        propose_intent=row["propose_intent"],
        finalize_intent=row["finalize_intent"],
        detail=row["detail"],
        proof_status=ProofStatus(row["proof_status"]),
        proof_detail=row["proof_detail"],
        proof_chunks=int(row["proof_chunks"]),
    )


def _updated(row: dict[str, Any] | None, epoch_id: EpochId) -> Settlement:
    """The settlement an UPDATE ... RETURNING gave back; NotFound when there was none."""
    if row is None:
        raise no_settlement(epoch_id)
    return settlement_from_row(row)


def claim_from_row(row: dict[str, Any]) -> ClaimEntry:
    return ClaimEntry(
        epoch_id=EpochId(row["epoch_id"]),
        chain_node_id=int(row["chain_node_id"]),
        node_id=NodeId(row["node_id"]) if row["node_id"] is not None else None,
        account=row["account"],
        reward_wei=Wei(int(row["reward_wei"])),
        cumulative_wei=Wei(int(row["cumulative_wei"])),
        proof=tuple(row["proof"]),
    )


class PostgresSettlements:
    def __init__(self, session: Session) -> None:
        self._s = session

    def record(self, settlement: Settlement, claims: Sequence[ClaimEntry]) -> Settlement:
        """Store the settlement of an epoch and its leaves; the stored one when it exists."""
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO settlements (epoch_id, chain_id, root, total_wei, audit_cid,
                    rep_first_word, rep_words, left_out, status, propose_intent, finalize_intent,
                    detail)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (epoch_id) DO NOTHING
                RETURNING {_COLUMNS}
                """,
                (
                    int(settlement.epoch_id),
                    settlement.chain_id,
                    settlement.root.lower(),
                    int(settlement.total_wei),
                    settlement.audit_cid,
                    settlement.rep_first_word,
                    to_jsonb([str(w) for w in settlement.rep_words]),
                    to_jsonb([int(n) for n in settlement.left_out]),
                    settlement.status.value,
                    settlement.propose_intent,
                    settlement.finalize_intent,
                    settlement.detail,
                ),
            )
            row = cur.fetchone()
            if row is None:  # recorded before: the first record stands
                cur.execute(
                    f"SELECT {_COLUMNS} FROM settlements WHERE epoch_id = %s",
                    (int(settlement.epoch_id),),
                )
                row = cur.fetchone()
                assert row is not None
                return settlement_from_row(row)
            cur.executemany(
                f"INSERT INTO claims ({_CLAIM_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        int(settlement.epoch_id),
                        c.chain_node_id,
                        int(c.node_id) if c.node_id is not None else None,
                        c.account,
                        int(c.reward_wei),
                        int(c.cumulative_wei),
                        to_jsonb(list(c.proof)),
                    )
                    for c in claims
                ],
            )
        return settlement_from_row(row)

    def get(self, epoch_id: EpochId) -> Settlement | None:
        with self._s.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM settlements WHERE epoch_id = %s", (int(epoch_id),))
            row = cur.fetchone()
        return settlement_from_row(row) if row is not None else None

    def latest(self, *, status: SettlementStatus | None = None) -> Settlement | None:
        """The newest settlement (with ``status`` when given)."""
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                SELECT {_COLUMNS} FROM settlements WHERE %(status)s::text IS NULL
                    OR status = %(status)s ORDER BY epoch_id DESC LIMIT 1
                """,
                {"status": status.value if status is not None else None},
            )
            row = cur.fetchone()
        return settlement_from_row(row) if row is not None else None

    def set_status(
        self,
        epoch_id: EpochId,
        status: SettlementStatus,
        *,
        detail: str | None = None,
        propose_intent: str | None = None,
        finalize_intent: str | None = None,
    ) -> Settlement:
        """Move a settlement on; intents given are recorded, others kept. NotFound without one."""
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                UPDATE settlements SET status = %s, detail = %s,
                    propose_intent = coalesce(%s, propose_intent),
                    finalize_intent = coalesce(%s, finalize_intent), updated_at = now()
                WHERE epoch_id = %s
                RETURNING {_COLUMNS}
                """,
                (status.value, detail, propose_intent, finalize_intent, int(epoch_id)),
            )
            row = cur.fetchone()
        return _updated(row, epoch_id)

    def set_proof(
        self,
        epoch_id: EpochId,
        status: ProofStatus,
        *,
        proof: bytes | None,
        chunks: int,
        detail: str | None = None,
    ) -> Settlement:
        """Record the epoch's proof and the workers' verdict on it; NotFound without a
        settlement."""
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                UPDATE settlements SET proof = %s, proof_status = %s, proof_detail = %s,
                    proof_chunks = %s, updated_at = now()
                WHERE epoch_id = %s
                RETURNING {_COLUMNS}
                """,
                (proof, status.value, detail, chunks, int(epoch_id)),
            )
            row = cur.fetchone()
        return _updated(row, epoch_id)

    def proof(self, epoch_id: EpochId) -> bytes | None:
        """The stored proposal proof of ``epoch_id`` (None when none was made)."""
        with self._s.cursor() as cur:
            cur.execute("SELECT proof FROM settlements WHERE epoch_id = %s", (int(epoch_id),))
            row = cur.fetchone()
        return bytes(row["proof"]) if row is not None and row["proof"] is not None else None

    def claims(self, epoch_id: EpochId) -> builtins.list[ClaimEntry]:
        """The leaves of an epoch's settlement, by registry node id."""
        with self._s.cursor() as cur:
            cur.execute(
                f"SELECT {_CLAIM_COLUMNS} FROM claims WHERE epoch_id = %s ORDER BY chain_node_id",
                (int(epoch_id),),
            )
            return [claim_from_row(r) for r in cur.fetchall()]

    def claim_of(
        self,
        *,
        account: str | None = None,
        chain_node_id: int | None = None,
        epoch_id: EpochId | None = None,
    ) -> ClaimEntry | None:
        """A node's leaf (by payee ``account`` or registry node id) in a finalized settlement:
        ``epoch_id``'s, or the latest finalized one. None when it has none."""
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                SELECT {", ".join("c." + c.strip() for c in _CLAIM_COLUMNS.split(","))}
                FROM claims c JOIN settlements s ON s.epoch_id = c.epoch_id
                WHERE s.status = 'finalized'
                  AND (%(account)s::text IS NULL OR lower(c.account) = lower(%(account)s))
                  AND (%(node)s::bigint IS NULL OR c.chain_node_id = %(node)s)
                  AND (%(epoch)s::bigint IS NULL OR c.epoch_id = %(epoch)s)
                  AND s.epoch_id = coalesce(%(epoch)s::bigint,
                      (SELECT max(epoch_id) FROM settlements WHERE status = 'finalized'))
                ORDER BY c.epoch_id DESC LIMIT 1
                """,
                {
                    "account": account,
                    "node": chain_node_id,
                    "epoch": int(epoch_id) if epoch_id is not None else None,
                },
            )
            row = cur.fetchone()
        return claim_from_row(row) if row is not None else None

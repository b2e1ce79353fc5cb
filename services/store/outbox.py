"""The chain outbox: every chain write is stored as an intent before it is signed.

A retry of the same intent (same ``intent_key``) finds the stored row — with its nonce and tx hash
once sent — instead of paying twice. ``(chain_id, sender, nonce)`` is unique, so two rows can
never claim the same nonce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import errors as pg_errors

from services.core.types import OutboxEntry, OutboxStatus, Wei
from services.store.refusals import enqueued_again, entry_finished, entry_not_found, nonce_taken
from services.store.session import Session, to_jsonb

_COLUMNS = (
    "id, intent_key, chain_id, sender, to_address, data, value_wei, nonce, tx_hash, status, "
    "receipt, created_at"
)


def entry_from_row(row: dict[str, Any]) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        intent_key=row["intent_key"],
        chain_id=row["chain_id"],
        sender=row["sender"],
        to_address=row["to_address"],
        data=row["data"],
        value_wei=Wei(int(row["value_wei"])),
        nonce=row["nonce"],
        tx_hash=row["tx_hash"],
        status=OutboxStatus(row["status"]),
        receipt=row["receipt"],
        created_at=row["created_at"],
    )


@dataclass(frozen=True)
class MinedMark:
    """Where the outbox's latest receipt on a chain says its transaction was mined."""

    block_number: int
    block_hash: str
    tx_hash: str
    intent_key: str


class PostgresOutbox:
    def __init__(self, session: Session) -> None:
        self._s = session

    def enqueue(
        self,
        intent_key: str,
        *,
        chain_id: int,
        sender: str,
        to_address: str | None,
        data: str,
        value_wei: Wei = Wei(0),
    ) -> OutboxEntry:
        """Store the intent, or return the one stored under ``intent_key``.

        Conflict when the stored intent is a different transaction (chain, sender, target,
        calldata or value differ): one key names one write.
        """
        with self._s.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO chain_outbox (intent_key, chain_id, sender, to_address, data, value_wei)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (intent_key) DO NOTHING
                RETURNING {_COLUMNS}
                """,
                (intent_key, chain_id, sender, to_address, data, int(value_wei)),
            )
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    f"SELECT {_COLUMNS} FROM chain_outbox WHERE intent_key = %s", (intent_key,)
                )
                row = cur.fetchone()
        assert row is not None
        return enqueued_again(
            entry_from_row(row),
            intent_key,
            chain_id=chain_id,
            sender=sender,
            to_address=to_address,
            data=data,
            value_wei=value_wei,
        )

    def get(self, entry_id: int) -> OutboxEntry:
        with self._s.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM chain_outbox WHERE id = %s", (entry_id,))
            row = cur.fetchone()
        if row is None:
            raise entry_not_found(entry_id)
        return entry_from_row(row)

    def get_by_intent(self, intent_key: str) -> OutboxEntry | None:
        with self._s.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM chain_outbox WHERE intent_key = %s", (intent_key,))
            row = cur.fetchone()
        return entry_from_row(row) if row is not None else None

    def mark_sent(self, entry_id: int, *, nonce: int, tx_hash: str) -> None:
        """Record the signed transaction's nonce and hash (again, when re-sent with a new fee).

        Conflict when another entry of the same sender already holds the nonce, or when the entry
        is already mined.
        """
        with self._s.cursor() as cur:
            try:
                cur.execute(
                    """
                    UPDATE chain_outbox
                    SET nonce = %s, tx_hash = %s, status = 'sent', updated_at = now()
                    WHERE id = %s AND status IN ('pending', 'sent')
                    RETURNING id
                    """,
                    (nonce, tx_hash, entry_id),
                )
            except pg_errors.UniqueViolation as exc:
                raise nonce_taken(entry_id, nonce) from exc
            if cur.fetchone() is None:
                cur.execute("SELECT status FROM chain_outbox WHERE id = %s", (entry_id,))
                row = cur.fetchone()
                if row is None:
                    raise entry_not_found(entry_id)
                raise entry_finished(entry_id, row["status"])

    def mark_mined(self, entry_id: int, *, receipt: dict[str, Any], ok: bool) -> None:
        """Store the receipt; status ``mined`` when the transaction succeeded, else ``failed``."""
        with self._s.cursor() as cur:
            cur.execute(
                """
                UPDATE chain_outbox
                SET receipt = %s, status = %s, updated_at = now()
                WHERE id = %s
                """,
                (
                    to_jsonb(receipt),
                    (OutboxStatus.MINED if ok else OutboxStatus.FAILED).value,
                    entry_id,
                ),
            )
            if cur.rowcount == 0:
                raise entry_not_found(entry_id)

    def pending(self, *, sender: str | None = None) -> list[OutboxEntry]:
        """Entries not yet mined (pending or sent), oldest first; optionally for one sender."""
        with self._s.cursor() as cur:
            if sender is None:
                cur.execute(
                    f"""
                    SELECT {_COLUMNS} FROM chain_outbox
                    WHERE status IN ('pending', 'sent') ORDER BY id
                    """
                )
            else:
                cur.execute(
                    f"""
                    SELECT {_COLUMNS} FROM chain_outbox
                    WHERE status IN ('pending', 'sent') AND lower(sender) = lower(%s) ORDER BY id
                    """,
                    (sender,),
                )
            return [entry_from_row(r) for r in cur.fetchall()]

    def last_mined(self, chain_id: int) -> MinedMark | None:
        """The highest block any recorded receipt on ``chain_id`` names (None without one): a
        chain that lacks that block, or holds another there, has lost what the marketplace wrote."""
        with self._s.cursor() as cur:
            cur.execute(
                """
                SELECT intent_key, tx_hash,
                       receipt->>'blockNumber' AS block, receipt->>'blockHash' AS hash
                FROM chain_outbox
                WHERE chain_id = %s AND receipt IS NOT NULL AND receipt ? 'blockHash'
                ORDER BY id DESC LIMIT 100
                """,
                (chain_id,),
            )
            rows = cur.fetchall()
        marks = [
            MinedMark(
                int(str(r["block"]), 0), str(r["hash"]), str(r["tx_hash"]), str(r["intent_key"])
            )
            for r in rows
            if r["block"] is not None and r["hash"]
        ]
        return max(marks, key=lambda m: m.block_number, default=None)

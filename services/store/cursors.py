"""Chain cursors: how far each chain follower has read (its last block and that block's hash)."""

from __future__ import annotations

from services.app.ports import ChainCursor
from services.store.session import Session


class PostgresCursors:
    def __init__(self, session: Session) -> None:
        self._s = session

    def get(self, name: str) -> ChainCursor | None:
        with self._s.cursor() as cur:
            cur.execute(
                "SELECT block_number, block_hash FROM chain_cursors WHERE name = %s", (name,)
            )
            row = cur.fetchone()
        return None if row is None else ChainCursor(int(row["block_number"]), row["block_hash"])

    def set(self, name: str, cursor: ChainCursor) -> None:
        with self._s.cursor() as cur:
            cur.execute(
                """
                INSERT INTO chain_cursors (name, block_number, block_hash) VALUES (%s, %s, %s)
                ON CONFLICT (name) DO UPDATE
                    SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash,
                        updated_at = now()
                """,
                (name, int(cursor.block_number), cursor.block_hash),
            )

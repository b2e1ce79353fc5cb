"""PostgresStore: the ``services.app.ports.Store`` adapter over a psycopg 3 connection pool.

Outside ``transaction()`` every repository call is its own transaction on a pooled connection.
Inside, all repositories share one connection and one transaction (commit on exit, rollback on an
exception); each call runs in a savepoint, so a NotFound or Conflict the caller catches does not
poison the rest of the transaction. Foreign errors become ours here: connection trouble and pool
timeouts are StoreUnavailable, constraint violations Conflict / NotFound / Invalid.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool

from services.app.ports import (
    AnswerRepository,
    CursorRepository,
    EpochRepository,
    GoldRepository,
    JudgmentRepository,
    NodeRepository,
    OutboxRepository,
    RoundRepository,
    SettlementRepository,
    TaskRepository,
)
from services.core.errors import StoreUnavailable
from services.store.cursors import PostgresCursors
from services.store.epochs import PostgresEpochs
from services.store.gold import PostgresGold
from services.store.nodes import PostgresNodes
from services.store.outbox import PostgresOutbox
from services.store.rounds import PostgresAnswers, PostgresJudgments, PostgresRounds
from services.store.session import (
    UNAVAILABLE_HINT,
    PoolSession,
    TransactionSession,
    connect_reason,
    describe_url,
    translate_errors,
)
from services.store.settlements import PostgresSettlements
from services.store.tasks import PostgresTasks

PING_TIMEOUT_S = 3.0


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


class PostgresStore:
    """``Store`` over PostgreSQL: ``PostgresStore.connect(url)``, then ``close()`` when done."""

    def __init__(
        self,
        session: PoolSession | TransactionSession,
        pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None,
    ) -> None:
        self._session = session
        self._pool = pool
        # typed as the ports so that PostgresStore satisfies the Store protocol (mutable members)
        self.nodes: NodeRepository = PostgresNodes(session)
        self.tasks: TaskRepository = PostgresTasks(session)
        self.answers: AnswerRepository = PostgresAnswers(session)
        self.judgments: JudgmentRepository = PostgresJudgments(session)
        self.rounds: RoundRepository = PostgresRounds(session)
        self.epochs: EpochRepository = PostgresEpochs(session)
        self.gold: GoldRepository = PostgresGold(session)
        self.outbox: OutboxRepository = PostgresOutbox(session)
        self.settlements: SettlementRepository = PostgresSettlements(session)
        self.cursors: CursorRepository = PostgresCursors(session)

    @classmethod
    def connect(
        cls,
        database_url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 10.0,
        name: str = "meritswarm",
    ) -> PostgresStore:
        """Open a pool on ``database_url``; StoreUnavailable if no connection within ``timeout``."""
        try:  # one direct attempt first: it says why ("Connection refused") and logs nothing
            psycopg.connect(database_url, connect_timeout=max(1, int(timeout))).close()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {describe_url(database_url)} "
                f"({connect_reason(exc)})",
                hint=UNAVAILABLE_HINT,
            ) from exc
        pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = psycopg_pool.ConnectionPool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            name=name,
            kwargs={"connect_timeout": max(1, int(timeout)), "application_name": name},
            configure=_configure,
            check=psycopg_pool.ConnectionPool.check_connection,  # survive a server restart
            reconnect_timeout=max(timeout, 30.0),
        )
        try:
            pool.open(wait=True, timeout=timeout)
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as exc:
            pool.close(timeout=0)
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {describe_url(database_url)} within {timeout:g}s",
                hint=UNAVAILABLE_HINT,
            ) from exc
        return cls(PoolSession(pool, conninfo=database_url), pool)

    @contextmanager
    def transaction(self) -> Iterator[PostgresStore]:
        """A Store whose repositories share one connection and one transaction."""
        if isinstance(self._session, TransactionSession):
            conn = self._session.conn
            with translate_errors(), conn.transaction():  # nested: a savepoint
                yield self
            return
        assert isinstance(self._session, PoolSession)
        with self._session.connection() as conn, translate_errors(), conn.transaction():
            yield PostgresStore(TransactionSession(conn), None)

    def ping(self, timeout: float = PING_TIMEOUT_S) -> None:
        """One round trip; StoreUnavailable within ``timeout`` seconds when the server is down."""
        with self._session.cursor(timeout) as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        """Close the pool (a no-op on the Store handed out by ``transaction()``)."""
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Where repositories get a cursor, and how psycopg errors become the product's errors.

``PoolSession``: a pooled connection per call (each call its own transaction).
``TransactionSession``: the one connection of a ``Store.transaction()``, each call in a savepoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

from services.core.errors import Conflict, Invalid, NotFound, StoreUnavailable
from services.core.types import TaskId
from services.store.jsonb import dumps

Cursor = psycopg.Cursor[DictRow]
UNAVAILABLE_HINT = "start the stack with `merit up`, or check MERIT_DATABASE_URL"


def describe_url(url: str) -> str:
    """``host:port/dbname`` of a connection string, never its password."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(unparsable database URL)"
    host = info.get("host") or "localhost"
    port = info.get("port") or 5432
    return f"{host}:{port}/{info.get('dbname') or info.get('user') or ''}"


def to_jsonb(value: Mapping[str, Any] | list[Any]) -> Jsonb:
    """A jsonb parameter; bytes become 0x-hex strings, NaN and infinities are refused (Invalid)."""
    text = dumps(value)
    return Jsonb(value, dumps=lambda _: text)


def task_id_of(value: uuid.UUID) -> TaskId:
    return TaskId(str(value))


@contextmanager
def translate_errors(what: str = "database") -> Iterator[None]:
    """Turn psycopg / pool exceptions into the product's error tree."""
    try:
        yield
    except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed, psycopg.OperationalError) as exc:
        raise StoreUnavailable(
            f"{what} unavailable: {_first_line(exc)}", hint=UNAVAILABLE_HINT
        ) from exc
    except pg_errors.UniqueViolation as exc:
        raise Conflict(_violation(exc), constraint=exc.diag.constraint_name) from exc
    except pg_errors.ForeignKeyViolation as exc:
        raise NotFound(_violation(exc), constraint=exc.diag.constraint_name) from exc
    except (pg_errors.CheckViolation, pg_errors.NotNullViolation, pg_errors.DataError) as exc:
        raise Invalid(_violation(exc), constraint=exc.diag.constraint_name) from exc


def connect_reason(exc: BaseException) -> str:
    """The gist of a connection failure: "Connection refused", not libpq's paragraph."""
    line = _first_line(exc)
    return line.rsplit(" failed: ", 1)[-1].strip() or type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _violation(exc: psycopg.Error) -> str:
    detail = exc.diag.message_detail
    primary = exc.diag.message_primary or _first_line(exc)
    return f"{primary} ({detail})" if detail else primary


class Session(Protocol):
    """Where a repository gets a cursor: a pooled connection per call, or the transaction's."""

    def cursor(self, timeout: float | None = None) -> AbstractContextManager[Cursor]: ...


FAIL_FAST_S = 0.5  # no pooled connection this soon: ask the server whether it is there at all
PROBE_TIMEOUT_S = 2  # libpq's shortest connect_timeout


class PoolSession:
    """Connections from the pool. A busy pool is waited for (up to the pool's timeout); a pool
    whose server is down is not: when no connection comes within ``fail_fast_s``, one direct
    connection attempt asks the server, and a refusal is StoreUnavailable at once (an API request
    answers 503 in well under a second, not after the pool's whole timeout)."""

    def __init__(
        self,
        pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]],
        *,
        conninfo: str | None = None,
        fail_fast_s: float = FAIL_FAST_S,
    ) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._fail_fast_s = fail_fast_s

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection: commit on success, else rollback; back to the pool after."""
        with translate_errors():
            conn = self._getconn(self._pool.timeout if timeout is None else timeout)
            try:
                with conn:  # a pooled connection is not closed by its context, only ended
                    yield conn
            finally:
                self._pool.putconn(conn)

    @contextmanager
    def cursor(self, timeout: float | None = None) -> Iterator[Cursor]:
        with self.connection(timeout) as conn, conn.cursor(row_factory=dict_row) as cur:
            yield cur

    def _getconn(self, timeout: float) -> psycopg.Connection[Any]:
        first = min(timeout, self._fail_fast_s)
        try:
            return self._pool.getconn(first)
        except psycopg_pool.PoolTimeout:
            if self._conninfo is None or timeout <= first:
                raise
        # the server refusing (or not answering) raises OperationalError: unavailable, now
        psycopg.connect(self._conninfo, connect_timeout=PROBE_TIMEOUT_S).close()
        return self._pool.getconn(timeout - first)  # it answers: the pool is only busy


class TransactionSession:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    @contextmanager
    def cursor(self, timeout: float | None = None) -> Iterator[Cursor]:
        with (
            translate_errors(),
            self.conn.transaction(),  # a savepoint inside the outer transaction
            self.conn.cursor(row_factory=dict_row) as cur,
        ):
            yield cur

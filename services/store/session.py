"""Where repositories get a cursor, and how psycopg errors become the product's errors.

``PoolSession``: a pooled connection per call (each call its own transaction).
``TransactionSession``: the one connection of a ``Store.transaction()``, each call in a savepoint.
"""

from __future__ import annotations

import json
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


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()  # HexBytes in web3 receipts
    if isinstance(value, Mapping):
        return dict(value)  # web3's AttributeDict
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, allow_nan=False)


def to_jsonb(value: Mapping[str, Any] | list[Any]) -> Jsonb:
    """A jsonb parameter; bytes become 0x-hex strings, NaN and infinities are refused (Invalid)."""
    try:
        text = _dumps(value)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"cannot store as JSON: {exc}") from exc
    return Jsonb(value, dumps=lambda _: text)


def parse_task_id(task_id: str) -> uuid.UUID:
    """A task id as a UUID; anything else cannot name a task, so it is NotFound."""
    try:
        return uuid.UUID(str(task_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"task {task_id!r} not found", hint="task ids are UUIDs") from None


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


class PoolSession:
    def __init__(self, pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]]) -> None:
        self._pool = pool

    @contextmanager
    def cursor(self, timeout: float | None = None) -> Iterator[Cursor]:
        with translate_errors():
            with self._pool.connection(timeout) as conn:  # commit on success, else rollback
                with conn.cursor(row_factory=dict_row) as cur:
                    yield cur


class TransactionSession:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    @contextmanager
    def cursor(self, timeout: float | None = None) -> Iterator[Cursor]:
        with translate_errors():
            with self.conn.transaction():  # a savepoint inside the outer transaction
                with self.conn.cursor(row_factory=dict_row) as cur:
                    yield cur

"""Numbered SQL migrations: ``services/store/migrations/NNNN_name.sql``, applied in version order.

Each file runs in one transaction together with its row in ``schema_migrations``; a file that was
applied and has since changed is refused (write a new migration instead). A session advisory lock
serialises concurrent migrators: the second one waits, then finds nothing left to do.
A migration file must not contain its own BEGIN/COMMIT (nor statements that cannot run inside a
transaction, such as CREATE INDEX CONCURRENTLY).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from services.core.errors import ConfigInvalid, StoreUnavailable
from services.store.session import connect_reason, describe_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LOCK_KEY = 0x6D65726974_01  # "merit" + 1: the migrations advisory lock
LOCK_TIMEOUT_S = 120.0
_NAME = re.compile(r"^(?P<version>\d{4,})_(?P<name>[a-z0-9][a-z0-9_]*)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str  # sha256 hex of the file with line endings normalised to \n

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


@dataclass(frozen=True)
class MigrationState:
    """One row of ``merit db status``."""

    version: int
    name: str
    # "applied" | "pending" | "changed" (file edited since applied) | "unknown" (not in the files)
    state: str
    applied_at: datetime | None


def parse_filename(filename: str) -> tuple[int, str]:
    """``"0007_add_index.sql"`` -> ``(7, "add_index")``; ConfigInvalid for any other shape."""
    match = _NAME.match(filename)
    if match is None:
        raise ConfigInvalid(
            f"migration file {filename!r} is not named NNNN_name.sql",
            hint="name migrations like 0002_add_column.sql (4+ digits, lower-case name)",
        )
    return int(match["version"]), match["name"]


def checksum(sql: str) -> str:
    return hashlib.sha256(sql.replace("\r\n", "\n").encode()).hexdigest()


def order(filenames: Iterable[str]) -> list[tuple[int, str, str]]:
    """(version, name, filename) sorted by version; duplicate versions are refused."""
    seen: dict[int, str] = {}
    out = []
    for filename in filenames:
        version, name = parse_filename(filename)
        if version in seen:
            raise ConfigInvalid(
                f"migrations {seen[version]!r} and {filename!r} share version {version}",
                hint="renumber one of them to the next free version",
            )
        seen[version] = filename
        out.append((version, name, filename))
    return sorted(out)


def discover(directory: Path | None = None) -> list[Migration]:
    """Every ``*.sql`` file of ``directory`` (default: the packaged migrations), in order."""
    directory = directory or MIGRATIONS_DIR
    files = [p.name for p in directory.iterdir() if p.suffix == ".sql" and p.is_file()]
    migrations = []
    for version, name, filename in order(files):
        sql = (directory / filename).read_text(encoding="utf-8")
        migrations.append(Migration(version, name, sql, checksum(sql)))
    return migrations


def _connect(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(
            f"cannot connect to PostgreSQL at {describe_url(database_url)} ({connect_reason(exc)})",
            hint="start the stack with `merit up`, or set MERIT_DATABASE_URL",
        ) from exc


def _lock(conn: psycopg.Connection[tuple[object, ...]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        if row and row[0]:
            return
        if time.monotonic() > deadline:
            raise StoreUnavailable(
                f"another migrator has held the migration lock for over {timeout:.0f}s",
                hint="wait for the other `merit db migrate` to finish, then run it again",
            )
        time.sleep(0.05)


def _applied(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, tuple[str, str, datetime]]:
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()
    return {int(str(v)): (str(n), str(c), a) for v, n, c, a in rows}  # type: ignore[misc]


def _refuse_changed(
    migrations: list[Migration], applied: dict[int, tuple[str, str, datetime]]
) -> None:
    known = {m.version for m in migrations}
    for m in migrations:
        if m.version in applied and applied[m.version][1] != m.checksum:
            raise ConfigInvalid(
                f"migration {m.filename} was changed after it was applied "
                f"(checksum {m.checksum[:12]} != recorded {applied[m.version][1][:12]})",
                hint="restore the applied file and put the change in a new numbered migration",
                version=m.version,
            )
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise ConfigInvalid(
            f"the database has migrations this code does not know: {newer}",
            hint="run a meritswarm version at least as new as the one that migrated this database",
        )


def migrate(
    database_url: str, *, directory: Path | None = None, lock_timeout: float = LOCK_TIMEOUT_S
) -> list[Migration]:
    """Apply every pending migration; returns those applied now (empty when up to date)."""
    migrations = discover(directory)
    done: list[Migration] = []
    with _connect(database_url) as conn:
        try:
            _lock(conn, lock_timeout)
            conn.execute(_CREATE_TABLE)
            applied = _applied(conn)
            _refuse_changed(migrations, applied)
            for m in migrations:
                if m.version in applied:
                    continue
                started = time.monotonic()
                with conn.transaction():
                    conn.execute(m.sql)  # no parameters: sent as one multi-statement query
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                log.info("applied migration %s in %.3fs", m.filename, time.monotonic() - started)
                done.append(m)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"lost PostgreSQL at {describe_url(database_url)} while migrating: {exc}",
                hint="check the database, then run `merit db migrate` again",
            ) from exc
        except psycopg.Error as exc:
            raise ConfigInvalid(
                f"migration failed and was rolled back: {exc}",
                hint="fix the migration file, then run `merit db migrate` again",
            ) from exc
        finally:
            if not conn.closed and not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return done


def status(database_url: str, *, directory: Path | None = None) -> list[MigrationState]:
    """Each migration known to the code or the database, with its state."""
    migrations = discover(directory)
    with _connect(database_url) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
        applied = _applied(conn) if exists and exists[0] else {}
    states = []
    for m in migrations:
        if m.version not in applied:
            states.append(MigrationState(m.version, m.name, "pending", None))
        else:
            _, recorded, at = applied[m.version]
            states.append(
                MigrationState(
                    m.version, m.name, "applied" if recorded == m.checksum else "changed", at
                )
            )
    known = {m.version for m in migrations}
    for version, (name, _, at) in applied.items():
        if version not in known:
            states.append(MigrationState(version, name, "unknown", at))
    return sorted(states, key=lambda s: s.version)

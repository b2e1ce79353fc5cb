"""Migrations and `merit db` against fresh databases on the session's PostgreSQL server."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from services.cli.db_cmd import app as db_app
from services.core.errors import ConfigInvalid
from services.store.migrate import MIGRATIONS_DIR, discover, migrate, status


@pytest.fixture
def fresh_db(postgres_url: str) -> Iterator[str]:
    """An empty database of its own on the session server."""
    name = f"mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(**{**conninfo_to_dict(postgres_url), "dbname": name})
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def recorded(url: str) -> list[tuple[int, str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_migrate_records_each_file_and_rerunning_applies_nothing(fresh_db: str) -> None:
    applied = migrate(fresh_db)
    expected = discover()
    assert [m.version for m in applied] == [m.version for m in expected]
    assert recorded(fresh_db) == [(m.version, m.name, m.checksum) for m in expected]
    assert {"nodes", "tasks", "answers", "judgments", "rounds", "epochs", "chain_outbox"} <= tables(
        fresh_db
    )
    assert migrate(fresh_db) == []
    assert [s.state for s in status(fresh_db)] == ["applied"] * len(expected)


def test_a_changed_applied_migration_is_refused(fresh_db: str, tmp_path: Path) -> None:
    migrate(fresh_db)
    edited = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, edited)
    first = sorted(edited.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\nCREATE TABLE sneaky (id int);\n")
    with pytest.raises(ConfigInvalid, match="changed after it was applied") as info:
        migrate(fresh_db, directory=edited)
    assert info.value.hint and "new numbered migration" in info.value.hint
    assert "sneaky" not in tables(fresh_db)
    assert status(fresh_db, directory=edited)[0].state == "changed"


def test_a_failing_migration_is_rolled_back_whole(fresh_db: str, tmp_path: Path) -> None:
    dirs = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, dirs)
    (dirs / "9000_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n")
    with pytest.raises(ConfigInvalid, match="rolled back"):
        migrate(fresh_db, directory=dirs)
    assert "half_done" not in tables(fresh_db)
    assert 9000 not in [v for v, _, _ in recorded(fresh_db)]
    assert "nodes" in tables(fresh_db)  # the good migrations before it stay applied
    assert [s.state for s in status(fresh_db, directory=dirs)][-1] == "pending"


def test_a_database_newer_than_the_code_is_refused(fresh_db: str, tmp_path: Path) -> None:
    dirs = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, dirs)
    (dirs / "9001_future.sql").write_text("CREATE TABLE future (id int);\n")
    migrate(fresh_db, directory=dirs)
    with pytest.raises(ConfigInvalid, match="does not know"):
        migrate(fresh_db)
    assert status(fresh_db)[-1].state == "unknown"


def test_concurrent_migrators_apply_each_file_once(fresh_db: str) -> None:
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            results.append(len(migrate(fresh_db)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(results) == [0, 0, 0, len(discover())]
    assert len(recorded(fresh_db)) == len(discover())


# ---------------------------------------------------------------- merit db
def test_cli_migrate_then_status(fresh_db: str) -> None:
    runner = CliRunner()
    pending = runner.invoke(db_app, ["status", "--database-url", fresh_db])
    assert pending.exit_code == 1 and "pending" in pending.output

    first = runner.invoke(db_app, ["migrate", "--database-url", fresh_db])
    assert first.exit_code == 0, first.output
    assert "0001" in first.output and "init" in first.output

    again = runner.invoke(db_app, ["migrate", "--database-url", fresh_db])
    assert again.exit_code == 0 and "up to date" in again.output

    done = runner.invoke(db_app, ["status", "--database-url", fresh_db, "--json"])
    assert done.exit_code == 0
    assert '"state": "applied"' in done.stdout


def test_cli_unreachable_database_is_one_line_with_exit_code() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(
        db_app, ["migrate", "--database-url", f"postgresql://merit@127.0.0.1:{port}/merit"]
    )
    assert result.exit_code == 69  # StoreUnavailable
    assert f"127.0.0.1:{port}" in result.stderr
    assert "merit up" in result.stderr
    assert result.stdout == ""

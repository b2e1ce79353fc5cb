"""The embedded PostgreSQL server: a real cluster started from the pgserver wheel's binaries."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.core.errors import PortInUse, StoreUnavailable
from services.ports_free import free_port
from services.store.db import PostgresStore
from services.processes import stop_pid
from services.store.embedded import PostgresProcess, start_postgres
from services.supervisor import PartState, Supervised, Supervisor
from tests.fixtures.postgres import TEST_SERVER_SETTINGS, start_test_postgres


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PostgresProcess]:
    proc = start_test_postgres(tmp_path)
    try:
        yield proc
    finally:
        proc.stop()


def test_server_serves_merit_database_as_merit(server: PostgresProcess) -> None:
    assert server.url == f"postgresql://merit@127.0.0.1:{server.port}/merit"
    with psycopg.connect(server.url) as conn:
        row = conn.execute(
            "SELECT current_user, current_database(), current_setting('listen_addresses')"
        ).fetchone()
    assert row == ("merit", "merit", "127.0.0.1")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root needs the meritpg system user")
def test_server_never_runs_as_root(server: PostgresProcess) -> None:
    status = Path(f"/proc/{server.pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert all(int(uid) != 0 for uid in uid_line.split()[1:])


def test_state_survives_a_restart_and_stop_leaves_nothing(tmp_path: Path) -> None:
    first = start_test_postgres(tmp_path)
    with psycopg.connect(first.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n numeric(78,0))")
        conn.execute("INSERT INTO kept VALUES (%s)", (2**256 - 1,))
    first.stop()
    assert not first.running()
    assert not (tmp_path / "data" / "postmaster.pid").exists()

    second = start_postgres(
        tmp_path / "data", first.port, tmp_path / "postgres.log", settings=TEST_SERVER_SETTINGS
    )
    try:
        assert second.pid != first.pid
        with psycopg.connect(second.url) as conn:
            assert conn.execute("SELECT n FROM kept").fetchone() == (2**256 - 1,)
    finally:
        second.stop()
    assert not second.running()


def test_starting_a_running_cluster_again_returns_it(server: PostgresProcess) -> None:
    again = start_postgres(server.data_dir, server.port, server.log_file)
    assert again.pid == server.pid and again.url == server.url


def test_a_taken_port_is_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUse) as info:
            start_postgres(tmp_path / "data", port, tmp_path / "postgres.log")
    assert str(port) in info.value.detail
    assert info.value.hint == "set MERIT_POSTGRES_PORT to a free port"
    assert not (tmp_path / "data" / "PG_VERSION").exists()


def test_store_is_unavailable_while_the_server_is_down_and_recovers(tmp_path: Path) -> None:
    proc = start_test_postgres(tmp_path)
    store = PostgresStore.connect(proc.url, timeout=2.0)
    try:
        store.ping()
        proc.stop()
        with pytest.raises(StoreUnavailable):
            store.ping()
        proc = start_postgres(
            tmp_path / "data", proc.port, tmp_path / "postgres.log", settings=TEST_SERVER_SETTINGS
        )
        deadline = time.monotonic() + 20  # the pool reconnects with backoff; callers retry
        while True:
            try:
                store.ping()  # the same store: the pool replaced its dead connection
                break
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        store.close()
        proc.stop()


def test_the_server_is_a_child_in_its_own_session_and_stop_does_not_wait_for_clients(
    server: PostgresProcess,
) -> None:
    assert server.proc is not None and os.getsid(server.pid) == server.pid  # Ctrl-C is not for it
    client = psycopg.connect(server.url)  # a session left open does not hold the stop up
    try:
        started = time.monotonic()
        server.stop(timeout=10)
        took = time.monotonic() - started
    finally:
        client.close()
    assert server.proc.returncode == 0, "a fast shutdown, not a kill at the timeout"
    assert took < 5 and not server.running()
    assert not (server.data_dir / "postmaster.pid").exists()


def test_a_server_outlives_the_process_that_started_it_and_is_then_reused(tmp_path: Path) -> None:
    starter = (
        "import sys; from pathlib import Path; "
        "from tests.fixtures.postgres import start_test_postgres; "
        "server = start_test_postgres(Path(sys.argv[1])); print(server.pid, server.port)"
    )
    done = subprocess.run(
        [sys.executable, "-c", starter, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    pid, port = (int(n) for n in done.stdout.split())
    try:
        again = start_postgres(tmp_path / "data", port, tmp_path / "postgres.log")
        assert again.pid == pid and again.proc is None  # still running, and not our child
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("merit",)
        again.stop()
        assert not again.running()
        assert not (tmp_path / "data" / "postmaster.pid").exists()  # a clean shutdown
    finally:
        stop_pid(pid, sig=signal.SIGINT)


def test_a_server_that_cannot_start_is_store_unavailable_with_its_log(tmp_path: Path) -> None:
    start_test_postgres(tmp_path).stop()  # a cluster made
    with pytest.raises(StoreUnavailable) as info:
        start_postgres(
            tmp_path / "data", free_port(), tmp_path / "postgres.log",
            settings={"shared_buffers": "lots"},
        )  # fmt: skip
    assert 'invalid value for parameter "shared_buffers"' in info.value.detail
    assert not (tmp_path / "data" / "postmaster.pid").exists()


def test_a_server_killed_9_is_restarted_by_the_supervisor_with_its_data(tmp_path: Path) -> None:
    port = free_port()

    def start() -> PostgresProcess:  # commits durable (not the test clusters' settings)
        return start_postgres(tmp_path / "data", port, tmp_path / "postgres.log")

    first = start()
    with psycopg.connect(first.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (7)")
    part = Supervised("postgres", first.url, first, first.log_file, kind="postgres", start=start)
    supervisor = Supervisor([part])
    try:
        os.kill(first.pid, signal.SIGKILL)  # its lock file stays behind
        assert first.proc is not None and first.proc.wait(10) == -signal.SIGKILL
        assert supervisor.tick(now=0.0) == ["postgres stopped (killed by signal 9); restarting in 1s"]
        assert supervisor.tick(now=1.0) == [f"postgres restarted (pid {part.pid}, restart 1)"]
        assert part.state is PartState.RUNNING and part.pid != first.pid
        with psycopg.connect(first.url) as conn:
            assert conn.execute("SELECT n FROM kept").fetchone() == (7,)
    finally:
        part.handle.stop()

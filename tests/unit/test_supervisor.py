"""The supervisor behind `merit up`: real child processes (no sockets), the clock passed in."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from services.processes import Child, group_alive, pid_alive, spawn
from services.supervisor import PartState, Policy, Supervised, Supervisor, rotate_log

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]


def sleeper(log: Path) -> Child:
    return spawn("sleeper", SLEEPER, url="", log=log)


def kill9(child: Child) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.proc.wait()


@pytest.fixture
def parts():
    made: list[Supervised] = []
    yield made
    for p in made:
        p.handle.stop()


def test_a_killed_part_is_started_again_after_its_delay_and_counted(tmp_path, parts):
    log = tmp_path / "sleeper.log"
    part = Supervised("sleeper", "", sleeper(log), log, start=lambda: sleeper(log))
    parts.append(part)
    sup = Supervisor(parts, Policy(first_delay_s=1.0))
    first = part.pid
    assert sup.tick(now=100.0) == []  # alive: nothing to do

    kill9(part.handle)  # type: ignore[arg-type]
    events = sup.tick(now=100.0)
    assert events == ["sleeper stopped (killed by signal 9); restarting in 1s"]
    assert part.state is PartState.RESTARTING
    assert sup.tick(now=100.5) == []  # backoff: not yet
    events = sup.tick(now=101.0)
    assert part.state is PartState.RUNNING and part.restarts == 1
    assert part.pid != first and pid_alive(part.pid)
    assert events == [f"sleeper restarted (pid {part.pid}, restart 1)"]
    assert "restarted by merit up after: killed by signal 9" in log.read_text()


def test_a_crash_loop_backs_off_doubling_then_gives_up_and_says_so(tmp_path, parts):
    log = tmp_path / "crasher.log"

    def crasher() -> Child:
        return spawn("crasher", [sys.executable, "-c", "raise SystemExit(3)"], url="", log=log)

    part = Supervised("crasher", "", crasher(), log, start=crasher)
    parts.append(part)
    sup = Supervisor(parts, Policy(max_crashes=5, window_s=60, first_delay_s=1, max_delay_s=30))
    now, delays = 0.0, []
    while part.state is not PartState.FAILED:
        part.handle.proc.wait()  # type: ignore[attr-defined]
        events = sup.tick(now=now)
        if part.state is PartState.RESTARTING:
            assert part.retry_at is not None
            delays.append(part.retry_at - now)
            now = part.retry_at
            sup.tick(now=now)  # starts it again
    assert delays == [1, 2, 4, 8]  # the fifth crash within a minute is the last
    assert part.restarts == 4
    assert events == [f"crasher crashed 5 times within 60s (exit code 3); giving up on it: see {log}"]
    assert sup.tick(now=now + 1000) == []  # given up: never started again


def test_crashes_older_than_the_window_are_forgotten(tmp_path, parts):
    log = tmp_path / "s.log"
    part = Supervised("s", "", sleeper(log), log, start=lambda: sleeper(log))
    parts.append(part)
    sup = Supervisor(parts, Policy(max_crashes=2, window_s=60))
    kill9(part.handle)  # type: ignore[arg-type]
    sup.tick(now=0.0)
    sup.tick(now=1.0)
    kill9(part.handle)  # type: ignore[arg-type]
    sup.tick(now=200.0)  # the first crash is 200 s old: this is the first of a new minute
    assert part.state is PartState.RESTARTING and part.retry_at == 201.0


def test_a_start_that_fails_counts_as_a_crash(tmp_path, parts):
    log = tmp_path / "s.log"
    calls = []

    def start() -> Child:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("port 5433 is already in use")
        return sleeper(log)

    part = Supervised("db", "", sleeper(log), log, start=start)
    parts.append(part)
    sup = Supervisor(parts, Policy(first_delay_s=1))
    kill9(part.handle)  # type: ignore[arg-type]
    sup.tick(now=0.0)
    events = sup.tick(now=1.0)
    assert events == ["db stopped (restart failed: port 5433 is already in use); restarting in 2s"]
    sup.tick(now=3.0)
    assert part.state is PartState.RUNNING and part.restarts == 2 and pid_alive(part.pid)


def test_a_check_after_a_restart_can_stop_the_stack(tmp_path, parts):
    log = tmp_path / "chain.log"

    def refuse() -> None:
        raise RuntimeError("the chain went back")

    part = Supervised("anvil", "", sleeper(log), log, start=lambda: sleeper(log), after_start=refuse)
    parts.append(part)
    sup = Supervisor(parts)
    kill9(part.handle)  # type: ignore[arg-type]
    sup.tick(now=0.0)
    with pytest.raises(RuntimeError, match="went back"):
        sup.tick(now=10.0)


def test_stopping_a_part_whose_leader_died_kills_what_it_left_in_its_group(tmp_path):
    # like a Celery worker killed -9 while its embedded beat (a child process) runs on
    pid_file = tmp_path / "orphan.pid"
    script = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
        f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(300)"
    )
    child = spawn("worker", [sys.executable, "-c", script], url="", log=tmp_path / "w.log")
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphan = int(pid_file.read_text())
    kill9(child)
    assert pid_alive(orphan) and group_alive(child.pid)  # the orphan runs on without its leader
    child.stop()
    deadline = time.monotonic() + 10
    while pid_alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(orphan) and not group_alive(child.pid)


def test_logs_are_kept_and_rotated_not_deleted(tmp_path):
    log = tmp_path / "api.log"
    for run in range(7):
        log.write_text(f"run {run}\n")
        rotate_log(log, keep=5)
    assert not log.exists()
    kept = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert kept == {f"api.log.{n}": f"run {6 - n + 1}\n" for n in range(1, 6)}


def test_each_merit_up_keeps_the_previous_runs_log(tmp_path):
    from services.devstack import Stack
    from services.settings import Settings

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "worker-chain.log").write_text("the first run\n")
    stack = Stack(Settings(env="test", data_dir=tmp_path))
    path = stack.log_file("worker-chain")
    assert path == logs / "worker-chain.log" and not path.exists()
    assert (logs / "worker-chain.log.1").read_text() == "the first run\n"
    path.write_text("this run\n")
    assert stack.log_file("worker-chain") == path and path.read_text() == "this run\n"  # once per run

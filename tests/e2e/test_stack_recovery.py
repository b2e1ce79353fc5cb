"""`merit up` supervises its parts: a part killed -9 is restarted, the rest of the stack keeps
running, the status says so, its log keeps the earlier run, and `merit down` leaves no process of
any part behind (Celery's embedded beat included)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from services.processes import group_alive, pid_alive
from tests.e2e.test_merit_up import env  # noqa: F401 (a fixture)
from tests.fixtures.up import merit, start, stop
from tests.fixtures.waiting import wait_for


def read_state(env: dict[str, str]) -> dict[str, Any]:
    return json.loads((Path(env["MERIT_DATA_DIR"]) / "stack.json").read_text())


def part(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in state["parts"] if p["name"] == name)


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members



def test_a_killed_worker_is_restarted_and_down_leaves_no_orphan(env):
    env = {**env, "MERIT_TEST_NODES": "1"}
    proc, state = start(env)
    latest = state
    pids = {p["pid"] for p in state["parts"]}
    try:
        chain = part(state, "worker-chain")
        beat = [part(state, "beat")["pid"]]  # the scheduler is a part of its own, not inside a worker
        assert group_members(chain["pid"]) == [chain["pid"]]
        os.kill(chain["pid"], signal.SIGKILL)

        def restarted() -> dict[str, Any] | None:
            s = read_state(env)
            return s if part(s, "worker-chain")["restarts"] == 1 else None

        latest = wait_for(restarted, 60, "worker-chain to be restarted")
        pids |= {p["pid"] for p in latest["parts"]}
        again = part(latest, "worker-chain")
        assert again["pid"] != chain["pid"] and again["last_exit"] == "killed by signal 9"
        assert all(pid_alive(b) for b in beat), "beat runs on while a worker restarts"
        assert all(p["restarts"] == 0 for p in latest["parts"] if p["name"] != "worker-chain")

        def healthy() -> dict[str, Any] | None:
            shown = merit(env, "status", "--json")
            s = json.loads(shown.stdout) if shown.returncode == 0 else None
            return s if s and part(s, "worker-chain")["health"] == "ok" else None

        status = wait_for(healthy, 60, "the restarted worker to answer")
        assert {p["name"]: p["health"] for p in status["parts"]}["api"] == "ok"
        human = merit({**env, "COLUMNS": "200"}, "status")
        row = next(line for line in human.stdout.splitlines() if "worker-chain" in line)
        assert "ok" in row and "1 (last: killed by signal 9)" in row

        log = Path(chain["log"]).read_text()
        assert "restarted by merit up after: killed by signal 9" in log
        assert log.count("ready.") >= 2  # the first run's lines are kept above the second's
        beat_again = beat
    finally:
        out = stop(env, proc, latest)
    assert "worker-chain stopped (killed by signal 9); restarting in 1s" in out
    assert "worker-chain restarted" in out
    assert not any(group_alive(p) for p in pids), "a process of a part outlived merit down"
    assert not any(pid_alive(b) for b in beat_again)
    supervisor_log = Path(env["MERIT_DATA_DIR"]) / "logs" / "supervisor.log"
    assert "worker-chain restarted" in supervisor_log.read_text()


def test_an_epoch_finalizes_on_its_own_on_an_idle_chain(env):
    """Beat closes the epoch, the workers prove and propose it, and the finalize that waits for the
    challenge window (60 s on the dev chain, judged by the chain's clock) goes through although
    nothing else happens on the chain meanwhile."""
    env = {**env, "MERIT_TEST_NODES": "3", "MERIT_EPOCH_SECONDS": "5"}
    proc, state = start(env)
    try:
        submitted = merit(env, "task", "submit", "What is 3+4?", "--wait", "--json")
        assert submitted.returncode == 0, submitted.stderr

        def shown(status: str) -> dict[str, Any] | None:
            done = merit(env, "epoch", "show", "1", "--json")
            view = json.loads(done.stdout) if done.returncode == 0 else None
            return view if view and view["status"] == status else None

        wait_for(lambda: shown("proposed"), 180, "epoch 1 to be proposed")
        early = merit(env, "epoch", "finalize", "1")
        assert early.returncode == 0 and "to go by the chain's clock" in early.stdout, early.stdout + early.stderr
        wait_for(lambda: shown("finalized"), 240, "epoch 1 to be finalized by the chain worker")
    finally:
        stop(env, proc, read_state(env))

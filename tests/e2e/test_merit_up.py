"""`merit up` as a user runs it: a whole stack from one command, driven from another shell."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.fixtures.up import merit, start, stop, up_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return up_env(tmp_path / "data")


def test_up_answers_a_task_then_down_and_up_resume(env):
    proc, state = start(env)
    try:
        names = {p["name"] for p in state["parts"]}
        assert {"postgres", "redis", "anvil", "api", "worker-chain", "test-node-1"} <= names
        status = merit(env, "status", "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["api_healthy"] is True

        # a payer without MRT is told so before anything is submitted
        broke = merit(env, "task", "submit", "What is 2+2?", "--account", "dev:8")
        assert broke.returncode != 0 and len(broke.stderr.strip().splitlines()) == 1
        assert "holds 0 MRT, less than the fee" in broke.stderr and "merit faucet" in broke.stderr
        # the dev requester (dev:9, funded by `merit up`) pays the fee into escrow by default
        submitted = merit(env, "task", "submit", "What is 2+2?", "--wait", "--json")
        assert submitted.returncode == 0, submitted.stderr
        task = json.loads(submitted.stdout)
        assert task["status"] == "done" and task["answer"] == "The answer is 4."
        assert task["fee_state"] == "held" and int(task["fee_wei"]) == 10**16
        distinct = {a["content"] for a in task["answers"] if a["status"] == "ok"}
        assert len(task["ranking"]) == len(distinct)  # one candidate per distinct answer
        human = merit(env, "task", "show", task["id"])
        assert "The answer is 4." in human.stdout and "test node" in human.stdout
        closed = merit(env, "epoch", "close", "--json")
        assert closed.returncode == 0, closed.stderr
        epoch = json.loads(closed.stdout)
        assert epoch["tasks"] == 1 and int(epoch["pool_wei"]) == int(task["fee_wei"])
        moved = json.loads(merit(env, "task", "show", task["id"], "--json").stdout)
        assert (moved["fee_state"], moved["fee_epoch"]) == ("moved", epoch["epoch"])
        assert sum(int(n["reward_wei"]) for n in epoch["nodes"]) == int(task["fee_wei"])
        audit = merit(env, "audit", "epoch", str(epoch["epoch"]))
        assert audit.returncode == 0 and "PASS" in audit.stdout, audit.stdout + audit.stderr
        checked_before = json.loads(merit(env, "audit", "epoch", str(epoch["epoch"]), "--json").stdout)["checked"]
        # the test nodes' operators are registered on chain: the epoch settles with a real proof
        settled = merit(env, "epoch", "settle", str(epoch["epoch"]), "--json", timeout=180)
        assert settled.returncode == 0, settled.stdout + settled.stderr
        s = json.loads(settled.stdout)
        assert s["status"] == "proposed" and s["proof_status"] == "verified" and s["proof_chunks"] == 1
        shown = json.loads(merit(env, "epoch", "show", str(epoch["epoch"]), "--json").stdout)
        assert shown["status"] == "proposed"
        assert int(shown["pool_wei"]) == int(task["fee_wei"])  # the escrowed fee moved into the pool
        # the audit now also recomputes the proof's score commitments from the bundle
        again = merit(env, "audit", "epoch", str(epoch["epoch"]), "--json", timeout=180)
        assert again.returncode == 0, again.stdout + again.stderr
        audited = json.loads(again.stdout)
        assert audited["passed"] and audited["checked"] > checked_before
        assert shown["proof"]["workers"]["status"] == "verified"
        assert shown["proof"]["chain"].startswith("accepted by verifier")
    finally:
        out = stop(env, proc, state)
    assert "meritswarm is up" in out and "/explorer" in out and "/docs" in out

    # a second `merit up` resumes: same contracts, same database
    proc, again = start(env)
    try:
        assert again["deployment"]["addresses"] == state["deployment"]["addresses"]
        shown = merit(env, "task", "show", task["id"], "--json")
        assert json.loads(shown.stdout)["answer"] == "The answer is 4."
    finally:
        stop(env, proc, again)
    assert merit(env, "status").returncode == 3


def test_epochs_close_and_settle_on_their_own_with_a_verified_proof(env):
    env = {**env, "MERIT_EPOCH_SECONDS": "5"}
    proc, state = start(env)
    try:
        submitted = merit(env, "task", "submit", "What is 3+4?", "--wait", "--json")
        assert submitted.returncode == 0, submitted.stderr
        deadline = time.monotonic() + 120
        while True:  # beat closes the epoch, the zk worker proves and checks, the chain worker proposes
            shown = json.loads(merit(env, "epoch", "show", "1", "--json").stdout)
            if shown["status"] == "proposed" or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert shown["status"] == "proposed", shown
        assert shown["proof"]["workers"]["status"] == "verified"
    finally:
        stop(env, proc, state)


def test_up_names_a_taken_port_and_the_setting(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(env["MERIT_API_PORT"])))
        s.listen()
        result = merit(env, "up", timeout=60)
    assert result.returncode == 78
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert env["MERIT_API_PORT"] in line and "MERIT_API_PORT" in line
    assert not (Path(env["MERIT_DATA_DIR"]) / "stack.json").exists()


def test_task_submit_without_a_stack_says_how_to_start_one(env):
    result = merit(env, "task", "submit", "What is 2+2?")
    assert result.returncode != 0
    assert "merit up" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_up_refuses_while_parts_of_a_crashed_stack_still_run(env, tmp_path):
    import subprocess as sp

    orphan = sp.Popen(["sleep", "60"])
    try:
        data = Path(env["MERIT_DATA_DIR"])
        data.mkdir(parents=True)
        dead = sp.Popen(["true"])
        dead.wait()
        (data / "stack.json").write_text(json.dumps(
            {"pid": dead.pid, "parts": [{"name": "postgres", "pid": orphan.pid, "url": "", "log": None}]}))
        result = merit(env, "up", timeout=60)
        assert result.returncode == 5
        assert f"postgres (pid {orphan.pid})" in result.stderr and "merit down" in result.stderr
        down = merit(env, "down")
        assert down.returncode == 0 and f"postgres (pid {orphan.pid})" in down.stdout
        orphan.wait(timeout=10)
    finally:
        orphan.kill()

"""Recovery without a human: `merit up` under a steady load of free and paid tasks, each part it
runs killed -9 in turn (workers of every queue, beat, the API, PostgreSQL, redis, anvil, a test
node). With no human step, within 2 minutes of each kill every task submitted reaches a final
state; no answer, verdict or round is stored twice or after its round moved on; no transaction is
sent twice (one per outbox intent, every marketplace transaction on chain is an outbox entry's);
and the chain agrees with the database on every escrowed fee. Prints, per part, how long until it
ran again and until every task submitted before its kill was final, and the lost, duplicated and
stuck work of its window.

Runs with the product's defaults (60 s visibility timeout, the reconciler every 15 s), except
MERIT_FEE_WAIT_S=60: a paid task whose fee transaction a kill interrupted fails for its fee
within the 2 minutes instead of 10.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from services.chain.contracts import ChainSession, EscrowStatus
from services.devstack import health
from tests.e2e.test_merit_up import env  # noqa: F401 (a fixture)
from tests.fixtures.up import MERIT, start, stop

KILLS = (
    "worker-inference", "worker-consensus", "worker-zk", "worker-chain", "beat",
    "api", "postgres", "redis", "anvil", "test-node-1",
)  # fmt: skip
WARM_UP_S = 10
STEADY_S = 3  # the load runs on this long between one part's recovery and the next kill
BURST = 8  # tasks submitted at once just before each kill, so that the part holds work
RECOVERY_S = 120  # every task submitted before a kill is final this soon after it
FREE_EVERY_S = 0.5
PAID_EVERY_S = 4.0
FINAL = ("done", "failed")
EXPECTED_CHAIN = {"held": EscrowStatus.FUNDED, "moved": EscrowStatus.SETTLED, "refunded": EscrowStatus.REFUNDED}


@dataclass
class Load:
    """Free tasks through the REST API and paid ones through `merit task submit` (the dev
    requester escrows each fee), each kept with when its id came back."""

    env: dict[str, str]
    api: str
    submitted: list[tuple[float, str, bool]] = field(default_factory=list)  # (when, id, paid)
    refused: int = 0  # submissions that got no id (a part was down): nothing to track
    stop: threading.Event = field(default_factory=threading.Event)

    def free(self) -> None:
        headers = {"Authorization": "Bearer dev-requester-key"}
        with httpx.Client(timeout=10) as http:
            i = 0
            while not self.stop.wait(FREE_EVERY_S):
                i += 1
                try:
                    r = http.post(f"{self.api}/v1/tasks", json={"prompt": f"What is {i}+{i % 7}?"}, headers=headers)
                except httpx.HTTPError:
                    self.refused += 1
                    continue
                if r.status_code == 202:
                    self.submitted.append((time.monotonic(), r.json()["id"], False))
                else:
                    self.refused += 1

    def burst(self, n: int) -> None:
        headers = {"Authorization": "Bearer dev-requester-key"}
        with httpx.Client(timeout=10) as http:
            for i in range(n):
                try:
                    r = http.post(f"{self.api}/v1/tasks", json={"prompt": f"What is {i}*{i}?"}, headers=headers)
                except httpx.HTTPError:
                    continue
                if r.status_code == 202:
                    self.submitted.append((time.monotonic(), r.json()["id"], False))

    def paid(self) -> None:
        i = 0
        while not self.stop.wait(PAID_EVERY_S):
            i += 1
            try:
                done = subprocess.run([*MERIT, "task", "submit", f"What is {i}*3?", "--json"], env=self.env,
                                      capture_output=True, text=True, timeout=60)  # fmt: skip
            except subprocess.TimeoutExpired:
                self.refused += 1
                continue
            if done.returncode == 0:
                self.submitted.append((time.monotonic(), json.loads(done.stdout)["id"], True))
            else:
                self.refused += 1


@dataclass
class Kill:
    part: str
    at: float
    back_s: float | None = None  # until the part ran again and answered its probe
    settled_s: float | None = None  # until every task submitted before the kill was final
    in_flight: int = 0  # tasks not yet final when it was killed


def read_state(env: dict[str, str]) -> dict[str, Any]:
    return json.loads((Path(env["MERIT_DATA_DIR"]) / "stack.json").read_text())


def part_of(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in state["parts"] if p["name"] == name)


def statuses(db: str) -> dict[str, str]:
    try:
        with psycopg.connect(db, connect_timeout=2) as conn:
            return {str(i): s for i, s in conn.execute("SELECT id, status FROM tasks").fetchall()}
    except psycopg.OperationalError:
        return {}  # PostgreSQL is down this moment: look again


def test_every_part_killed_under_load_recovers_with_nothing_lost_duplicated_or_stuck(env):
    env = {**env, "MERIT_TEST_NODES": "4", "MERIT_FEE_WAIT_S": "60", "MERIT_EPOCH_SECONDS": "45"}
    proc, state = start(env)
    db, api = state["database_url"], state["api_url"]
    load = Load(env, api)
    threads = [threading.Thread(target=load.free, daemon=True), threading.Thread(target=load.paid, daemon=True)]
    kills: list[Kill] = []
    try:
        for t in threads:
            t.start()
        time.sleep(WARM_UP_S)
        for name in KILLS:  # one part after another, each once the last one's work is all final
            load.burst(BURST)  # work in flight at the kill
            victim = part_of(read_state(env), name)
            kill = Kill(name, time.monotonic(), in_flight=sum(s not in FINAL for s in statuses(db).values()))
            os.kill(victim["pid"], signal.SIGKILL)
            kills.append(kill)
            watch(env, db, load, [kill], until=kill.at + RECOVERY_S)
            time.sleep(STEADY_S)
        load.stop.set()
        for t in threads:
            t.join(timeout=70)
        deadline = kills[-1].at + RECOVERY_S  # and the tasks submitted after the last kill
        while time.monotonic() < deadline and any(s not in FINAL for s in statuses(db).values()):
            time.sleep(1)
        report = check(env, state, db, load, kills)
    finally:
        load.stop.set()
        out = stop(env, proc, read_state(env))
    print(report)
    assert "giving up" not in out and "stopping the stack" not in out, out
    for k in kills:
        assert k.back_s is not None, f"{k.part} did not run again"
        assert k.settled_s is not None and k.settled_s <= RECOVERY_S, f"after {k.part}: tasks not final"


def watch(env: dict[str, str], db: str, load: Load, kills: list[Kill], *, until: float) -> None:
    """Note, for each kill, when its part answered again and when every task submitted before it
    was final; return at ``until`` or once every kill has both."""
    while time.monotonic() < until:
        now = time.monotonic()
        try:
            state = read_state(env)
        except (OSError, ValueError):
            state = None
        pending = [k for k in kills if k.back_s is None or k.settled_s is None]
        if not pending:
            return
        probes = health(state) if state and any(k.back_s is None for k in kills) else {}
        seen = statuses(db) if any(k.settled_s is None for k in kills) else {}
        for k in pending:
            if k.back_s is None and probes.get(k.part, "").startswith(("ok", "running")):
                if part_of(state, k.part)["restarts"] >= 1:  # type: ignore[arg-type]
                    k.back_s = now - k.at
            if k.settled_s is None and seen:
                before = [i for t, i, _ in list(load.submitted) if t < k.at]
                if all(seen.get(i) in FINAL for i in before):
                    k.settled_s = now - k.at
        time.sleep(1)


def check(env: dict[str, str], state: dict[str, Any], db: str, load: Load, kills: list[Kill]) -> str:
    """Every invariant, asserted; the table of what each kill cost."""
    ids = {i for _, i, _ in load.submitted}
    with psycopg.connect(db) as conn:
        rows = {str(i): (s, e, f, p, fee) for i, s, e, f, p, fee in conn.execute(
            "SELECT id, status, error, fee_state, payer, fee_wei FROM tasks").fetchall()}
        dup = conn.execute("""
            SELECT (SELECT count(*) FROM (SELECT 1 FROM answers GROUP BY task_id, node_id HAVING count(*) > 1) a)
                 + (SELECT count(*) FROM (SELECT 1 FROM judgments
                                          GROUP BY task_id, judge_id, left_id, right_id HAVING count(*) > 1) j)
                 + (SELECT count(*) FROM (SELECT 1 FROM rounds GROUP BY task_id HAVING count(*) > 1) r)
        """).fetchone()[0]
        late = dict(conn.execute("""
            SELECT a.task_id::text, count(*) FROM answers a JOIN rounds r USING (task_id)
            WHERE a.created_at > r.started_at GROUP BY 1
            UNION ALL
            SELECT j.task_id::text, count(*) FROM judgments j JOIN rounds r USING (task_id)
            WHERE r.finished_at IS NOT NULL AND j.created_at > r.finished_at GROUP BY 1
        """).fetchall())
        outbox = conn.execute(
            "SELECT intent_key, lower(sender), nonce, tx_hash, status FROM chain_outbox WHERE chain_id = 31337"
        ).fetchall()
    lost = sorted(ids - rows.keys())
    stuck = sorted(i for i, r in rows.items() if r[0] not in FINAL)
    assert not lost, f"tasks accepted but not stored: {lost}"
    assert not stuck, f"tasks not final: {[(i, rows[i][0]) for i in stuck]}"
    assert dup == 0 and not late, f"duplicated work: {dup} rows, late rows {late}"
    sent_twice = check_outbox(state, db)
    disagree = check_escrow(env, state, rows)
    assert not sent_twice, f"transactions sent twice or outside the outbox: {sent_twice}"
    assert not disagree, f"chain and database disagree on escrow: {disagree}"

    fees: dict[str, int] = {}
    for r in rows.values():
        if r[2] != "free":  # (status, error, fee_state, payer, fee)
            fees[r[2]] = fees.get(r[2], 0) + 1
    done = sum(r[0] == "done" for r in rows.values())
    failed = {i: r[1] for i, r in rows.items() if r[0] == "failed"}
    lines = [
        f"{len(rows)} tasks ({sum(p for *_, p in load.submitted)} paid), {done} done, {len(failed)} failed, "
        f"{load.refused} submissions refused while a part was down; {len(outbox)} chain transactions; "
        f"fees {', '.join(f'{n} {state}' for state, n in sorted(fees.items()))} (each as the chain holds it)",
        f"{'part killed':<18}{'in flight':>10}{'back (s)':>9}{'all final (s)':>14}{'window':>8}{'lost':>6}"
        f"{'dup':>5}{'stuck':>7}{'failed':>8}",
    ]
    for n, k in enumerate(kills):
        end = kills[n + 1].at if n + 1 < len(kills) else float("inf")
        window = [i for t, i, _ in load.submitted if k.at <= t < end]
        lines.append(
            f"{k.part:<18}{k.in_flight:>10}{_s(k.back_s):>9}{_s(k.settled_s):>14}{len(window):>8}"
            f"{sum(i in lost for i in window):>6}{sum(i in late for i in window):>5}"
            f"{sum(i in stuck for i in window):>7}{sum(i in failed for i in window):>8}"
        )
    reasons: dict[str, int] = {}
    for error in failed.values():
        key = (error or "?").split(":")[0][:70]
        reasons[key] = reasons.get(key, 0) + 1
    lines += [f"  failed: {n} x {why}" for why, n in sorted(reasons.items(), key=lambda x: -x[1])]
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def check_outbox(state: dict[str, Any], db: str, settle_s: float = 60) -> list[str]:
    """One transaction per intent: every mined entry's transaction is on chain, and every
    transaction a marketplace role sent is exactly one entry's (none sent beside the outbox).
    The chain is read up to its head at the check; a write still in flight then (a refund or an
    epoch's fee move the stack sends on its own) gets ``settle_s`` to be recorded as mined."""
    session = ChainSession.open(state["chain_rpc_url"], Path(state["data_dir"]) / "deployments")
    w3 = session.w3
    deadline = time.monotonic() + settle_s
    while True:
        head = w3.eth.block_number
        with psycopg.connect(db) as conn:
            outbox = conn.execute(
                "SELECT intent_key, lower(sender), nonce, tx_hash, status FROM chain_outbox WHERE chain_id = 31337"
            ).fetchall()
        problems = _outbox_problems(w3, outbox, head)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(2)


def _outbox_problems(w3: Any, outbox: list[tuple[Any, ...]], head: int) -> list[str]:
    senders = {s for _, s, *_ in outbox}
    recorded = {h.lower() for *_, h, st in outbox if h and st in ("mined", "failed")}
    problems = [f"{k}: {st} without a receipt" for k, _, _, h, st in outbox
                if st in ("mined", "failed") and w3.eth.get_transaction_receipt(h) is None]  # fmt: skip
    on_chain: dict[str, int] = {}
    for number in range(head + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if str(tx["from"]).lower() in senders:
                on_chain[tx["hash"].to_0x_hex().lower()] = number
    problems += [f"tx {h} (block {b}) is no outbox entry's" for h, b in on_chain.items() if h not in recorded]
    mined_later = {h for h in recorded if h not in on_chain}  # mined after the head read: next look
    for sender in senders:
        mined = sum(1 for _, s, _, h, st in outbox
                    if s == sender and st in ("mined", "failed") and h.lower() not in mined_later)  # fmt: skip
        sent = w3.eth.get_transaction_count(w3.to_checksum_address(sender), head)
        if sent != mined:
            problems.append(f"{sender} sent {sent}, the outbox holds {mined}")
    return problems + [f"outbox tx {h} not on chain" for h in mined_later]


def check_escrow(env: dict[str, str], state: dict[str, Any], rows: dict[str, tuple[Any, ...]]) -> list[str]:
    """Each fee the database holds, moved or refunded is so in TaskEscrow.escrowOf(payer, task)."""
    session = ChainSession.open(state["chain_rpc_url"], Path(state["data_dir"]) / "deployments")
    problems = []
    for task_id, (_, _, fee_state, payer, fee) in rows.items():
        if fee_state not in EXPECTED_CHAIN:
            continue
        escrow = session.escrow.escrow_of(payer, task_id)
        if escrow.status is not EXPECTED_CHAIN[fee_state] or int(escrow.amount_wei) != int(fee):
            problems.append(f"{task_id}: database {fee_state} {fee}, chain {escrow.status} {escrow.amount_wei}")
    return problems


pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

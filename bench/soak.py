"""Soak: 10,000 tasks submitted in bursts through the REST API to `merit up`, every one to a final
state; tasks/s and the time to a final state (p50, p99, worst) beside the peer, the same tasks
submitted one at a time (each waited for before the next), measured in the same run on the same
stack; and the longest step of each kind the workers ran (what the broker's visibility timeout
must cover).

    python bench/soak.py [--tasks 10000] [--burst 250] [--peer 200]

`merit up` runs in a fresh data directory on free ports with 4 test nodes and the product's
defaults, except the API's per-key rate limit (20/s): one bench key submits the whole load, so it
is raised to 1,000/s here (the limit is not what is measured). Free tasks (fee 0): the escrow is
not what is measured either. A burst of ``--burst`` tasks goes in whenever fewer than that many are
unfinished, so the queues never drain between bursts. Each task's time to a final state is the
database's (created_at to the update that finished it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.ports_free import free_port, free_run  # noqa: E402

MERIT = [sys.executable, "-m", "services.cli"]
KEY = "dev-requester-key"
STEP = re.compile(r"Task (merit\.[a-z_.]+)\[[^\]]+\] succeeded in ([0-9.]+)s")


def start(data: Path) -> tuple[subprocess.Popen[str], dict[str, str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MERIT_")}
    env.update(
        MERIT_DATA_DIR=str(data), MERIT_API_PORT=str(free_port()), MERIT_ANVIL_PORT=str(free_port()),
        MERIT_POSTGRES_PORT=str(free_port()), MERIT_REDIS_PORT=str(free_port()),
        MERIT_TEST_NODE_BASE_PORT=str(free_run(4)), MERIT_TEST_NODES="4",
        MERIT_RATE_LIMIT_PER_S="1000", MERIT_RATE_LIMIT_BURST="1000",
    )  # fmt: skip
    proc = subprocess.Popen([*MERIT, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = data / "stack.json"
    deadline = time.monotonic() + 300
    while not state.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"merit up did not come up: {proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.5)
    return proc, env, json.loads(state.read_text())


class Bench:
    def __init__(self, state: dict) -> None:
        self.api, self.db = state["api_url"], state["database_url"]
        self.http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=32))
        self.conn = psycopg.connect(self.db, autocommit=True)
        self.n = 0

    def submit(self, _: object = None) -> str:
        self.n += 1
        body = {"prompt": f"What is {self.n % 97}+{self.n % 13}?"}
        for attempt in range(20):
            r = self.http.post(f"{self.api}/v1/tasks", json=body, headers={"Authorization": f"Bearer {KEY}"})
            if r.status_code == 202:
                return str(r.json()["id"])
            time.sleep(float(r.headers.get("retry-after", 0.5)))
        raise RuntimeError(f"POST /v1/tasks kept answering {r.status_code}: {r.text[:200]}")

    def unfinished(self, ids: list[str]) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM tasks WHERE id = ANY(%s::uuid[]) AND status NOT IN ('done', 'failed')", (ids,)
        ).fetchone()
        return int(row[0]) if row else 0

    def outcome(self, ids: list[str]) -> dict[str, float]:
        rows = self.conn.execute(
            "SELECT status, extract(epoch FROM updated_at - created_at), created_at, updated_at "
            "FROM tasks WHERE id = ANY(%s::uuid[])",
            (ids,),
        ).fetchall()
        times = sorted(float(r[1]) for r in rows)
        wall = (max(r[3] for r in rows) - min(r[2] for r in rows)).total_seconds()
        return {
            "tasks": len(rows), "done": sum(r[0] == "done" for r in rows),
            "failed": sum(r[0] == "failed" for r in rows), "wall": wall, "rate": len(rows) / wall,
            "p50": times[len(times) // 2], "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
            "worst": times[-1],
        }  # fmt: skip

    def one_at_a_time(self, n: int) -> list[str]:
        ids = []
        for _ in range(n):
            ids.append(self.submit())
            while self.unfinished(ids[-1:]):
                time.sleep(0.05)
        return ids

    def bursts(self, total: int, burst: int) -> list[str]:
        ids: list[str] = []
        started = last = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            while len(ids) < total or self.unfinished(ids):
                if len(ids) < total and self.unfinished(ids[-2 * burst :]) < burst:
                    ids += list(pool.map(self.submit, range(min(burst, total - len(ids)))))
                if time.monotonic() - last > 30:
                    last = time.monotonic()
                    print(f"  {time.monotonic() - started:6.0f} s: {len(ids)} submitted, "
                          f"{self.unfinished(ids)} unfinished", file=sys.stderr, flush=True)  # fmt: skip
                time.sleep(0.5)
        return ids


def longest_steps(logs: Path) -> tuple[dict[str, float], int]:
    """The longest run of each kind of step in the workers' logs; how many re-drives the
    reconciler made."""
    longest: dict[str, float] = defaultdict(float)
    redrives = 0
    for log in logs.glob("worker-*.log"):
        text = log.read_text(errors="replace")
        redrives += text.count("stalled task re-driven")
        for m in STEP.finditer(text):
            longest[m.group(1)] = max(longest[m.group(1)], float(m.group(2)))
    return dict(longest), redrives


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--burst", type=int, default=250)
    parser.add_argument("--peer", type=int, default=200, help="tasks the peer submits one at a time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="merit-soak-") as tmp:
        began = time.monotonic()
        proc, env, state = start(Path(tmp) / "data")
        try:
            bench = Bench(state)
            print(f"peer: {args.peer} tasks one at a time", file=sys.stderr, flush=True)
            peer = bench.outcome(bench.one_at_a_time(args.peer))
            print(f"this: {args.tasks} tasks in bursts of {args.burst}", file=sys.stderr, flush=True)
            ids = bench.bursts(args.tasks, args.burst)
            ours = bench.outcome(ids)
            gold = bench.conn.execute("SELECT count(*) FROM gold_tasks").fetchone()
            steps, redrives = longest_steps(Path(state["data_dir"]) / "logs")
        finally:
            subprocess.run([*MERIT, "down"], env=env, capture_output=True, timeout=120)
            proc.wait(timeout=120)
    print(f"soak: merit up (4 test nodes, {os.cpu_count()} cores), free tasks through POST /v1/tasks; "
          f"{time.monotonic() - began:.0f} s in all")  # fmt: skip
    head = f"{'load':<30}{'tasks':>7}{'done':>7}{'failed':>7}{'wall s':>9}{'tasks/s':>9}{'p50 s':>8}{'p99 s':>8}{'worst s':>9}"
    print(head + "\n" + "-" * len(head))
    for name, r in ((f"bursts of {args.burst} (this)", ours), ("one at a time (peer)", peer)):
        print(f"{name:<30}{r['tasks']:>7.0f}{r['done']:>7.0f}{r['failed']:>7.0f}{r['wall']:>9.0f}"
              f"{r['rate']:>9.2f}{r['p50']:>8.1f}{r['p99']:>8.1f}{r['worst']:>9.1f}")  # fmt: skip
    print(f"{'ratio this / peer':<30}{'':>37}{ours['rate'] / peer['rate']:>9.2f}{ours['p50'] / peer['p50']:>8.1f}"
          f"{ours['p99'] / peer['p99']:>8.1f}{ours['worst'] / peer['worst']:>9.1f}")  # fmt: skip
    print(f"hidden gold tasks made beside them: {gold[0] if gold else 0}; rounds the reconciler re-drove: {redrives}")
    print("longest step of each kind (s): " + ", ".join(f"{k.removeprefix('merit.')} {v:.2f}"
                                                        for k, v in sorted(steps.items(), key=lambda x: -x[1])))


if __name__ == "__main__":
    main()

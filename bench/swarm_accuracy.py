"""Swarm accuracy on held-out MMLU: each node, the best node by calibration, majority vote, and
this project's peer-ranked Bradley-Terry, with 95% intervals. One table.

    python bench/swarm_accuracy.py                      # starts 3 local CPU nodes (make node)
    python bench/swarm_accuracy.py --node URL=MODEL ...  # any OpenAI-compatible servers (vLLM, ...)

Each node answers with one token; its letter is read from the top log-probabilities with its own
letter bias removed (estimated, without labels, over its calibration answers). Answers that differ
are judged in pairs by the other nodes, in both orders, through the same chat API as live rounds.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.core import consensus, letters, schedule
from services.core.types import Judgment, Node, NodeId, NodeKind, NodeStatus, TaskId, Wei
from services.nodes import mmlu
from services.core.work import WorkKind, WorkOrder
from services.nodes.client import HttpNodeGateway
from services.ports_free import free_port
from services.processes import Child, http_ok, python_module, spawn, wait_ready

LOCAL = (
    ("smollm2-135m", None),
    ("gemma3-270m", None),
    ("smollm2-135m", "You are a meticulous examiner. Weigh every option, then reply with one letter."),
)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def start_local(tmp: Path) -> tuple[list[Node], list[Child]]:
    nodes, children = [], []
    for i, (model, system) in enumerate(LOCAL):
        port = free_port()
        args = python_module("services.cli", "node", "serve", "--model", model, "--port", str(port), "--threads", "1")
        if system:
            args += ["--system", system]
        child = spawn(f"node-{i}", args, url=f"http://127.0.0.1:{port}/v1", log=tmp / f"node-{i}.log")
        wait_ready(child, http_ok(f"http://127.0.0.1:{port}/health"), timeout=180)
        children.append(child)
        label = model + (" (examiner prompt)" if system else "")
        nodes.append(as_node(i + 1, label, child.url, model))
    return nodes, children


def as_node(i: int, name: str, url: str, model: str) -> Node:
    return Node(NodeId(i), name, url, model, NodeKind.OPENAI, NodeStatus.ACTIVE, 5000, Wei(0), None, datetime.now(UTC))


def answer_all(gw: HttpNodeGateway, nodes: list[Node], qs: list[mmlu.Question]) -> dict[NodeId, list[dict[str, float]]]:
    order = WorkOrder(WorkKind.ANSWER, 0, 0)  # the bench reads the replies; it checks no signature
    return {n.id: [gw.choose(n, q.prompt(), mmlu.LETTERS, order).probs for q in qs] for n in nodes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--node", action="append", default=[], help="URL=MODEL of an OpenAI-compatible server")
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--calibration", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    started = time.monotonic()
    children: list[Child] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.node:
            nodes = [as_node(i + 1, m, u, m) for i, (u, m) in enumerate(s.split("=", 1) for s in args.node)]
        else:
            nodes, children = start_local(Path(tmp))
        gw = HttpNodeGateway(timeout_s=300, max_tokens=1, allow_loopback=True)
        try:
            calib = mmlu.sample("calibration", args.calibration, seed=args.seed)
            test = mmlu.sample("heldout", args.questions, seed=args.seed)
            calib_probs = answer_all(gw, nodes, calib)
            test_probs = answer_all(gw, nodes, test)
            # each node's letter bias, from its calibration answers (no labels needed)
            picks: dict[NodeId, list[str | None]] = {}
            calib_acc: dict[NodeId, float] = {}
            for n in nodes:
                both = letters.debiased(calib_probs[n.id] + test_probs[n.id], mmlu.LETTERS)
                calib_picks, picks[n.id] = both[: len(calib)], both[len(calib):]
                calib_acc[n.id] = sum(p == q.answer for p, q in zip(calib_picks, calib)) / len(calib)
            best = max(nodes, key=lambda n: (calib_acc[n.id], -n.id))
            right = {name: 0 for name in ("majority", "bt")}
            for qi, q in enumerate(test):
                chosen = {n.id: picks[n.id][qi] for n in nodes if picks[n.id][qi]}
                counts = Counter(chosen.values())
                top = max(counts.values(), default=0)
                tied = sorted(x for x, c in counts.items() if c == top)
                majority = chosen.get(best.id) if chosen.get(best.id) in tied else (tied[0] if tied else None)
                right["majority"] += majority == q.answer
                right["bt"] += peer_ranked(gw, nodes, q, chosen) == q.answer
        finally:
            gw.close()
            for c in children:
                c.stop()
    n = len(test)
    rows = [(f"node: {x.name}", sum(p == q.answer for p, q in zip(picks[x.id], test))) for x in nodes]
    rows += [(f"best node by calibration ({best.name})", sum(p == q.answer for p, q in zip(picks[best.id], test)))]
    rows += [("majority vote", right["majority"]), ("peer-ranked BT (this project)", right["bt"])]
    print(f"swarm_accuracy: {n} held-out MMLU questions, {len(calib)} calibration, seed {args.seed}, chance 0.25")
    print(f"{'method':52} {'accuracy':>8}  {'95% interval':>15}")
    print("-" * 80)
    for name, k in rows:
        lo, hi = wilson(k, n)
        print(f"{name:52} {k / n:8.3f}  [{lo:.3f}, {hi:.3f}]")
    print(f"({time.monotonic() - started:.0f} s)")


def peer_ranked(gw: HttpNodeGateway, nodes: list[Node], q: mmlu.Question, chosen: dict[NodeId, str]) -> str | None:
    """The letter of the answer ranked first by Bradley-Terry over the nodes' pairwise verdicts."""
    if len(set(chosen.values())) <= 1:
        return next(iter(chosen.values()), None)
    answerers = sorted(chosen)
    text = {i: f"{chosen[i]}. {q.options[mmlu.LETTERS.index(chosen[i])]}" for i in answerers}
    by_id = {n.id: n for n in nodes}
    pairs = [p for p in schedule.schedule(answerers, [n.id for n in nodes]) if chosen[p.left_id] != chosen[p.right_id]]
    judged = []
    for p in pairs:
        v = gw.judge(by_id[p.judge_id], q.prompt(), text[p.left_id], text[p.right_id], WorkOrder(WorkKind.JUDGMENT, 0, 0))
        judged.append(Judgment(TaskId("bench"), p.judge_id, p.left_id, p.right_id, v.outcome))
    fit = consensus.fit(answerers, judged)
    return chosen[max(answerers, key=lambda i: (fit.scores[i], -i))]


if __name__ == "__main__":
    main()

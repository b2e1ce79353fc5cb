"""`merit audit epoch N`: recompute an epoch from its audit bundle and say PASS or what differs.

The bundle is fetched by its CID (``load_bundle`` checks every part against its CID). Each task's
posterior is recomputed from its candidates, seats, verdicts and the rates the round used; the
reward vector and reputation updates are recomputed with the same core code from the bundle's
inputs; the results are compared with the bundle, with the database, and with the recorded
settlement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.app.bundles import load_bundle
from services.app.ports import ContentStore, Store
from services.app.settlement import ProofRequest, proof_request
from services.core import aggregation, merkle, reputation
from services.core import epoch as core_epoch
from services.core.errors import Conflict, MeritError
from services.core.questions import commitment_of
from services.core.types import (
    Candidate,
    EpochId,
    Judgment,
    KnownQuestion,
    NodeId,
    Outcome,
    RankEntry,
    Reliability,
    TaskId,
    Wei,
)
from services.core.work import SigningDomain, Work, WorkKind, recover, task_number, text_hash

SCORE_TOL = 1e-6


@dataclass(frozen=True)
class Difference:
    what: str
    expected: str  # recomputed
    found: str  # recorded


@dataclass
class AuditReport:
    epoch_id: int
    audit_cid: str | None
    checked: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.differences

    def check(self, what: str, expected: Any, found: Any) -> None:
        self.checked.append(what)
        if expected != found:
            self.differences.append(Difference(what, str(expected), str(found)))


# (bundle, what the proof must cover, the proof) -> (what, recomputed, recorded) checks
ProofAudit = Callable[[dict[str, Any], ProofRequest, bytes], list[tuple[str, object, object]]]


# epoch -> (root, committed at, unix seconds) of its gold set as the chain holds it, or None
GoldRoots = Callable[[int], tuple[bytes, int] | None]


def audit_epoch(
    store: Store,
    content: ContentStore,
    epoch_id: EpochId,
    *,
    proof_audit: ProofAudit | None = None,
    gold_roots: GoldRoots | None = None,
    settlement_address: str | None = None,
    domain: SigningDomain | None = None,
) -> AuditReport:
    """The epoch's audit; with ``domain`` (the deployment's signing domain), every counted answer
    and verdict's signature is recovered too (``check_signatures``)."""
    ep = store.epochs.get(epoch_id)
    if ep.audit_cid is None:
        raise Conflict(
            f"epoch {epoch_id} is not closed yet", hint="close it with `merit epoch close`"
        )
    report = AuditReport(int(epoch_id), ep.audit_cid)
    try:
        doc = load_bundle(content, ep.audit_cid)
    except MeritError as exc:
        report.check("audit bundle matches its CID", "the bundle", f"unreadable: {exc.detail}")
        return report
    report.check("bundle names the epoch", int(epoch_id), doc["epoch"])
    report.check("pool", int(ep.pool_wei), int(doc["pool_wei"]))

    result = recompute_epoch(doc, report)
    if domain is not None:
        check_signatures(doc, report, domain)
    # gold set's epoch -> (its commitment on chain, its epoch's first task's time in unix seconds)
    seen: dict[int, tuple[tuple[bytes, int] | None, int | None]] = {}
    for t in doc["tasks"]:
        if t.get("gold") is not None:
            _check_gold(report, store, TaskId(t["task_id"]), t, gold_roots, seen)
    recorded = {NodeId(n["node_id"]): n for n in doc["nodes"]}
    stored = {r.node_id: r.reward_wei for r in store.epochs.nodes(epoch_id)}
    report.check(
        "database rewards match the bundle",
        {k: int(v["reward_wei"]) for k, v in recorded.items()},
        stored,
    )

    settlement = store.settlements.get(epoch_id)
    if settlement is not None:
        included = sum(n.reward for n in result.nodes if n.node_id not in set(settlement.left_out))
        report.check("settlement total", included, int(settlement.total_wei))
        report.check("settlement names the bundle", ep.audit_cid, settlement.audit_cid)
        proof = store.settlements.proof(epoch_id)
        if proof is not None and proof_audit is not None and settlement_address is not None:
            request = proof_request(store, settlement, settlement_address)
            for what, expected, found in proof_audit(doc, request, proof):
                report.check(what, expected, found)
    return report


def recompute_epoch(doc: Mapping[str, Any], report: AuditReport) -> core_epoch.EpochResult:
    """The part of the audit that needs the bundle alone (``merit audit`` and ``merit watch``):
    each task's posterior from its candidates, seats, verdicts and the rates the round used,
    against the ranking it recorded; then the epoch's close with the same core code, each task's
    allocation and each node's reward, reputation, withholding and reliability against the
    bundle's. Every comparison goes into ``report``; the recomputed result is returned."""
    tasks = []
    for t in doc["tasks"]:
        task_id = TaskId(t["task_id"])
        judgments = tuple(
            Judgment(
                task_id,
                NodeId(j["judge_id"]),
                NodeId(j["left_id"]),
                NodeId(j["right_id"]),
                Outcome(j["outcome"]),
            )
            for j in t["judgments"]
        )
        ranking = tuple(
            RankEntry(NodeId(e["node_id"]), float(e["score"]), int(e["rank"])) for e in t["ranking"]
        )
        cands = tuple(
            Candidate(NodeId(c["id"]), tuple(NodeId(n) for n in c["supporters"]))
            for c in t.get("candidates", ())
        )
        seats = {NodeId(int(k)): int(v) for k, v in t.get("seats", {}).items()}
        options = None if t.get("options") is None else tuple(t["options"])
        used = t.get("weights") or {}
        if cands and used:
            rates = {
                NodeId(int(k)): aggregation.Rates(int(v[0]), int(v[1])) for k, v in used.items()
            }
            post = aggregation.posterior(
                aggregation.round_of(cands, judgments, rates, seats, options)
            )
            recomputed = post.ranking()
            report.check(
                f"task {task_id[:8]} ranking",
                [e.node_id for e in recomputed],
                [e.node_id for e in ranking],
            )
            worst = max((abs(post.probability[e.node_id] - e.score) for e in ranking), default=0.0)
            report.check(
                f"task {task_id[:8]} posterior within {SCORE_TOL}", True, worst <= SCORE_TOL
            )
        answers = {NodeId(int(k)): v for k, v in t["answers"].items()}
        tasks.append(
            core_epoch.FinishedTask(
                task_id,
                Wei(int(t["fee_wei"])),
                ranking,
                answers,
                judgments,
                t.get("gold_answer"),
                tuple(NodeId(int(n)) for n in t.get("swarm", ())),
                cands,
                seats,
                options,
            )
        )

    before = {
        NodeId(n["node_id"]): reputation.Reputation(
            n["reputation_before_bp"], n["anchor_before_bp"]
        )
        for n in doc["nodes"]
    }
    known = {
        NodeId(n["node_id"]): Reliability(
            *n["reliability_before"][:8], distrusted=bool(n["reliability_before"][8])
        )
        for n in doc["nodes"]
        if "reliability_before" in n
    }
    result = core_epoch.close(
        EpochId(int(doc["epoch"])),
        tasks,
        before,
        Wei(int(doc["emission_wei"])),
        reliabilities=known,
    )
    if "fees_moved" in doc:
        _check_fees(report, doc)
    for t in doc["tasks"]:  # the scores the proof commits to are these allocations' sums
        allocation = result.task_rewards.get(TaskId(t["task_id"]), {})
        report.check(
            f"task {t['task_id'][:8]} allocation",
            {str(k): str(v) for k, v in sorted(allocation.items())},
            dict(sorted(t.get("rewards_wei", {}).items())),
        )
    recorded = {NodeId(n["node_id"]): n for n in doc["nodes"]}
    for n in result.nodes:
        row = recorded.get(n.node_id, {})
        report.check(f"node {n.node_id} reward", n.reward, int(row.get("reward_wei", -1)))
        report.check(
            f"node {n.node_id} reputation", n.after.score_bp, row.get("reputation_after_bp")
        )
        report.check(f"node {n.node_id} withheld", n.withheld, row.get("withheld"))
        if "reliability_after" in row:
            after = n.reliability_after
            report.check(
                f"node {n.node_id} reliability",
                [*after.values(), int(after.distrusted)],
                row["reliability_after"],
            )
    return result


def check_signatures(doc: Mapping[str, Any], report: AuditReport, domain: SigningDomain) -> None:
    """Every answer and verdict the epoch counted was signed by its node's registered signer, for
    this task (and, for a verdict, for the two answers the bundle holds), under ``domain``: each
    line's signature is recovered; a line that is unsigned, malformed, made for other work or
    by another key is named in the report."""
    signers = {str(n["node_id"]): n.get("signer") for n in doc["nodes"]}
    for t in doc["tasks"]:
        task = str(t["task_id"])
        signed = t.get("signed_answers") or {}
        for node in sorted(t["answers"]):
            what = f"task {task[:8]} answer of node {node}"
            _check_line(
                report, domain, what, signed.get(node), signers.get(node), task, WorkKind.ANSWER
            )
        for j in t["judgments"]:
            judge, left, right = j["judge_id"], j["left_id"], j["right_id"]
            what = f"task {task[:8]} verdict of node {judge} on ({left}, {right})"
            shown = (t["answers"].get(str(left)), t["answers"].get(str(right)))
            _check_line(report, domain, what, j.get("signed"), signers.get(str(judge)), task,
                        WorkKind.JUDGMENT, shown)  # fmt: skip


def _check_line(
    report: AuditReport,
    domain: SigningDomain,
    what: str,
    line: Mapping[str, Any] | None,
    signer: str | None,
    task: str,
    kind: WorkKind,
    shown: tuple[str | None, str | None] | None = None,
) -> None:
    if line is None or line.get("signature") is None:
        report.check(f"{what} is signed", "a signature", "none")
        return
    try:
        work = Work.from_fields(dict(line))
        signature = bytes.fromhex(str(line["signature"]).removeprefix("0x"))
    except (KeyError, TypeError, ValueError) as exc:
        report.check(
            f"{what} is a well-formed signed message", "well-formed", f"malformed: {exc!r}"
        )
        return
    report.check(f"{what} is signed for this task as {kind.value}", (task_number(task), kind.value),
                 (work.task, work.kind.value))  # fmt: skip
    if shown is not None:
        expected = tuple(None if x is None else "0x" + text_hash(x).hex() for x in shown)
        report.check(
            f"{what} is signed for the two answers shown",
            expected,
            ("0x" + work.left.hex(), "0x" + work.right.hex()),
        )
    got = recover(domain, work, signature)
    report.check(
        f"{what} signature recovers to the node's registered signer",
        str(signer).lower(),
        str(got).lower(),
    )
    report.check(
        f"{what} names the signer its signature recovers to",
        str(got).lower(),
        str(line.get("signer")).lower(),
    )


def _check_fees(report: AuditReport, doc: Mapping[str, Any]) -> None:
    """Only money moved out of the escrow is pooled: a task's fee weighs in the split exactly when
    it moved into this epoch's pool with the task, the pool is the fees moved plus the emission
    minted, and a fee that moved here for an earlier epoch's task is split beside the emission."""
    epoch = int(doc["epoch"])
    moved = {str(f["task_id"]): f for f in doc["fees_moved"]}
    for t in doc["tasks"]:
        f = moved.get(str(t["task_id"]))
        weighs = int(f["fee_wei"]) if f is not None and f.get("task_epoch") == epoch else 0
        report.check(
            f"task {str(t['task_id'])[:8]} fee is the fee moved into this pool",
            str(weighs),
            str(t["fee_wei"]),
        )
    total = sum(int(f["fee_wei"]) for f in moved.values())
    swept = sum(int(f["fee_wei"]) for f in moved.values() if f.get("task_epoch") != epoch)
    minted = int(doc["minted_wei"])
    report.check(
        "pool: the fees moved from the escrow plus the emission minted",
        total + minted,
        int(doc["pool_wei"]),
    )
    report.check(
        "emission: the minted plus the fees swept from earlier epochs",
        minted + swept,
        int(doc["emission_wei"]),
    )


def _check_gold(
    report: AuditReport,
    store: Store,
    task_id: TaskId,
    t: dict[str, Any],
    gold_roots: GoldRoots | None,
    seen: dict[int, tuple[tuple[bytes, int] | None, int | None]],
) -> None:
    """A revealed gold item: its commitment is a leaf of the set's root (stored and on chain), it
    is the question the task asked, and the answer the close used is its answer."""
    g = t["gold"]
    what = f"task {task_id[:8]} gold item {g['set_epoch']}/{g['index']}"
    question = KnownQuestion(g["text"], tuple(g["options"]), g["answer"])
    leaf = commitment_of(bytes.fromhex(g["salt"]), question, g["free_answer"])
    root = bytes.fromhex(g["root"])
    report.check(
        f"{what} is in its set's Merkle root",
        True,
        merkle.verify([bytes.fromhex(p) for p in g["proof"]], root, leaf),
    )
    report.check(
        f"{what} is the question the task asked", question.prompt(), store.tasks.get(task_id).prompt
    )
    report.check(f"{what} answer is the one the close used", g["answer"], t.get("gold_answer"))
    stored = store.gold.set_of(EpochId(int(g["set_epoch"])))
    report.check(
        f"{what} root is the one stored before the epoch",
        root.hex(),
        stored.root.hex() if stored else None,
    )
    if gold_roots is not None:
        set_epoch = int(g["set_epoch"])
        if (
            set_epoch not in seen
        ):  # once per set: the chain's commitment, the set epoch's first task
            times = [
                int(x.created_at.timestamp())
                for x in store.tasks.list_for_epoch(EpochId(set_epoch))
            ]
            seen[set_epoch] = (gold_roots(set_epoch), min(times, default=None))
        on_chain, first = seen[set_epoch]
        report.check(
            f"{what} root is the one committed on chain",
            root.hex(),
            on_chain[0].hex() if on_chain else None,
        )
        if on_chain is not None and first is not None:
            report.check(
                f"{what} root was on chain before the epoch's first task",
                True,
                on_chain[1] <= first,
            )

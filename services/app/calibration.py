"""Proof of capability: a node answers questions with known answers before it may serve.

The pass mark comes from the data: with four options chance is 25%, and a node passes when its
correct count is one that chance alone reaches with probability at most 1% (exact binomial test).
Its starting reputation is its calibration accuracy shrunk toward the prior.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from services.app.ports import AttestationChain as AttestationChain  # re-exported
from services.app.ports import NodeGateway, QuestionBank, Store
from services.app.signatures import verify
from services.core import letters, reputation
from services.core.aggregation import MILLI
from services.core.consensus import Tally
from services.core.errors import Conflict, NodeUnreachable
from services.core.types import NodeId, NodeStatus
from services.core.work import WorkKind, WorkOrder, calibration_task

log = logging.getLogger(__name__)

# how a calibration's outcome begins the node's status note (the follower requeues on FAILED)
PASSED = "calibration passed"
FAILED = "calibration failed"
LETTERS = ("A", "B", "C", "D")
FREE_ATTEMPTS = 3
COOLDOWN = timedelta(hours=1)


class CalibrationTooSoon(Conflict):
    code = "calibration-too-soon"


CHANCE_BP = 2500  # four options
CONFIDENCE_BP = 9900


@dataclass(frozen=True)
class CalibrationResult:
    node_id: NodeId
    correct: int
    asked: int
    threshold: int
    passed: bool
    reputation_bp: int
    p_value: float
    reason: str


def calibrate_node(
    store: Store,
    nodes: NodeGateway,
    node_id: NodeId,
    *,
    bank: QuestionBank,
    questions: int = 40,
    seed: int = 0,
    now: datetime | None = None,
) -> CalibrationResult:
    """Ask ``questions`` calibration questions, fresh for this node and attempt; activate the
    node when it beats chance, else leave it inactive with the reason. Letter bias is removed over
    the whole batch. The answers also start the node's reliability record as an answerer; an answer
    not signed by the node's key for its question (``signatures.verify``) counts as unanswered.
    The first ``FREE_ATTEMPTS`` attempts are free; after that one per ``COOLDOWN``."""
    node = store.nodes.get(node_id)
    if node.calibration_attempts >= FREE_ATTEMPTS and node.last_calibration_at is not None:
        ready = node.last_calibration_at + COOLDOWN
        if (now or datetime.now(UTC)) < ready:
            raise CalibrationTooSoon(
                f"node {node.name} has tried calibration {node.calibration_attempts} times",
                hint=f"try again after {ready:%Y-%m-%d %H:%M} UTC",
            )
    node = store.nodes.record_calibration_attempt(node_id)
    domain = f"calibration/node-{int(node_id)}/attempt-{node.calibration_attempts}/{seed}"
    batch = bank.calibration(questions, domain=domain)
    probs: list[dict[str, float]] = []
    for i, q in enumerate(batch):  # each answer signed (kind calibration) or counted as unanswered
        order = WorkOrder(
            WorkKind.CALIBRATION, calibration_task(domain, i), node.calibration_attempts
        )
        try:
            choice = nodes.choose(node, q.prompt(), LETTERS, order)
        except NodeUnreachable as exc:
            log.info("calibration no-show: %s", exc.detail, extra={"node_id": node_id})
            probs.append({})
            continue
        _, rejected = verify(nodes.domain, node, order, choice.receipt)
        probs.append({} if rejected else choice.probs)
    picked = letters.debiased(probs, LETTERS)
    answered = [p for p in probs if any(p.get(x, 0.0) > 0 for x in LETTERS)]
    if answered:  # kept, so its multiple-choice answers in live rounds are read the same way
        store.nodes.set_letter_bias(node_id, letters.bias(answered, LETTERS))
    tally = Tally(sum(p == q.answer for p, q in zip(picked, batch, strict=True)), len(batch))
    result = reputation.calibrate(tally, CHANCE_BP, CONFIDENCE_BP)
    start = reputation.register(tally)
    store.nodes.set_reputation(node_id, start.score_bp, start.anchor_bp)
    store.nodes.set_reliability(
        node_id,
        replace(
            node.reliability,
            gold_answer_hits=node.reliability.gold_answer_hits + tally.hits * MILLI,
            gold_answer_total=node.reliability.gold_answer_total + tally.total * MILLI,
        ),
    )
    reason = (
        f"{tally.hits}/{tally.total} correct; the pass mark is {result.threshold} "
        f"(chance is 25%; p = {float(result.p_value):.2g} at 99% confidence)"
    )
    if not result.passed:
        reason += ": the node stays inactive; serve a stronger model and calibrate again"
    status = NodeStatus.ACTIVE if result.passed else NodeStatus.INACTIVE
    store.nodes.set_status(node_id, status, note=f"{PASSED if result.passed else FAILED}: {reason}")
    return CalibrationResult(
        node_id,
        tally.hits,
        tally.total,
        result.threshold,
        result.passed,
        start.score_bp,
        float(result.p_value),
        reason,
    )


ATTESTATION_VALID_FOR = timedelta(days=30)


def attest_calibration(
    store: Store, chain: AttestationChain, result: CalibrationResult, *, now: datetime | None = None
) -> str | None:
    """Write the calibration's accuracy on chain as a capability attestation (through the chain
    writer's outbox); the tx hash, or None when the node has no on-chain identity yet."""
    node = store.nodes.get(result.node_id)
    chain_node_id = chain.node_id_of(node.address) if node.address else None
    if not chain_node_id:
        return None
    until = (now or datetime.now(UTC)).replace(second=0, microsecond=0) + ATTESTATION_VALID_FOR
    score_bps = result.correct * 10_000 // max(1, result.asked)
    key = f"attest:{chain.chain_id}:{chain_node_id}:{int(until.timestamp())}"
    tx = chain.attest(key, chain_node_id, score_bps, until)
    log.info("calibration attested", extra={"node_id": result.node_id, "tx_hash": tx})
    return tx

"""Use cases of settling a closed epoch on chain: propose it, finalize it after the challenge
window.

``settle_epoch`` plans the epoch's cumulative reward tree over the nodes that have an on-chain
identity (``nodes.address`` operates a registry node; the others are left out of the tree and
their rewards stay recorded off-chain), computes the reputation words, records the settlement
(once: a retry reuses the stored plan) and proposes it through the chain writer's outbox under
the intent ``settle:{chain_id}:{epoch}:propose``, so a retry finds the receipt instead of sending
again. ``finalize_epoch`` does the same for ``settle:{chain_id}:{epoch}:finalize``.

Proof: before anything is sent, ``prove`` (the zk prover, zk/epoch_proof.py) makes the proposal
proof from the epoch's audit bundle and ``check`` (the workers' py_ecc verifier) judges it; both
are recorded (``settlements.proof``/``proof_status``) so a retry reuses them. A rejected proof
leaves the epoch pending with the reason and spends no gas; only a verified proof is proposed.
The chain verifies it again (EpochRewardsVerifier) and a refusal there is reported as
``awaiting_verifier`` with the contract's named error, never treated as accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.app.ports import SettlementChain as SettlementChain  # re-exported
from services.app.ports import Store
from services.core import settlement as core_settlement
from services.core.errors import ChallengeWindowOpen, Conflict, NotFound, VerifierRefused
from services.core.merkle import LANES
from services.core.settlement import (
    ClaimEntry,
    OnChainReward,
    ProofStatus,
    Settlement,
    SettlementStatus,
)
from services.core.types import EpochId, EpochStatus, NodeId

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProofRequest:
    """What a proof of an epoch's settlement must cover (zk/README.md, Binding)."""

    epoch: int
    audit_cid: str
    previous_root: bytes  # the root finalized for epoch - 1 (32 zero bytes for epoch 1)
    root: bytes
    total: int
    entries: tuple[ClaimEntry, ...]  # the epoch's claim tree, every on-chain node in it
    chain_id: int = 0  # where the proof is spent: the chain and its EpochSettlement contract,
    settlement: str = "0x" + "00" * 20  # which every chunk's challenge is bound to

    @property
    def payees(self) -> dict[int, tuple[int, str]]:
        """Off-chain node id -> (chain node id, account), for the nodes in the tree."""
        return {int(e.node_id): (e.chain_node_id, e.account) for e in self.entries if e.node_id}


@dataclass(frozen=True)
class MadeProof:
    proof: bytes
    chunks: int


@dataclass(frozen=True)
class ProofVerdict:
    ok: bool
    reason: str | None = None


Prover = Callable[[ProofRequest], MadeProof]
ProofCheck = Callable[[ProofRequest, bytes], ProofVerdict]


@dataclass(frozen=True)
class SettleResult:
    settlement: Settlement
    sent: bool  # whether this call sent a transaction
    tx_hash: str | None = None
    message: str = ""
    nodes: int = 0  # leaves in the tree
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        s = self.settlement
        return {
            "epoch": int(s.epoch_id),
            "chain_id": s.chain_id,
            "status": s.status.value,
            "root": s.root,
            "total_wei": str(s.total_wei),
            "nodes": self.nodes,
            "left_out_node_ids": [int(n) for n in s.left_out],
            "sent": self.sent,
            "tx_hash": self.tx_hash,
            "detail": s.detail,
            "proof_status": s.proof_status.value,
            "proof_chunks": s.proof_chunks,
            "proof_detail": s.proof_detail,
            "message": self.message,
            **self.extra,
        }


def intent_key(chain_id: int, epoch_id: int, step: str) -> str:
    return f"settle:{chain_id}:{epoch_id}:{step}"


def propose_attempt(propose_intent: str | None) -> int:
    """Which proposal of its epoch ``propose_intent`` sent: 1, or n for ``...:propose:n`` (the
    proposals after upheld challenges)."""
    if propose_intent is None:
        return 1
    tail = propose_intent.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() and propose_intent.count(":") == 4 else 1


def plan_settlement(store: Store, chain: SettlementChain, epoch_id: EpochId) -> Settlement:
    """The recorded settlement of ``epoch_id``, planned and recorded now when there is none."""
    stored = store.settlements.get(epoch_id)
    if stored is not None:
        return stored
    epoch = store.epochs.get(epoch_id)
    if epoch.status is EpochStatus.OPEN:
        raise Conflict(
            f"epoch {epoch_id} is still open", hint="close it first: `merit epoch close`"
        )
    if not epoch.audit_cid:
        raise Conflict(f"epoch {epoch_id} has no audit bundle CID", hint="close it again")
    previous = []
    if epoch_id > 1:
        if store.settlements.get(EpochId(epoch_id - 1)) is None:
            raise Conflict(
                f"epoch {epoch_id - 1} is not settled yet; epochs settle in order",
                hint=f"settle it first: `merit epoch settle {epoch_id - 1}`",
            )
        previous = store.settlements.claims(EpochId(epoch_id - 1))

    nodes = {n.id: n for n in store.nodes.list()}
    lines = store.epochs.nodes(epoch_id)
    chain_ids: dict[NodeId, int] = {}
    for n in nodes.values():
        if n.address:
            found = chain.node_id_of(n.address)
            if found:
                chain_ids[n.id] = int(found)
    rewards: list[OnChainReward] = []
    left_out: list[NodeId] = []
    for line in lines:
        cid = chain_ids.get(line.node_id)
        if cid is None:
            if line.reward_wei > 0:
                left_out.append(line.node_id)
            continue
        account = nodes[line.node_id].address
        assert account is not None
        rewards.append(OnChainReward(line.node_id, cid, account, line.reward_wei))

    # reputation: every lane of the words written must carry its node's current value
    after = {line.node_id: line.reputation_after_bp for line in lines}
    reps = {cid: after.get(nid, nodes[nid].reputation_bp) for nid, cid in chain_ids.items()}
    if reps:
        count = chain.node_count()
        lo, hi = min(reps) // LANES * LANES, (max(reps) // LANES + 1) * LANES
        for other in range(max(1, lo), min(hi, count + 1)):
            if other not in reps:
                reps[other] = chain.reputation_bp(other)
    try:
        plan = core_settlement.plan(epoch_id, rewards, previous, reps)
    except ValueError as exc:
        raise Conflict(
            f"epoch {epoch_id} cannot settle on chain: {exc}",
            hint="nodes need a registered address (`merit node register`) to be paid on chain",
        ) from exc
    record = Settlement(
        epoch_id=epoch_id,
        chain_id=chain.chain_id,
        root=plan.root,
        total_wei=plan.total_wei,
        audit_cid=epoch.audit_cid,
        rep_first_word=plan.rep_first_word,
        rep_words=plan.rep_words,
        left_out=tuple(sorted(left_out)),
    )
    return store.settlements.record(record, plan.entries)


def proof_request(store: Store, s: Settlement, settlement_address: str) -> ProofRequest:
    previous_root = bytes(32)
    if s.epoch_id > 1:
        before = store.settlements.get(EpochId(s.epoch_id - 1))
        assert before is not None  # plan_settlement settles epochs in order
        previous_root = bytes.fromhex(before.root[2:])
    return ProofRequest(
        epoch=int(s.epoch_id),
        audit_cid=s.audit_cid,
        previous_root=previous_root,
        root=bytes.fromhex(s.root[2:]),
        total=int(s.total_wei),
        entries=tuple(store.settlements.claims(s.epoch_id)),
        chain_id=s.chain_id,
        settlement=settlement_address,
    )


def prove_settlement(
    store: Store, chain: SettlementChain, epoch_id: int, *, prove: Prover, check: ProofCheck
) -> Settlement:
    """Plan the settlement of ``epoch_id`` if needed, make its proof and check it before any gas
    is spent; both are recorded (a verified proof is kept and reused)."""
    epoch = EpochId(int(epoch_id))
    s = plan_settlement(store, chain, epoch)
    if s.proof_status is ProofStatus.VERIFIED or s.status in (
        SettlementStatus.PROPOSED, SettlementStatus.FINALIZED
    ):  # fmt: skip
        return s
    request = proof_request(store, s, chain.settlement_address)
    made = prove(request)
    verdict = check(request, made.proof)
    if not verdict.ok:
        log.warning("epoch proof rejected", extra={"epoch": epoch, "reason": verdict.reason})
    status = ProofStatus.VERIFIED if verdict.ok else ProofStatus.REJECTED
    return store.settlements.set_proof(
        epoch, status, proof=made.proof, chunks=made.chunks, detail=verdict.reason
    )


def settle_epoch(
    store: Store,
    chain: SettlementChain,
    epoch_id: int,
    *,
    prove: Prover | None = None,
    check: ProofCheck | None = None,
) -> SettleResult:
    """Record, prove, check and propose the settlement of closed epoch ``epoch_id``
    (idempotent). Without ``prove``/``check`` the proof must already be recorded and verified
    (the zk queue's tasks do that)."""
    epoch = EpochId(int(epoch_id))
    s = plan_settlement(store, chain, epoch)
    leaves = len(store.settlements.claims(epoch))
    left = _left_out_note(s)
    attempt = propose_attempt(s.propose_intent)
    cancelled = s.status is SettlementStatus.PROPOSED and chain.proposal_cancelled(epoch)
    if cancelled:
        # an upheld challenge cancelled the proposal: the epoch is proposed again under an intent
        # of its own (the one before stands for the cancelled proposal); the record stays
        # proposed until it is, so the reconciler keeps trying (finalize_due)
        if s.propose_intent is None or chain.sent(s.propose_intent) is not None:
            attempt += 1
            s = store.settlements.set_status(
                epoch, SettlementStatus.PROPOSED,
                detail="its proposal was cancelled by an upheld challenge",
                propose_intent=intent_key(chain.chain_id, epoch, f"propose:{attempt}"),
            )  # fmt: skip
        log.warning(
            "epoch proposal cancelled; proposing again", extra={"epoch": epoch, "attempt": attempt}
        )
    if s.status in (SettlementStatus.PROPOSED, SettlementStatus.FINALIZED) and not cancelled:
        return SettleResult(
            s, False, message=f"epoch {epoch} is already {s.status.value}", nodes=leaves
        )
    if s.proof_status is not ProofStatus.VERIFIED and prove is not None and check is not None:
        s = prove_settlement(store, chain, epoch, prove=prove, check=check)
    if s.proof_status is ProofStatus.REJECTED:
        return SettleResult(
            s,
            False,
            message=f"epoch {epoch} is recorded but not proposed: its proof failed the workers' "
            f"check ({s.proof_detail}); nothing was sent",
            nodes=leaves,
        )
    proof = store.settlements.proof(epoch)
    if s.proof_status is not ProofStatus.VERIFIED or proof is None:
        raise Conflict(
            f"epoch {epoch} has no verified proof yet",
            hint=f"prove it: `merit epoch settle {epoch}` (or let the zk worker finish)",
        )
    key = intent_key(chain.chain_id, epoch, "propose" if attempt == 1 else f"propose:{attempt}")
    root = bytes.fromhex(s.root[2:])
    try:
        tx_hash = chain.propose(
            key, int(epoch), root, int(s.total_wei), s.audit_cid, s.rep_first_word,
            list(s.rep_words), proof,
        )  # fmt: skip
    except VerifierRefused as exc:  # refused (or missing): the settlement waits for it
        name = exc.reason
        s = store.settlements.set_status(
            epoch, SettlementStatus.AWAITING_VERIFIER, detail=f"{name}: {exc.detail}"
        )
        log.warning(
            "epoch settlement waits for the verifier", extra={"epoch": epoch, "error": name}
        )
        return SettleResult(
            s,
            False,
            message=f"epoch {epoch} is recorded but not proposed: the verifier refused ({name})"
            + left,
            nodes=leaves,
        )
    s = store.settlements.set_status(epoch, SettlementStatus.PROPOSED, propose_intent=key)
    log.info("epoch proposed", extra={"epoch": epoch, "tx_hash": tx_hash, "root": s.root})
    return SettleResult(
        s, True, tx_hash, f"epoch {epoch} proposed; finalize after the challenge window" + left,
        nodes=leaves,
    )  # fmt: skip


def finalize_epoch(store: Store, chain: SettlementChain, epoch_id: int) -> SettleResult:
    """Finalize a proposed epoch once its challenge window has passed (idempotent); before that,
    report "not yet" and send nothing."""
    epoch = EpochId(int(epoch_id))
    s = store.settlements.get(epoch)
    if s is None:
        raise NotFound(
            f"epoch {epoch} has no settlement",
            hint=f"settle it first: `merit epoch settle {epoch}`",
        )
    leaves = len(store.settlements.claims(epoch))
    if s.status is SettlementStatus.FINALIZED:
        return SettleResult(s, False, message=f"epoch {epoch} is already finalized", nodes=leaves)
    if s.status is not SettlementStatus.PROPOSED:
        raise Conflict(
            f"epoch {epoch} is {s.status.value}, not proposed",
            hint=f"propose it first: `merit epoch settle {epoch}`",
        )
    key = intent_key(chain.chain_id, epoch, "finalize")
    try:
        tx_hash = chain.finalize(key, int(epoch), s.rep_first_word, list(s.rep_words))
    except ChallengeWindowOpen as exc:
        ends = exc.ends_at
        return SettleResult(
            s,
            False,
            message=f"not yet: epoch {epoch}'s challenge window is open until timestamp {ends}",
            nodes=leaves,
            extra={"window_ends_at": ends},
        )
    s = store.settlements.set_status(epoch, SettlementStatus.FINALIZED, finalize_intent=key)
    log.info("epoch finalized", extra={"epoch": epoch, "tx_hash": tx_hash})
    return SettleResult(s, True, tx_hash, f"epoch {epoch} finalized; nodes can claim", nodes=leaves)


def _left_out_note(s: Settlement) -> str:
    if not s.left_out:
        return ""
    ids = ", ".join(str(n) for n in s.left_out)
    return f"; nodes {ids} have no on-chain identity: their rewards stay recorded off-chain"

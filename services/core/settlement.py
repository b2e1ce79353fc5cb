"""An epoch's settlement, planned in pure Python: cumulative reward leaves, the Merkle root, each
node's proof, and the reputation words the chain stores on finalize.

Cumulative amounts: a node's leaf in epoch N carries everything it was paid on chain in settled
epochs 1..N, i.e. its leaf amount of the previous settlement plus its reward of epoch N. A node
that earned nothing this epoch but something before stays in the tree with its old amount, so the
latest finalized tree alone is enough to claim. Only nodes with an on-chain identity (a registry
node id) are in the tree; the others' rewards stay recorded off-chain and are listed as left out.
So ``total`` (what this epoch adds on chain) is the sum of the included nodes' rewards, and the sum
of the leaves equals the sum of every settled total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.core.merkle import Reward, RewardTree, reputation_words
from services.core.types import EpochId, NodeId, Wei


class SettlementStatus(StrEnum):
    RECORDED = "recorded"  # planned and stored; nothing sent yet
    AWAITING_VERIFIER = "awaiting_verifier"  # the chain's verifier refused (e.g. none deployed)
    PROPOSED = "proposed"  # proposal mined; challenge window running
    FINALIZED = "finalized"  # rewards claimable, reputations written


class ProofStatus(StrEnum):
    NONE = "none"  # no proof made yet
    VERIFIED = "verified"  # every chunk proof passed the workers' py_ecc check
    REJECTED = "rejected"  # a check failed: nothing was sent (proof_detail says why)


@dataclass(frozen=True)
class ClaimEntry:
    """One node's leaf of an epoch's settlement, with what it needs to claim."""

    epoch_id: EpochId
    chain_node_id: int
    node_id: NodeId | None  # the off-chain node (None when it is only known on chain)
    account: str
    reward_wei: Wei  # earned in this epoch
    cumulative_wei: Wei  # earned in settled epochs 1..epoch_id
    proof: tuple[str, ...]  # 0x-hex bytes32 siblings


@dataclass(frozen=True)
class Settlement:
    epoch_id: EpochId
    chain_id: int
    root: str  # 0x-hex bytes32
    total_wei: Wei
    audit_cid: str
    rep_first_word: int
    rep_words: tuple[int, ...]
    left_out: tuple[NodeId, ...] = ()  # off-chain nodes with rewards but no on-chain identity
    status: SettlementStatus = SettlementStatus.RECORDED
    propose_intent: str | None = None
    finalize_intent: str | None = None
    detail: str | None = None  # why it waits (the chain's named error), when it does
    proof_status: ProofStatus = ProofStatus.NONE
    proof_detail: str | None = None  # the workers' reason when the proof was rejected
    proof_chunks: int = 0  # Groth16 proofs in the proposal (one per 32 nodes)


@dataclass(frozen=True)
class OnChainReward:
    """An off-chain node's reward of the epoch, with its on-chain identity."""

    node_id: NodeId
    chain_node_id: int
    account: str
    reward_wei: Wei


@dataclass(frozen=True)
class SettlementPlan:
    epoch_id: EpochId
    tree: RewardTree
    total_wei: Wei
    entries: tuple[ClaimEntry, ...]
    rep_first_word: int
    rep_words: tuple[int, ...] = field(default=())

    @property
    def root(self) -> str:
        return "0x" + self.tree.root.hex()


def plan(
    epoch_id: EpochId,
    rewards: Sequence[OnChainReward],
    previous: Sequence[ClaimEntry],
    reputations_bp: Mapping[int, int],
) -> SettlementPlan:
    """The settlement of ``epoch_id``: ``rewards`` of this epoch (on-chain nodes only),
    ``previous`` the leaves of the last settlement before it, ``reputations_bp`` every on-chain
    node's reputation to store (by registry node id; ids in between keep 0).

    ValueError when no node has anything in the tree (a root needs a leaf).
    """
    by_chain: dict[int, ClaimEntry] = {}
    for p in previous:
        by_chain[p.chain_node_id] = ClaimEntry(
            epoch_id, p.chain_node_id, p.node_id, p.account, Wei(0), p.cumulative_wei, ()
        )
    for r in rewards:
        before = by_chain.get(r.chain_node_id)
        carried = int(before.cumulative_wei) if before else 0
        if before is not None and before.account.lower() != r.account.lower():
            raise ValueError(
                f"registry node {r.chain_node_id} is paid to {before.account} in earlier "
                f"settlements, not {r.account}"
            )
        earned = int(before.reward_wei) if before else 0
        by_chain[r.chain_node_id] = ClaimEntry(
            epoch_id,
            r.chain_node_id,
            r.node_id,
            r.account,
            Wei(earned + int(r.reward_wei)),
            Wei(carried + int(r.reward_wei)),
            (),
        )
    entries = [e for e in by_chain.values() if e.cumulative_wei > 0]
    if not entries:
        raise ValueError(f"epoch {epoch_id}: no node with an on-chain identity has earned anything")
    tree = RewardTree.build(
        int(epoch_id),
        [Reward(e.chain_node_id, e.account, int(e.cumulative_wei)) for e in entries],
    )
    proven = tuple(
        ClaimEntry(
            e.epoch_id,
            e.chain_node_id,
            e.node_id,
            e.account,
            e.reward_wei,
            e.cumulative_wei,
            tuple("0x" + s.hex() for s in tree.proof(e.chain_node_id)),
        )
        for e in sorted(entries, key=lambda e: e.chain_node_id)
    )
    first, words = reputation_words(dict(reputations_bp))
    return SettlementPlan(
        epoch_id,
        tree,
        Wei(sum(int(e.reward_wei) for e in proven)),
        proven,
        first,
        tuple(words),
    )


def window_wait_s(ends_at: int, chain_now: int, *, cap_s: int) -> int:
    """Seconds to wait before finalizing can pass: the window ends at ``ends_at`` by the chain's
    clock (``chain_now``, its latest block's timestamp, which a call is judged by), plus one block
    for the clock to reach it; at least 1, at most ``cap_s`` (the caller looks again then)."""
    return max(1, min(cap_s, ends_at - chain_now + 1))

"""Ports: what the use cases need from the outside world, as Protocols.

Adapters (store, content, nodes, chain, broker) implement these; ``services.bootstrap`` wires them.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.core.errors import Conflict
from services.core.questions import Draw
from services.core.settlement import ClaimEntry, ProofStatus, Settlement, SettlementStatus
from services.core.types import (
    Answer,
    Candidate,
    Epoch,
    EpochId,
    EpochNode,
    FeeState,
    GoldSet,
    GoldTask,
    Judgment,
    KnownQuestion,
    NewNode,
    NewTask,
    Node,
    NodeId,
    NodeKind,
    NodeStatus,
    OutboxEntry,
    Outcome,
    PairAssignment,
    RankEntry,
    Reliability,
    Round,
    StalledTask,
    Task,
    TaskId,
    TaskStatus,
    Wei,
)
from services.core.work import Receipt, SigningDomain, WorkOrder


# ---------------------------------------------------------------- store
def node_taken(node: NewNode, constraint: str) -> Conflict:
    """The error of adding ``node`` when one of its unique keys (``constraint``) is taken."""
    if constraint == "nodes_chain_node_id_key":
        detail, hint = (
            f"registry node {node.chain_node_id} is already recorded",
            "look it up with `merit node status`",
        )
    elif constraint == "nodes_address_key":
        detail, hint = (
            f"address {node.address} is already registered to another node",
            "each node needs its own address",
        )
    else:
        detail, hint = (
            f"a node named {node.name!r} already exists",
            "choose another name, or look it up with `merit node list`",
        )
    return Conflict(detail, hint=hint, constraint=constraint)


class NodeRepository(Protocol):
    def add(self, node: NewNode) -> Node: ...
    def get(self, node_id: NodeId) -> Node: ...  # NotFound
    def get_by_name(self, name: str) -> Node: ...  # NotFound
    def get_by_chain_id(self, chain_node_id: int) -> Node: ...  # NotFound
    def list(self, *, status: NodeStatus | None = None) -> list[Node]: ...
    def set_status(self, node_id: NodeId, status: NodeStatus, note: str | None = None) -> None: ...
    def set_metadata(  # what a registry node's metadata document said, fetched after its admission
        self, node_id: NodeId, *, endpoint_url: str, model: str, kind: NodeKind, signer: str
    ) -> None: ...
    def set_chain_state(  # kept only when ``block`` is not older than the stored state's
        self, node_id: NodeId, *, stake_wei: Wei, unbonding_wei: Wei, block: int
    ) -> None: ...
    def set_reputation(self, node_id: NodeId, score_bp: int, anchor_bp: int) -> None: ...
    def set_letter_bias(self, node_id: NodeId, bias: Mapping[str, float]) -> None: ...
    def set_reliability(self, node_id: NodeId, reliability: Reliability) -> None: ...
    def record_calibration_attempt(self, node_id: NodeId) -> Node: ...  # the node, counted


@dataclass(frozen=True)
class ChainCursor:
    """How far a chain follower has read: the last block applied and its hash."""

    block_number: int
    block_hash: str


class CursorRepository(Protocol):
    def get(self, name: str) -> ChainCursor | None: ...
    def set(self, name: str, cursor: ChainCursor) -> None: ...


class TaskRepository(Protocol):
    def add(self, task: NewTask) -> Task: ...
    def get(self, task_id: TaskId) -> Task: ...  # NotFound
    def list(self, *, limit: int = 50) -> list[Task]: ...
    def set_status(self, task_id: TaskId, status: TaskStatus, error: str | None = None) -> None: ...
    def delete(self, task_id: TaskId) -> None: ...
    def assign_open_epoch(self, task_id: TaskId) -> EpochId: ...  # idempotent
    def list_for_epoch(self, epoch_id: EpochId) -> builtins.list[Task]: ...
    def set_fee(
        self,
        task_id: TaskId,
        state: FeeState,
        *,
        epoch: EpochId | None = None,
        note: str | None = None,
    ) -> None: ...
    def with_fee(  # oldest first; ``done``: finished tasks only
        self,
        state: FeeState,
        *,
        fee_epoch: EpochId | None = None,
        done: bool = False,
        limit: int = 10_000,
    ) -> builtins.list[Task]: ...
    # the task, row-locked until the transaction ends (inside ``Store.transaction()``); a step that
    # reads and writes under it excludes the same step run twice at once, and late answers and
    # judgments (``AnswerRepository.put``, ``JudgmentRepository.put`` share the lock)
    def lock(self, task_id: TaskId) -> Task: ...  # NotFound
    # unfinished tasks without progress (change of state, answer, judgment) since ``before``,
    # the longest-stalled first
    def stalled(self, before: datetime, *, limit: int = 500) -> builtins.list[StalledTask]: ...
    def note_redrive(self, task_id: TaskId) -> int: ...  # the reconciler drove it on: how often now
    def unfinished(self) -> int: ...  # tasks not yet done or failed


class AnswerRepository(Protocol):
    # False when (task, node) was already stored, or the task's round has started (an answer that
    # comes after the candidates were formed is not kept: the round did not use it)
    def put(self, answer: Answer) -> bool: ...
    def list_for_task(self, task_id: TaskId) -> list[Answer]: ...


class JudgmentRepository(Protocol):
    # False when already stored, or the round is finished (a verdict that comes after the ranking
    # is not kept: the ranking did not use it)
    def put(self, judgment: Judgment) -> bool: ...
    def list_for_task(self, task_id: TaskId) -> list[Judgment]: ...


class RoundRepository(Protocol):
    def start(
        self,
        task_id: TaskId,
        node_ids: Sequence[NodeId],
        pairs: Sequence[PairAssignment],
        *,
        seats: Mapping[NodeId, int] | None = None,
        candidates: Sequence[Candidate] = (),
    ) -> Round: ...  # idempotent: returns the stored round when one exists
    def get(self, task_id: TaskId) -> Round | None: ...
    def add_pairs(
        self, task_id: TaskId, pairs: Sequence[PairAssignment], recruit: int
    ) -> Round: ...  # idempotent per recruit number (1, 2, ...)
    def finish(
        self,
        task_id: TaskId,
        winner_id: NodeId | None,
        ranking: Sequence[RankEntry],
        method: str,
        separated: bool | None = None,
        weights: Mapping[NodeId, tuple[int, int]] | None = None,
    ) -> Round: ...


class EpochRepository(Protocol):
    def current(self) -> Epoch: ...  # the open epoch, created on first use
    def lock_current(self) -> Epoch: ...  # the same, row-locked for the transaction
    def get(self, epoch_id: EpochId) -> Epoch: ...  # NotFound
    def list(self, *, limit: int = 50) -> list[Epoch]: ...
    def close(self, epoch_id: EpochId, pool_wei: Wei, audit_cid: str | None) -> Epoch: ...
    def record_clusters(self, epoch_id: EpochId, clusters: Sequence[Sequence[NodeId]]) -> None: ...
    def latest_clusters(self) -> builtins.list[frozenset[NodeId]]: ...
    def record_nodes(self, rows: Sequence[EpochNode]) -> None: ...  # idempotent
    def nodes(self, epoch_id: EpochId) -> builtins.list[EpochNode]: ...


class GoldRepository(Protocol):
    def commit(self, epoch_id: EpochId, root: bytes, size: int) -> GoldSet: ...  # first stands
    def set_of(self, epoch_id: EpochId) -> GoldSet | None: ...
    def next_index(self, set_epoch: EpochId) -> int | None: ...  # None: every item used
    def link(
        self, task_id: TaskId, set_epoch: EpochId, index: int, beside: TaskId | None = None
    ) -> GoldTask: ...
    def beside(self, task_id: TaskId) -> GoldTask | None: ...  # the gold task that came with it
    def of(self, task_id: TaskId) -> GoldTask | None: ...
    def for_tasks(self, task_ids: Iterable[TaskId]) -> dict[TaskId, GoldTask]: ...


class OutboxRepository(Protocol):
    def enqueue(
        self,
        intent_key: str,
        *,
        chain_id: int,
        sender: str,
        to_address: str | None,
        data: str,
        value_wei: Wei = Wei(0),
    ) -> OutboxEntry: ...  # idempotent by intent_key
    def get(self, entry_id: int) -> OutboxEntry: ...
    def get_by_intent(self, intent_key: str) -> OutboxEntry | None: ...
    def mark_sent(self, entry_id: int, *, nonce: int, tx_hash: str) -> None: ...
    def mark_mined(self, entry_id: int, *, receipt: dict[str, Any], ok: bool) -> None: ...
    def pending(self, *, sender: str | None = None) -> list[OutboxEntry]: ...


class SettlementRepository(Protocol):
    def record(
        self, settlement: Settlement, claims: Sequence[ClaimEntry]
    ) -> Settlement: ...  # idempotent per epoch: the first record stands
    def get(self, epoch_id: EpochId) -> Settlement | None: ...
    def latest(self, *, status: SettlementStatus | None = None) -> Settlement | None: ...
    def set_status(
        self,
        epoch_id: EpochId,
        status: SettlementStatus,
        *,
        detail: str | None = None,
        propose_intent: str | None = None,
        finalize_intent: str | None = None,
    ) -> Settlement: ...  # NotFound
    def set_proof(
        self,
        epoch_id: EpochId,
        status: ProofStatus,
        *,
        proof: bytes | None,
        chunks: int,
        detail: str | None = None,
    ) -> Settlement: ...  # NotFound
    def proof(self, epoch_id: EpochId) -> bytes | None: ...
    def claims(self, epoch_id: EpochId) -> builtins.list[ClaimEntry]: ...
    def claim_of(
        self,
        *,
        account: str | None = None,
        chain_node_id: int | None = None,
        epoch_id: EpochId | None = None,
    ) -> ClaimEntry | None: ...  # from a finalized settlement (the latest unless epoch_id)


class Store(Protocol):
    nodes: NodeRepository
    tasks: TaskRepository
    answers: AnswerRepository
    judgments: JudgmentRepository
    rounds: RoundRepository
    epochs: EpochRepository
    gold: GoldRepository
    outbox: OutboxRepository
    settlements: SettlementRepository
    cursors: CursorRepository

    def transaction(self) -> AbstractContextManager[Store]: ...
    def ping(self) -> None: ...  # StoreUnavailable
    def close(self) -> None: ...


# ---------------------------------------------------------------- content
class ContentStore(Protocol):
    def put(self, data: bytes) -> str: ...  # returns the CIDv1 (base32) of the raw block
    def get(self, cid: str) -> bytes: ...  # NotFound
    def has(self, cid: str) -> bool: ...


# ---------------------------------------------------------------- nodes
@dataclass(frozen=True)
class NodeReply:
    content: str
    latency_ms: int
    raw: dict[str, Any] = field(default_factory=dict)
    receipt: Receipt | None = None  # the exchange's hashes and the node's signature


@dataclass(frozen=True)
class NodeVerdict:
    outcome: Outcome
    latency_ms: int
    raw: dict[str, Any] = field(default_factory=dict)
    receipt: Receipt | None = None


@dataclass(frozen=True)
class NodeChoice:
    probs: dict[str, float]  # letter -> probability at the answer token
    latency_ms: int
    raw: dict[str, Any] = field(default_factory=dict)
    receipt: Receipt | None = None


class NodeGateway(Protocol):
    """Reaches a node only through its OpenAI-compatible chat API. Each call names the work it
    asks for (``order``: kind, task, round), and the reply comes back with its ``Receipt``, which
    the use cases check against the node's signer under ``domain`` (``services.core.work``)."""

    @property
    def domain(self) -> SigningDomain: ...  # the deployment the marketplace's work is signed for
    def choose(
        self, node: Node, prompt: str, letters: tuple[str, ...], order: WorkOrder
    ) -> NodeChoice: ...
    # NodeUnreachable on no-show
    def answer(self, node: Node, prompt: str, order: WorkOrder) -> NodeReply: ...
    def judge(
        self, node: Node, prompt: str, left: str, right: str, order: WorkOrder
    ) -> NodeVerdict: ...


# ---------------------------------------------------------------- the chain as node registry
@dataclass(frozen=True)
class RegisteredNode:
    """A node as NodeRegistry holds it at one block."""

    chain_node_id: int
    operator: str
    model_hash: str  # 0x-hex bytes32
    metadata_cid: str
    stake_wei: Wei
    unbonding_wei: Wei
    registered_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.chain_node_id,
            "operator": self.operator,
            "model_hash": self.model_hash,
            "metadata_cid": self.metadata_cid,
            "stake_wei": str(self.stake_wei),
            "registered_at": self.registered_at.isoformat(),
        }


class RegistryLog(Protocol):
    """What following the registry needs from the chain (``services.chain.registry_log``)."""

    def head(self) -> int: ...  # the latest block's number
    def block_hash(self, number: int) -> str | None: ...  # None: no such block (yet)
    def touched(self, first: int, last: int) -> set[int]: ...  # node ids with events in the blocks
    def node_at(self, chain_node_id: int, block: int) -> RegisteredNode | None: ...  # None: none
    def min_stake(self) -> Wei: ...


# ---------------------------------------------------------------- questions with known answers
class QuestionBank(Protocol):
    """Where calibration questions and hidden gold items come from, who asks the gold tasks, and
    which requester tasks bring one along."""

    @property
    def requester(self) -> str: ...
    def due(self, task_id: str, every: int) -> bool: ...
    def delay_s(self, task_id: str) -> float: ...  # how long after ``task_id`` its gold task comes
    def calibration(self, n: int, *, domain: str) -> list[KnownQuestion]: ...
    def gold_item(self, set_epoch: EpochId, index: int) -> Draw | None: ...  # None: no gold here


# ---------------------------------------------------------------- broker
class RoundQueue(Protocol):
    def enqueue_round(self, task_id: TaskId) -> None: ...  # BrokerUnavailable
    # a hidden gold task beside ``beside``, made after ``delay_s`` (``gold.mix_in_gold``)
    def enqueue_gold(self, beside: TaskId, delay_s: float) -> None: ...  # BrokerUnavailable
    # look again, after ``delay_s``, whether the task's fee is held (``escrow.check_fee``)
    def enqueue_fee_check(self, task_id: TaskId, delay_s: float) -> None: ...  # BrokerUnavailable
    # drive a stalled round on from where it stands (``rounds.resume``)
    def enqueue_resume(self, task_id: TaskId) -> None: ...  # BrokerUnavailable
    def backlog(self) -> int: ...  # round steps waiting in the queues, not yet taken by a worker
    def ping(self) -> None: ...


# ---------------------------------------------------------------- task fees held in escrow
@dataclass(frozen=True)
class FeeRange:
    """The fees the escrow accepts for one task, in wei, inclusive at both ends."""

    min_wei: int
    max_wei: int


@dataclass(frozen=True)
class MovedFees:
    """What one move of escrowed fees into an epoch's pool did, read from its receipt: the fee
    moved per task id, and the task ids whose escrow was no longer there (refunded, reclaimed or
    never funded) and were skipped."""

    epoch: int
    moved: Mapping[str, int]
    missing: tuple[str, ...]
    tx_hash: str | None

    @property
    def amount_wei(self) -> int:
        return sum(self.moved.values())


class Escrow(Protocol):
    """Task fees held for their payers (TaskEscrow on chain; an in-memory one for use-case tests).
    A task's escrow is keyed by (payer, task id): only the payer's own deposit counts for it.
    Every write goes under an intent key, so a retry returns what the first attempt did."""

    @property
    def chain_id(self) -> int: ...
    @property
    def address(self) -> str: ...  # where a payer sends the fee
    def fee_range(self) -> FeeRange: ...
    def held_wei(self, payer: str, task_id: str) -> int: ...  # 0 unless funded and still held
    def refund(self, intent_key: str, payer: str, task_id: str) -> str: ...  # tx hash
    # move the held fees of ``items`` (payer, task id) into ``epoch``'s pool; skip what is gone
    def move_fees(
        self, intent_key: str, epoch: int, items: Sequence[tuple[str, str]]
    ) -> MovedFees: ...


# ---------------------------------------------------------------- what use cases need of the chain
# services.chain.settlement.ChainSettlement implements the writer's ports (through the outbox),
# services.chain.challenges.ChainChallenges the watcher's. A refusal the use cases act on arrives
# as its services.core.errors type (ChallengeWindowOpen, VerifierRefused), never as a name.


class SettlementChain(Protocol):
    """What settling needs from the chain (``services.chain.settlement.ChainSettlement``).

    Writes go through the outbox: ``propose``/``finalize`` return the tx hash of the one
    transaction of ``intent_key`` (a retry returns the first one's) and raise the chain's refusal
    when the call would revert (``VerifierRefused``, ``ChallengeWindowOpen``, another Conflict);
    nothing is stored then.
    """

    @property
    def chain_id(self) -> int: ...
    @property
    def settlement_address(self) -> str: ...  # the EpochSettlement contract proofs are bound to
    def node_id_of(self, account: str) -> int | None: ...
    def node_count(self) -> int: ...
    # an upheld challenge cancelled the epoch's proposal and nothing proposed it again yet
    def proposal_cancelled(self, epoch: int) -> bool: ...
    def reputation_bp(self, chain_node_id: int) -> int: ...
    def sent(self, intent_key: str) -> str | None: ...  # the mined tx hash of a finished intent
    def propose(
        self,
        intent_key: str,
        epoch: int,
        root: bytes,
        total: int,
        audit_cid: str,
        first_word: int,
        words: list[int],
        proof: bytes,
    ) -> str: ...
    def finalize(self, intent_key: str, epoch: int, first_word: int, words: list[int]) -> str: ...


class AttestationChain(Protocol):
    """What attesting needs from the chain (``services.chain.settlement.ChainSettlement``)."""

    @property
    def chain_id(self) -> int: ...
    def node_id_of(self, account: str) -> int | None: ...
    def attest(
        self, intent_key: str, chain_node_id: int, score_bps: int, valid_until: datetime
    ) -> str: ...


class GoldChain(Protocol):
    """What committing a gold set needs from the chain (``services.chain.settlement``)."""

    @property
    def chain_id(self) -> int: ...
    def commit_gold(self, intent_key: str, epoch: int, root: bytes) -> str: ...
    def gold_commitment(self, epoch: int) -> tuple[bytes, int] | None: ...


class SlashingChain(Protocol):
    """What slashing needs from the chain (``services.chain.settlement.ChainSettlement``)."""

    @property
    def chain_id(self) -> int: ...
    def slash(
        self, intent_key: str, chain_node_id: int, amount_wei: int, evidence_cid: str
    ) -> str: ...


@dataclass(frozen=True)
class ProposedEpoch:
    """One ``EpochProposed`` event with the arguments of its ``propose`` call."""

    epoch: int
    audit_cid: str
    rewards_root: str  # 0x-hex
    total: int
    proposer: str
    block_number: int
    tx_hash: str
    proposed_at: int  # the block's timestamp, unix seconds
    proof: bytes | None  # None: the call could not be read (sent through another contract)
    rep_first_word: int = 0
    rep_words: tuple[int, ...] = ()


class WatchChain(Protocol):
    """What the watcher needs from the chain (``services.chain.challenges.ChainChallenges``)."""

    def head(self) -> int: ...  # the latest block number
    def proposals(self, from_block: int, to_block: int) -> list[ProposedEpoch]: ...
    def pending_since(self, epoch: int) -> int | None: ...  # proposedAt of the pending epoch
    def challenge_ends_at(self, epoch: int) -> int | None: ...
    def pool_of(self, epoch: int) -> int: ...  # what EpochSettlement holds in the epoch's pool
    def now(self) -> int: ...  # the latest block's timestamp
    def open_challenger(self, epoch: int) -> str | None: ...  # who holds its open challenge
    def chain_node_id(self, account: str, block: int) -> int | None: ...
    def metadata_cid(self, chain_node_id: int, block: int) -> str | None: ...  # None: no node
    def signing_domain(self) -> SigningDomain: ...  # the deployment's: its chain, NodeRegistry
    def challenge(self, epoch: int, evidence_cid: str) -> str: ...  # the tx hash

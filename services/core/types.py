"""Domain types: ids, money and the records a round and an epoch produce.

Money is ``Wei`` (an int) everywhere; scores from the fit are floats and stay scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType

from services.core.errors import Invalid
from services.core.letters import multiple_choice_prompt
from services.core.work import Signed

TaskId = NewType("TaskId", str)
NodeId = NewType("NodeId", int)
EpochId = NewType("EpochId", int)
Wei = NewType("Wei", int)


class NodeKind(StrEnum):
    """What serves a node's OpenAI-compatible endpoint."""

    TEST = "test"  # deterministic test node, for development and tests only
    OPENAI = "openai"  # any OpenAI-compatible server: vLLM, llama.cpp, Ollama, merit node serve


TEST_MODEL = "merit-test-node"  # the model test nodes serve and register with (dev chain only)


class NodeStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class TaskStatus(StrEnum):
    AWAITING_FEE = "awaiting_fee"  # stored; dispatched once its fee is held in escrow
    QUEUED = "queued"
    ANSWERING = "answering"
    JUDGING = "judging"
    RANKING = "ranking"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.DONE, TaskStatus.FAILED)


class AnswerStatus(StrEnum):
    OK = "ok"
    NO_SHOW = "no_show"
    REJECTED = "rejected"  # unsigned, or not signed by the node's key for this work: never counted


class JudgmentStatus(StrEnum):
    OK = "ok"
    REJECTED = "rejected"  # unsigned, or not signed by the judge's key for this pair: never counted


class Outcome(StrEnum):
    """A judge's verdict on one ordered pair (left shown first)."""

    LEFT = "left"
    RIGHT = "right"
    TIE = "tie"


class EpochStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    SETTLED = "settled"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    MINED = "mined"
    FAILED = "failed"


@dataclass(frozen=True)
class NewNode:
    name: str
    endpoint_url: str
    model: str
    kind: NodeKind = NodeKind.OPENAI
    address: str | None = None
    stake_wei: Wei = Wei(0)
    chain_node_id: int | None = None  # its id in NodeRegistry
    metadata_cid: str | None = None  # the metadata document it registered on chain
    signer: str | None = None  # the address whose key signs its answers and judgments
    status: NodeStatus = NodeStatus.ACTIVE  # a node found on chain starts inactive
    status_note: str | None = None


@dataclass(frozen=True)
class Reliability:
    """What the marketplace has learned about a node, in thousandths of an observation, as two
    records kept apart: on tasks whose answer it knows (calibration and gold: ``gold_*``) and on
    the other tasks, as the rest of each round's swarm saw them (the peer record).

    ``*answer_hits`` of ``*answer_total``: its answers that were right; ``*judge_hits`` of
    ``*judge_total``: its verdicts that preferred the right answer, on pairs where one of the two
    answers was right. Integers, so the record is exact and an auditor recomputes it to the unit.
    """

    answer_hits: int = 0
    answer_total: int = 0
    judge_hits: int = 0
    judge_total: int = 0
    gold_answer_hits: int = 0
    gold_answer_total: int = 0
    gold_judge_hits: int = 0
    gold_judge_total: int = 0
    # found to do markedly better where the answer is known than elsewhere, beyond what every
    # other node shows (``reliability.two_faced``): it carries no weight and holds no seat
    distrusted: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        v = self.values()
        if any(not 0 <= v[i] <= v[i + 1] for i in range(0, 8, 2)):
            raise Invalid("a reliability record needs 0 <= hits <= total")

    def values(self) -> tuple[int, int, int, int, int, int, int, int]:
        return (
            self.answer_hits,
            self.answer_total,
            self.judge_hits,
            self.judge_total,
            self.gold_answer_hits,
            self.gold_answer_total,
            self.gold_judge_hits,
            self.gold_judge_total,
        )


@dataclass(frozen=True)
class Node:
    id: NodeId
    name: str
    endpoint_url: str
    model: str
    kind: NodeKind
    status: NodeStatus
    reputation_bp: int  # 0..10_000 basis points
    stake_wei: Wei
    address: str | None
    created_at: datetime
    reputation_anchor_bp: int = 5000  # the part of reputation earned on known-answer questions
    # calibration's mean log-probability per letter: multiple-choice answers are read against it
    letter_bias: Mapping[str, float] | None = field(default=None, hash=False, compare=False)
    reliability: Reliability = field(default_factory=Reliability)
    calibration_attempts: int = 0  # each draws fresh questions; rate-limited
    last_calibration_at: datetime | None = None
    chain_node_id: int | None = None  # its id in NodeRegistry (None: not registered on chain)
    metadata_cid: str | None = None  # the metadata document it registered on chain
    signer: str | None = None  # the address whose key signs its answers and judgments
    unbonding_wei: Wei = Wei(0)  # stake it asked back, still slashable until withdrawn
    synced_block: int | None = None  # the chain block its stake was read at
    status_note: str | None = None  # why it has the status it has (e.g. a calibration's result)


class FeeState(StrEnum):
    """Where a task's fee stands. Only a fee MOVED into an epoch's pool is ever pooled."""

    FREE = "free"  # no fee: nothing is pooled for the task
    AWAITING = "awaiting"  # declared; the payer has not escrowed it yet
    HELD = "held"  # escrowed by the payer; the task was dispatched
    MOVED = "moved"  # moved from the escrow into the pool of ``fee_epoch``
    MISSING = "missing"  # was held, gone at the move (reclaimed after expiry): never pooled
    REFUNDED = "refunded"  # returned to the payer (the task failed)
    UNPAID = "unpaid"  # never escrowed in time, or escrowed with another amount: the task failed


@dataclass(frozen=True)
class NewTask:
    prompt: str
    requester: str
    fee_wei: Wei
    swarm_size: int
    options: tuple[str, ...] | None = None  # a multiple-choice task's options (A, B, ...)
    # the account that escrows the fee (0x address); None: nobody pays, and whatever fee is
    # declared (a gold task's, to look like the task beside it) is never pooled
    payer: str | None = None

    @property
    def fee_state(self) -> FeeState:
        return FeeState.AWAITING if self.fee_wei and self.payer else FeeState.FREE

    @property
    def status(self) -> TaskStatus:
        return TaskStatus.AWAITING_FEE if self.fee_state is FeeState.AWAITING else TaskStatus.QUEUED


@dataclass(frozen=True)
class Task:
    id: TaskId
    prompt: str
    requester: str
    fee_wei: Wei
    swarm_size: int
    status: TaskStatus
    error: str | None
    epoch_id: EpochId | None
    created_at: datetime
    updated_at: datetime
    options: tuple[str, ...] | None = None  # a multiple-choice task's options (A, B, ...)
    payer: str | None = None  # the account that escrows the fee; None for a free task
    fee_state: FeeState = FeeState.FREE
    fee_epoch: EpochId | None = None  # the epoch whose pool received the fee (MOVED)
    fee_note: str | None = None  # why the fee was not pooled, when it was not


@dataclass(frozen=True)
class StalledTask:
    """An unfinished task that has not moved since ``last_progress`` (its last change of state,
    answer or judgment); ``redrives``: how often the reconciler drove it on since it last moved."""

    task: Task
    last_progress: datetime
    redrives: int


@dataclass(frozen=True)
class Answer:
    task_id: TaskId
    node_id: NodeId
    status: AnswerStatus
    content: str | None
    latency_ms: int
    raw: Mapping[str, Any] = field(default_factory=dict)  # the exchange, kept for audit
    signed: Signed | None = None  # the node's signature over it (services.core.work)


@dataclass(frozen=True)
class PairAssignment:
    """Judge ``judge_id`` compares the answers of ``left_id`` (shown first) and ``right_id``."""

    judge_id: NodeId
    left_id: NodeId
    right_id: NodeId


@dataclass(frozen=True)
class Judgment:
    task_id: TaskId
    judge_id: NodeId
    left_id: NodeId
    right_id: NodeId
    outcome: Outcome
    raw: Mapping[str, Any] = field(default_factory=dict)
    signed: Signed | None = None  # the judge's signature over it (services.core.work)
    status: JudgmentStatus = JudgmentStatus.OK


@dataclass(frozen=True)
class Candidate:
    """One distinct answer of a round and the nodes that gave it (normalised text; the letter of a
    multiple-choice answer). Its smallest supporter's node id stands for it in pairs and
    rankings."""

    id: NodeId
    supporters: tuple[NodeId, ...]


@dataclass(frozen=True)
class RankEntry:
    node_id: NodeId  # the candidate's id (its smallest supporter)
    score: float  # the posterior probability that this candidate is the right answer
    rank: int  # 1 = best
    lower: float | None = None  # the posterior's 95% interval for the probability
    upper: float | None = None


@dataclass(frozen=True)
class Round:
    task_id: TaskId
    node_ids: tuple[NodeId, ...]
    pairs: tuple[PairAssignment, ...]
    winner_id: NodeId | None
    ranking: tuple[RankEntry, ...]
    method: str | None
    started_at: datetime
    finished_at: datetime | None
    separated: bool | None = None  # the winner's interval lies above the runner-up's
    recruits: int = 0  # times more judgments were recruited because the top two overlapped
    # each node's (answer, judge) rates in parts per million as the round used them
    weights: Mapping[NodeId, tuple[int, int]] | None = None
    seats: Mapping[NodeId, int] | None = None  # seats each node holds (drawn by stake)
    candidates: tuple[Candidate, ...] = ()  # the distinct answers and their supporters


@dataclass(frozen=True)
class Epoch:
    id: EpochId
    status: EpochStatus
    pool_wei: Wei
    audit_cid: str | None
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class EpochNode:
    """One node's line in a closed epoch: its reward and how its reputation moved."""

    epoch_id: EpochId
    node_id: NodeId
    reward_wei: Wei
    reputation_before_bp: int
    reputation_after_bp: int
    anchor_after_bp: int
    withheld: bool  # flagged as an outlier judge: reward held back pending a slashing decision


@dataclass(frozen=True)
class OutboxEntry:
    """One chain write: stored as an intent before it is signed, so a retry finds it."""

    id: int
    intent_key: str
    chain_id: int
    sender: str
    to_address: str | None
    data: str  # 0x-hex calldata (or init code for a deployment)
    value_wei: Wei
    nonce: int | None
    tx_hash: str | None
    status: OutboxStatus
    receipt: Mapping[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class KnownQuestion:
    """A multiple-choice question whose answer the marketplace knows (calibration, gold tasks)."""

    text: str
    options: tuple[str, ...]
    answer: str  # its letter, "A", "B", ...

    def prompt(self) -> str:
        return multiple_choice_prompt(self.text, self.options)


@dataclass(frozen=True)
class GoldSet:
    """The hidden gold items committed for an epoch before its first task: the Merkle root of
    their commitments (``services.core.questions``) and how many there are."""

    epoch_id: EpochId
    root: bytes  # 32 bytes
    size: int
    committed_at: datetime


@dataclass(frozen=True)
class GoldTask:
    """A task that carries item ``index`` of the gold set committed for epoch ``set_epoch``.
    Kept apart from the task itself, which looks like any other."""

    task_id: TaskId
    set_epoch: EpochId
    index: int
    beside: TaskId | None = None  # the requester task it came with

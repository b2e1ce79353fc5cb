"""HTTP request and response bodies (pydantic lives at the edge only)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.app.tasks import MAX_PROMPT_CHARS, TaskView
from services.core import aggregation
from services.core.types import JudgmentStatus, Node, NodeId


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(
        min_length=1, max_length=MAX_PROMPT_CHARS, description="The question to answer"
    )
    swarm_size: int | None = Field(
        None, ge=3, le=64, description="How many nodes answer (default from settings)"
    )
    fee_wei: int | None = Field(
        None,
        ge=0,
        lt=2**256,
        description="Fee in wei (a decimal string is taken too), within the escrow's range; "
        "default: the marketplace's fee when a payer is given, else 0 (a free task)",
    )
    payer: str | None = Field(
        None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="The account that escrows the fee in TaskEscrow (fund(task key, fee)); "
        "the task is dispatched once its escrow holds the fee",
    )
    options: list[str] | None = Field(
        None,
        min_length=2,
        max_length=10,
        description="A multiple-choice task: the options (lettered A, B, ...); each node answers "
        "with a letter read from its log-probabilities",
    )


class EscrowOut(BaseModel):
    """How to pay a task's fee: call ``fund(task_key, amount_wei)`` on the escrow from the payer."""

    chain_id: int
    address: str = Field(description="the TaskEscrow contract")
    task_key: str = Field(description="the task's bytes32 key in the escrow")
    payer: str
    amount_wei: str
    pay_within_s: int = Field(description="the task fails when nothing is escrowed by then")


class TaskAccepted(BaseModel):
    id: str
    status: str
    status_url: str
    fee_wei: str = "0"
    escrow: EscrowOut | None = Field(
        None, description="where to pay the fee; absent for a free task"
    )


class AnswerOut(BaseModel):
    node_id: int
    node_name: str | None
    node_kind: str | None
    status: str = Field(description="ok, no_show, or rejected (never counted nor paid)")
    rejected: str | None = Field(
        None, description="why the answer was rejected: unsigned, or not signed by its node's key"
    )
    content: str | None
    latency_ms: int


class SupporterOut(BaseModel):
    node_id: int
    node_name: str | None
    seats: int = Field(
        description="seats the node held in the round (drawn in proportion to stake)"
    )


class RankOut(BaseModel):
    rank: int
    node_id: int = Field(description="the candidate's id: the node whose answer stands for it")
    node_name: str | None
    score: float = Field(
        description="posterior probability that this candidate is the right answer"
    )
    lower: float | None = Field(None, description="kept for older clients; always null")
    upper: float | None = None
    supporters: list[SupporterOut] = Field(
        default_factory=list, description="every node that gave this answer"
    )
    wins: float
    judged: int


class JudgmentOut(BaseModel):
    judge_id: int
    left_id: int
    right_id: int
    outcome: str
    status: str = Field("ok", description="ok, or rejected (never counted nor paid)")
    rejected: str | None = Field(
        None, description="why the verdict was rejected: unsigned, or not signed by its judge's key"
    )


class TaskOut(BaseModel):
    id: str
    status: str
    error: str | None
    prompt: str
    fee_wei: str = Field(description="decimal string: wei do not fit a JSON number")
    payer: str | None = None
    fee_state: str = Field(
        "free",
        description="free, awaiting, held, moved (into fee_epoch's pool), missing, refunded, "
        "unpaid",
    )
    fee_epoch: int | None = None
    fee_note: str | None = None
    swarm_size: int
    created_at: datetime
    updated_at: datetime
    options: list[str] | None = None
    answer: str | None
    winner_node_id: int | None
    separated: bool | None = Field(
        None,
        description="the winner alone holds 95% of the posterior "
        "(or the whole swarm gave one answer)",
    )
    confidence: float | None = Field(
        None, description="posterior probability that the answer is right"
    )
    credible_set: list[int] = Field(
        default_factory=list,
        description="the fewest candidates whose posterior reaches 95%, best first",
    )
    recruits: int = Field(
        0, description="extra judging passes run because no answer was confident yet"
    )
    method: str | None
    ranking: list[RankOut]
    answers: list[AnswerOut]
    judgments: list[JudgmentOut]

    @classmethod
    def from_view(cls, v: TaskView) -> TaskOut:
        wins: dict[NodeId, float] = {}
        judged: dict[NodeId, int] = {}
        for j in v.judgments:
            if j.status is not JudgmentStatus.OK:
                continue  # a rejected verdict counts for nobody
            for nid in (j.left_id, j.right_id):
                judged[nid] = judged.get(nid, 0) + 1
            share = {"left": (1.0, 0.0), "right": (0.0, 1.0), "tie": (0.5, 0.5)}[j.outcome.value]
            wins[j.left_id] = wins.get(j.left_id, 0.0) + share[0]
            wins[j.right_id] = wins.get(j.right_id, 0.0) + share[1]

        def name(nid: NodeId) -> str | None:
            return v.nodes[nid].name if nid in v.nodes else None

        winner = v.winner_answer
        ranking = v.round.ranking if v.round else ()
        supporters = {c.id: c.supporters for c in v.round.candidates} if v.round else {}
        seats = dict(v.round.seats or {}) if v.round else {}
        post = aggregation.Posterior({r.node_id: r.score for r in ranking}, 0.0)
        return cls(
            id=v.task.id,
            status=v.task.status.value,
            error=v.task.error,
            prompt=v.task.prompt,
            options=list(v.task.options) if v.task.options is not None else None,
            fee_wei=str(v.task.fee_wei),
            payer=v.task.payer,
            fee_state=v.task.fee_state.value,
            fee_epoch=v.task.fee_epoch,
            fee_note=v.task.fee_note,
            swarm_size=v.task.swarm_size,
            created_at=v.task.created_at,
            updated_at=v.task.updated_at,
            answer=winner.content if winner else None,
            winner_node_id=v.round.winner_id if v.round else None,
            separated=v.round.separated if v.round else None,
            confidence=ranking[0].score if ranking else None,
            credible_set=post.credible_set() if ranking else [],
            recruits=v.round.recruits if v.round else 0,
            method=v.round.method if v.round else None,
            ranking=[
                RankOut(
                    rank=r.rank,
                    node_id=r.node_id,
                    node_name=name(r.node_id),
                    score=r.score,
                    lower=r.lower,
                    upper=r.upper,
                    wins=wins.get(r.node_id, 0.0),
                    judged=judged.get(r.node_id, 0),
                    supporters=[
                        SupporterOut(node_id=n, node_name=name(n), seats=seats.get(n, 1))
                        for n in supporters.get(r.node_id, (r.node_id,))
                    ],
                )
                for r in ranking
            ],
            answers=[
                AnswerOut(
                    node_id=a.node_id,
                    node_name=name(a.node_id),
                    node_kind=v.nodes[a.node_id].kind.value if a.node_id in v.nodes else None,
                    status=a.status.value,
                    rejected=_rejected(a.raw),
                    content=a.content,
                    latency_ms=a.latency_ms,
                )
                for a in v.answers
            ],
            judgments=[
                JudgmentOut(
                    judge_id=j.judge_id,
                    left_id=j.left_id,
                    right_id=j.right_id,
                    outcome=j.outcome.value,
                    status=j.status.value,
                    rejected=_rejected(j.raw),
                )
                for j in v.judgments
            ],
        )


class NodeOut(BaseModel):
    """A node as the marketplace holds it: its registry entry followed from the chain (stake and
    unbonding as of ``synced_block``) and the marketplace's own view (status and its reason,
    reputation)."""

    id: int
    name: str
    kind: str
    model: str
    endpoint_url: str
    status: str
    status_note: str | None = None
    reputation_bp: int
    stake_wei: str
    unbonding_wei: str = "0"
    synced_block: int | None = None
    address: str | None
    chain_node_id: int | None = None
    signer: str | None = None
    metadata_cid: str | None = None

    @classmethod
    def of(cls, n: Node) -> NodeOut:
        return cls(
            id=n.id, name=n.name, kind=n.kind.value, model=n.model, endpoint_url=n.endpoint_url,
            status=n.status.value, status_note=n.status_note, reputation_bp=n.reputation_bp,
            stake_wei=str(n.stake_wei), unbonding_wei=str(n.unbonding_wei),
            synced_block=n.synced_block, address=n.address, chain_node_id=n.chain_node_id,
            signer=n.signer, metadata_cid=n.metadata_cid,
        )  # fmt: skip


def _rejected(raw: Mapping[str, Any]) -> str | None:
    """The reason the round recorded for rejecting a node's work, if it did."""
    reason = raw.get("rejected")
    return None if reason is None else str(reason)

"""HTTP request and response bodies (pydantic lives at the edge only)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.app.tasks import MAX_PROMPT_CHARS, TaskView


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="The question to answer")
    swarm_size: int | None = Field(None, ge=3, le=64, description="How many nodes answer (default from settings)")
    fee_wei: int | None = Field(None, ge=0, description="Fee in wei, escrowed for the task")
    options: list[str] | None = Field(
        None,
        min_length=2,
        max_length=10,
        description="A multiple-choice task: the options (lettered A, B, ...); each node answers "
        "with a letter read from its log-probabilities",
    )


class TaskAccepted(BaseModel):
    id: str
    status: str
    status_url: str


class AnswerOut(BaseModel):
    node_id: int
    node_name: str | None
    node_kind: str | None
    status: str
    content: str | None
    latency_ms: int


class RankOut(BaseModel):
    rank: int
    node_id: int
    node_name: str | None
    score: float = Field(description="log-strength from the Bradley-Terry fit (mean 0)")
    lower: float | None = Field(None, description="95% bootstrap interval of the score")
    upper: float | None = None
    wins: float
    judged: int


class JudgmentOut(BaseModel):
    judge_id: int
    left_id: int
    right_id: int
    outcome: str


class TaskOut(BaseModel):
    id: str
    status: str
    error: str | None
    prompt: str
    fee_wei: str = Field(description="decimal string: wei do not fit a JSON number")
    swarm_size: int
    created_at: datetime
    updated_at: datetime
    options: list[str] | None = None
    answer: str | None
    winner_node_id: int | None
    separated: bool | None = Field(
        None, description="the winner's interval lies above the runner-up's (or they gave the same answer)"
    )
    recruits: int = Field(0, description="extra judging passes run because the top two overlapped")
    method: str | None
    ranking: list[RankOut]
    answers: list[AnswerOut]
    judgments: list[JudgmentOut]

    @classmethod
    def from_view(cls, v: TaskView) -> TaskOut:
        wins: dict[int, float] = {}
        judged: dict[int, int] = {}
        for j in v.judgments:
            for nid in (j.left_id, j.right_id):
                judged[nid] = judged.get(nid, 0) + 1
            share = {"left": (1.0, 0.0), "right": (0.0, 1.0), "tie": (0.5, 0.5)}[j.outcome.value]
            wins[j.left_id] = wins.get(j.left_id, 0.0) + share[0]
            wins[j.right_id] = wins.get(j.right_id, 0.0) + share[1]

        def name(nid: int) -> str | None:
            return v.nodes[nid].name if nid in v.nodes else None

        winner = v.winner_answer
        return cls(
            id=v.task.id,
            status=v.task.status.value,
            error=v.task.error,
            prompt=v.task.prompt,
            options=list(v.task.options) if v.task.options is not None else None,
            fee_wei=str(v.task.fee_wei),
            swarm_size=v.task.swarm_size,
            created_at=v.task.created_at,
            updated_at=v.task.updated_at,
            answer=winner.content if winner else None,
            winner_node_id=v.round.winner_id if v.round else None,
            separated=v.round.separated if v.round else None,
            recruits=v.round.recruits if v.round else 0,
            method=v.round.method if v.round else None,
            ranking=[
                RankOut(rank=r.rank, node_id=r.node_id, node_name=name(r.node_id), score=r.score,
                        lower=r.lower, upper=r.upper, wins=wins.get(r.node_id, 0.0),
                        judged=judged.get(r.node_id, 0))
                for r in (v.round.ranking if v.round else ())
            ],
            answers=[
                AnswerOut(node_id=a.node_id, node_name=name(a.node_id),
                          node_kind=v.nodes[a.node_id].kind.value if a.node_id in v.nodes else None,
                          status=a.status.value, content=a.content, latency_ms=a.latency_ms)
                for a in v.answers
            ],
            judgments=[
                JudgmentOut(judge_id=j.judge_id, left_id=j.left_id, right_id=j.right_id, outcome=j.outcome.value)
                for j in v.judgments
            ],
        )


class NodeOut(BaseModel):
    id: int
    name: str
    kind: str
    model: str
    endpoint_url: str
    status: str
    reputation_bp: int
    stake_wei: str
    address: str | None

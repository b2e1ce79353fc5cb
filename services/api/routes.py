"""REST routes: each fetches its dependencies and calls one use case."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from services.api.deps import get_container, requester
from services.api.schemas import EscrowOut, NodeOut, TaskAccepted, TaskIn, TaskOut
from services.app import tasks
from services.bootstrap import Container
from services.chain.contracts import task_key
from services.core.types import TaskId

router = APIRouter(prefix="/v1")
Dep = Annotated[Container, Depends(get_container)]
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.post(
    "/tasks",
    status_code=202,
    response_model=TaskAccepted,
    responses={401: PROBLEM, 413: PROBLEM, 422: PROBLEM, 429: PROBLEM, 503: PROBLEM},
)
def submit_task(
    body: TaskIn,
    request: Request,
    response: Response,
    c: Dep,
    who: Annotated[str, Depends(requester)],
) -> TaskAccepted:
    fee = (
        body.fee_wei
        if body.fee_wei is not None
        else (c.settings.default_fee_wei if body.payer else 0)
    )
    task = tasks.submit_task(
        c.store,
        c.queue,
        prompt=body.prompt,
        requester=who,
        fee_wei=fee,
        swarm_size=body.swarm_size or c.settings.swarm_size,
        gold_every=c.settings.gold_every,
        options=body.options,
        bank=c.bank,
        payer=body.payer,
        fees=c.fee_terms(escrow=fee > 0),
    )
    url = str(request.url_for("get_task", task_id=task.id))
    response.headers["Location"] = url
    escrow = None
    if task.payer is not None:
        escrow = EscrowOut(
            chain_id=c.chain().chain_id, address=c.chain().address,
            task_key="0x" + task_key(task.id).hex(), payer=task.payer,
            amount_wei=str(task.fee_wei), pay_within_s=c.settings.fee_wait_s,
        )  # fmt: skip
    return TaskAccepted(
        id=task.id,
        status=task.status.value,
        status_url=url,
        fee_wei=str(task.fee_wei),
        escrow=escrow,
    )


@router.get(
    "/tasks/{task_id}", response_model=TaskOut, responses={401: PROBLEM, 404: PROBLEM, 429: PROBLEM}
)
def get_task(task_id: str, c: Dep, who: Annotated[str, Depends(requester)]) -> TaskOut:
    """A task submitted with the same API key; any other id is 404, whether or not it exists."""
    return TaskOut.from_view(tasks.view_own_task(c.store, TaskId(task_id), who))


@router.get("/nodes", response_model=list[NodeOut])
def list_nodes(c: Dep) -> list[NodeOut]:
    return [NodeOut.of(n) for n in c.store.nodes.list()]


@router.get("/nodes/registry/{chain_node_id}", response_model=NodeOut, responses={404: PROBLEM})
def registry_node(chain_node_id: int, c: Dep) -> NodeOut:
    """The node registered on chain as ``chain_node_id``, as the marketplace found and examined it
    (404 until the marketplace has read the block it was registered in)."""
    return NodeOut.of(c.store.nodes.get_by_chain_id(chain_node_id))

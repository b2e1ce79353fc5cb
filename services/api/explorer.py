"""Built-in explorer pages: epochs, their rewards and the nodes, readable in a browser.

Public pages: nothing of a task (its prompt, answers, fee or payer) is shown, since a task is
readable only by the API key that submitted it, and nothing may tell a hidden gold task apart.
Server-rendered HTML with every value escaped.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from services.api.deps import get_container
from services.bootstrap import Container
from services.core.money import format_mrt
from services.core.types import EpochId

router = APIRouter(prefix="/explorer", include_in_schema=False)
Dep = Annotated[Container, Depends(get_container)]

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.done{color:#070}.failed{color:#a00}code{background:#f4f4f4;padding:0 .2em}
.test{background:#fff3c4;font-size:11px;padding:0 .3em;border-radius:3px}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{escape(title)} · meritswarm</title><style>{_STYLE}</style></head><body>"
        "<p><a href='/explorer'>explorer</a> · <a href='/docs'>API docs</a></p>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{trs or '<tr><td colspan=99>none yet</td></tr>'}</table>"


def _kind(kind: str) -> str:
    return " <span class=test>test node</span>" if kind == "test" else ""


@router.get("", response_class=HTMLResponse)
def index(c: Dep) -> HTMLResponse:
    # the same records as GET /v1/nodes and `merit node status`: stake followed from the chain
    node_rows = [
        [
            str(n.id),
            "" if n.chain_node_id is None else str(n.chain_node_id),
            escape(n.name) + _kind(n.kind.value),
            escape(n.model),
            escape(n.status.value),
            f"{n.reputation_bp / 100:.2f}%",
            escape(format_mrt(int(n.stake_wei))),
        ]
        for n in c.store.nodes.list()
    ]
    epoch_rows = [
        [
            f"<a href='/explorer/epochs/{e.id}'>{e.id}</a>",
            escape(e.status.value),
            f"{e.pool_wei} wei",
            f"<code>{escape(e.audit_cid)}</code>" if e.audit_cid else "",
        ]
        for e in c.store.epochs.list(limit=20)
    ]
    body = (
        "<p>Tasks are private to the requester that submitted them: read yours with "
        "<code>GET /v1/tasks/{id}</code> and your API key.</p>"
    )
    body += "<h2>Epochs</h2>" + _table(["epoch", "status", "pool", "audit bundle"], epoch_rows)
    body += "<h2>Nodes</h2>" + _table(
        ["id", "registry id", "name", "model", "status", "reputation", "stake"], node_rows
    )
    return _page("meritswarm explorer", body)


@router.get("/epochs/{epoch_id}", response_class=HTMLResponse)
def epoch_page(epoch_id: int, c: Dep) -> HTMLResponse:
    ep = c.store.epochs.get(EpochId(epoch_id))
    names = {n.id: n for n in c.store.nodes.list()}
    body = f"<p>status <b>{escape(ep.status.value)}</b>; pool {ep.pool_wei} wei"
    if ep.audit_cid:
        body += f"; audit bundle <code>{escape(ep.audit_cid)}</code>"
    body += "</p>"
    settlement = c.store.settlements.get(ep.id)
    if settlement is not None:
        body += (
            f"<p>settlement <b>{escape(settlement.status.value)}</b> "
            f"on chain {settlement.chain_id}: "
            f"rewards root <code>{escape(settlement.root)}</code>, total {settlement.total_wei} wei"
            f"{' — ' + escape(settlement.detail) if settlement.detail else ''}</p>"
        )
    rows = [
        [
            escape(names[r.node_id].name) + _kind(names[r.node_id].kind.value)
            if r.node_id in names
            else str(r.node_id),
            f"{r.reward_wei} wei",
            f"{r.reputation_before_bp / 100:.2f}% → {r.reputation_after_bp / 100:.2f}%",
            "withheld: outlier judge" if r.withheld else "",
        ]
        for r in c.store.epochs.nodes(ep.id)
    ]
    body += "<h2>Rewards and reputation</h2>" + _table(
        ["node", "reward", "reputation", "note"], rows
    )
    return _page(f"epoch {ep.id}", body)

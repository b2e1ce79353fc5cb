"""`merit epoch close`: close the open epoch; `merit epoch show N`: its settlement on chain;
`merit epoch settle N` / `merit epoch finalize N`: propose and finalize it."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer
from rich.table import Table

from services.cli.chain_cmds import AsJson, RpcUrl, open_session
from services.cli.output import console, errors_as_one_line, field_table, print_json
from services.core.money import format_mrt
from services.settings import get_settings

app = typer.Typer(help="Epochs and their settlement.", no_args_is_help=True)


@app.command("close")
@errors_as_one_line
def close(
    emission: Annotated[
        str, typer.Option(help="MRT minted into the pool on top of the fees")
    ] = "0",
    as_json: AsJson = False,
) -> None:
    """Close the open epoch: the held fees of finished tasks move into its pool on chain, then
    rewards over what moved plus emission, reputation updates, audit bundle."""
    from services.app.epochs import close_epoch
    from services.bootstrap import bootstrap
    from services.core.money import parse_mrt

    c = bootstrap(get_settings())
    try:
        closed = close_epoch(
            c.store,
            c.content,
            emission_wei=parse_mrt(emission),
            bank=c.bank,
            escrow=c.escrow_for_close(),
        )
        names = {n.id: n.name for n in c.store.nodes.list()}
    finally:
        c.close()
    rows: list[dict[str, Any]] = [
        {
            "node_id": n.node_id,
            "node": names.get(n.node_id, str(n.node_id)),
            "reward_wei": str(n.reward),
            "reputation_before_bp": n.before.score_bp,
            "reputation_after_bp": n.after.score_bp,
            "withheld": n.withheld,
        }
        for n in closed.result.nodes
    ]
    if as_json:
        print_json(
            {
                "epoch": closed.epoch.id,
                "tasks": closed.tasks,
                "pool_wei": str(closed.result.pool),
                "audit_cid": closed.epoch.audit_cid,
                "nodes": rows,
            }
        )
        return
    table = Table(
        title=f"epoch {closed.epoch.id}: {closed.tasks} tasks, "
        f"pool {format_mrt(closed.result.pool)}"
    )
    for col in ("node", "reward", "reputation", "note"):
        table.add_column(col)
    for r in rows:
        rep = f"{r['reputation_before_bp'] / 100:.2f}% -> {r['reputation_after_bp'] / 100:.2f}%"
        table.add_row(
            r["node"],
            format_mrt(int(r["reward_wei"])),
            rep,
            "withheld: outlier judge" if r["withheld"] else "",
        )
    console.print(table)
    console.print(f"audit bundle {closed.epoch.audit_cid}")


@app.command("show")
@errors_as_one_line
def show(
    epoch: Annotated[int, typer.Argument(min=0, help="Epoch number")],
    rpc_url: RpcUrl = None,
    as_json: AsJson = False,
) -> None:
    """Status, proposal, challenge window and pool of epoch N on chain."""
    settlement = open_session(rpc_url).settlement
    proposal = settlement.proposal_of(epoch)
    ends = settlement.challenge_ends_at(epoch)
    view: dict[str, Any] = {
        "epoch": epoch,
        "status": str(settlement.status_of(epoch)),
        "pool_wei": str(settlement.pool_of(epoch)),
        "challenge_ends_at": ends.isoformat() if ends else None,
        "last_proposed_epoch": settlement.last_proposed_epoch(),
        "last_finalized_epoch": settlement.last_finalized_epoch(),
        "proposal": None
        if proposal is None
        else {
            "rewards_root": proposal.rewards_root,
            "total_wei": str(proposal.total_wei),
            "proposed_at": proposal.proposed_at.isoformat(),
            **{k: str(v) for k, v in proposal.fields.items() if k not in ("rewards_root", "total")},
        },
    }
    view["proof"] = _proof_view(epoch, settlement.verifier(), proposal is not None)
    if as_json:
        print_json(view)
        return
    table = field_table(f"epoch {epoch}")
    table.add_row("status", view["status"])
    table.add_row("pool", format_mrt(int(view["pool_wei"])))
    table.add_row("challenge window ends", view["challenge_ends_at"] or "-")
    if proposal is not None:
        table.add_row("rewards root", proposal.rewards_root)
        table.add_row("total rewards", format_mrt(proposal.total_wei))
        table.add_row("proposed at", proposal.proposed_at.isoformat())
    proof = view["proof"]
    workers = proof["workers"]
    table.add_row(
        "proof (workers, py_ecc)",
        "-"
        if workers is None
        else f"{workers['status']}, {workers['chunks']} chunk proof(s)"
        + (f": {workers['detail']}" if workers["detail"] else ""),
    )
    table.add_row("proof (chain)", proof["chain"])
    table.add_row(
        "last proposed / finalized",
        f"{view['last_proposed_epoch']} / {view['last_finalized_epoch']}",
    )
    console.print(table)


def _proof_view(epoch: int, verifier: str, on_chain: bool) -> dict[str, Any]:
    """The proof's status on both sides: the workers' py_ecc verdict (from the database, when it
    can be reached) and the chain's (a proposal exists only if the verifier contract accepted)."""
    workers: dict[str, Any] | None = None
    refused: str | None = None
    from services.core.errors import MeritError

    try:
        from services.store.db import PostgresStore

        store = PostgresStore.connect(get_settings().effective_database_url)
        try:
            from services.core.types import EpochId

            s = store.settlements.get(EpochId(epoch))
        finally:
            store.close()
        if s is not None:
            workers = {"status": s.proof_status.value, "chunks": s.proof_chunks,
                       "detail": s.proof_detail}  # fmt: skip
            if s.status.value == "awaiting_verifier":
                refused = s.detail
    except MeritError:  # the database is optional here: the chain side stands alone
        workers = None
    if on_chain:
        chain = f"accepted by verifier {verifier} (the proposal is on chain)"
    elif refused:
        chain = f"refused by verifier {verifier}: {refused}"
    else:
        chain = f"not proposed (verifier {verifier})"
    return {"workers": workers, "chain": chain, "verifier": verifier}


def _settle_step(step: str, epoch: int, rpc_url: str | None, as_json: bool) -> None:
    from services.app.settlement import finalize_epoch, settle_epoch
    from services.bootstrap import bootstrap

    with bootstrap(get_settings(), chain_rpc_url=rpc_url) as c:
        chain = c.chain()
        if step == "settle":
            from services.app.bundles import load_bundle
            from zk.epoch_proof import EpochProver

            content = c.content
            prover = EpochProver(lambda cid: load_bundle(content, cid))
            result = settle_epoch(c.store, chain, epoch, prove=prover.prove, check=prover.check)
            timings = [t.prove_ms for t in prover.last_timings]
            if timings:
                result = replace(result, extra={**result.extra, "prove_ms_per_chunk": timings})
        else:
            result = finalize_epoch(c.store, chain, epoch)
            ends = result.extra.get("window_ends_at")
            if not result.sent and ends is not None:
                # say how long by the clock the chain judges by
                from services.chain.rpc import chain_time

                now = chain_time(chain.session.w3)
                to_go = f"{max(0, int(ends) - now)} s to go by the chain's clock ({now})"
                result = replace(
                    result,
                    message=f"{result.message}: {to_go}",
                    extra={**result.extra, "chain_time": now},
                )
    if as_json:
        print_json(result.as_dict())
    else:
        s = result.settlement
        if step == "settle" and s.proof_chunks:
            ms = result.extra.get("prove_ms_per_chunk")
            took = f", proved in {sum(ms) / 1000:.1f} s" if ms else ""
            console.print(
                f"proof: {s.proof_chunks} Groth16 chunk proof(s), py_ecc check "
                f"{s.proof_status.value}{took}"
                + (f" ({s.proof_detail})" if s.proof_detail else ""),
                highlight=False, soft_wrap=True,
            )  # fmt: skip
        console.print(result.message, highlight=False, soft_wrap=True)
        if result.tx_hash:
            console.print(f"tx {result.tx_hash}", highlight=False, soft_wrap=True)
    if result.settlement.status.value == "awaiting_verifier" or (
        step == "settle" and result.settlement.proof_status.value == "rejected"
    ):
        raise typer.Exit(1)  # recorded, but nothing was accepted


@app.command("settle")
@errors_as_one_line
def settle(
    epoch: Annotated[int, typer.Argument(min=1, help="Epoch number (closed)")],
    rpc_url: RpcUrl = None,
    as_json: AsJson = False,
) -> None:
    """Propose closed epoch N on chain: reward root, total and reputations (idempotent)."""
    _settle_step("settle", epoch, rpc_url, as_json)


@app.command("finalize")
@errors_as_one_line
def finalize(
    epoch: Annotated[int, typer.Argument(min=1, help="Epoch number (proposed)")],
    rpc_url: RpcUrl = None,
    as_json: AsJson = False,
) -> None:
    """Finalize proposed epoch N after its challenge window: rewards become claimable."""
    _settle_step("finalize", epoch, rpc_url, as_json)

"""`merit epoch show N`: an epoch's settlement as the chain holds it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from services.chain.reverts import format_mrt
from services.cli.chain_cmds import AsJson, RpcUrl, open_session
from services.cli.output import console, errors_as_one_line, print_json

app = typer.Typer(help="Epochs and their settlement.", no_args_is_help=True)


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
    if as_json:
        print_json(view)
        return
    table = Table(title=f"epoch {epoch}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("status", view["status"])
    table.add_row("pool", format_mrt(int(view["pool_wei"])))
    table.add_row("challenge window ends", view["challenge_ends_at"] or "-")
    if proposal is not None:
        table.add_row("rewards root", proposal.rewards_root)
        table.add_row("total rewards", format_mrt(proposal.total_wei))
        table.add_row("proposed at", proposal.proposed_at.isoformat())
    table.add_row(
        "last proposed / finalized",
        f"{view['last_proposed_epoch']} / {view['last_finalized_epoch']}",
    )
    console.print(table)

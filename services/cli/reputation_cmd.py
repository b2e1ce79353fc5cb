"""`merit reputation [NODE]` and `merit leaderboard`: what the registry says about nodes."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from services.chain.contracts import ChainSession
from services.chain.reverts import format_mrt
from services.cli.chain_cmds import AccountSpec, AsJson, RpcUrl, node_id_of_arg, open_session
from services.cli.output import console, errors_as_one_line, print_json


def node_row(session: ChainSession, node_id: int) -> dict[str, Any]:
    registry = session.registry
    node = registry.node(node_id)
    return {
        "node_id": int(node.node_id),
        "operator": node.operator,
        "reputation_bp": registry.reputation_bp(node_id),
        "stake_wei": str(node.stake_wei),
        "active": registry.is_active(node_id),
        "model_hash": node.model_hash,
        "metadata_cid": node.metadata_cid,
    }


@errors_as_one_line
def reputation(
    node: Annotated[
        str | None, typer.Argument(help="Node id or operator address [default: the account's node]")
    ] = None,
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    as_json: AsJson = False,
) -> None:
    """A node's reputation as the last settled epoch wrote it (basis points of 10000)."""
    session = open_session(rpc_url)
    row = node_row(session, node_id_of_arg(session, node, account))
    row["reputation_epoch"] = session.registry.reputation_epoch()
    if as_json:
        print_json(row)
        return
    written = (
        f"reputation {row['reputation_bp'] / 100:.2f}% as of epoch {row['reputation_epoch']}"
        if row["reputation_epoch"]
        else "no reputation written yet (no epoch settled)"
    )
    console.print(
        f"node {row['node_id']} ({row['operator']}): {written}, "
        f"stake {format_mrt(int(row['stake_wei']))}, {'active' if row['active'] else 'inactive'}",
        highlight=False,
        soft_wrap=True,
    )


@errors_as_one_line
def leaderboard(
    limit: Annotated[int, typer.Option(min=1, help="Show the top N")] = 20,
    rpc_url: RpcUrl = None,
    as_json: AsJson = False,
) -> None:
    """Registered nodes by reputation, then stake."""
    session = open_session(rpc_url)
    rows = [node_row(session, i) for i in range(1, session.registry.node_count() + 1)]
    rows.sort(key=lambda r: (-r["reputation_bp"], -int(r["stake_wei"]), r["node_id"]))
    rows = rows[:limit]
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"leaderboard on chain {session.chain_id}")
    for col in ("#", "node", "operator", "reputation", "stake", "active"):
        table.add_column(
            col, justify="right" if col in ("#", "node", "reputation", "stake") else "left"
        )
    for r in rows:
        table.add_row(
            str(r["rank"]), str(r["node_id"]), r["operator"], f"{r['reputation_bp'] / 100:.2f}%",
            format_mrt(int(r["stake_wei"])), "yes" if r["active"] else "no",
        )  # fmt: skip
    console.print(table)

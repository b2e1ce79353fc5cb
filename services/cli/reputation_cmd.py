"""`merit reputation [NODE]` and `merit leaderboard`: nodes as the marketplace holds them.

Both read the marketplace's records over REST, which follow the chain (stake as of a recent block)
and hold the marketplace's own view (status, reputation), so they say what `merit node status`,
`merit node list` and the explorer say. `merit reputation` adds the reputation the last settled
epoch wrote on chain, named as such.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from services.api_client import ApiClient
from services.cli.chain_cmds import (
    AccountSpec,
    AsJson,
    NodeArg,
    RpcUrl,
    node_id_of_arg,
    open_session,
)
from services.cli.output import console, errors_as_one_line, print_json
from services.core.money import format_mrt
from services.settings import get_settings

ApiUrl = Annotated[str | None, typer.Option(help="API base URL [default: MERIT_API_URL]")]


def _row(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "node_id": node["chain_node_id"],
        "name": node["name"],
        "operator": node["address"],
        "reputation_bp": node["reputation_bp"],
        "stake_wei": node["stake_wei"],
        "status": node["status"],
        "synced_block": node["synced_block"],
    }


@errors_as_one_line
def reputation(
    node: NodeArg = None,
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    """A node's reputation in the marketplace (basis points of 10000), and the one the last
    settled epoch wrote on chain."""
    session = open_session(rpc_url)
    chain_node_id = node_id_of_arg(session, node, account)
    row = _row(ApiClient(get_settings(), api_url).registry_node(chain_node_id))
    row["settled_reputation_bp"] = session.registry.reputation_bp(chain_node_id)
    row["settled_epoch"] = session.registry.reputation_epoch()
    if as_json:
        print_json(row)
        return
    settled = (
        f"{row['settled_reputation_bp'] / 100:.2f}% as settled on chain "
        f"at epoch {row['settled_epoch']}"
        if row["settled_epoch"]
        else "no epoch settled on chain yet"
    )
    console.print(
        f"node {row['node_id']} ({row['name']}, {row['operator']}): reputation "
        f"{row['reputation_bp'] / 100:.2f}% ({settled}), "
        f"stake {format_mrt(int(row['stake_wei']))}, {row['status']}",
        highlight=False,
        soft_wrap=True,
    )


@errors_as_one_line
def leaderboard(
    limit: Annotated[int, typer.Option(min=1, help="Show the top N")] = 20,
    api_url: ApiUrl = None,
    as_json: AsJson = False,
) -> None:
    """Registered nodes by reputation, then stake, as the marketplace holds them."""
    nodes = ApiClient(get_settings(), api_url).nodes()
    rows = [_row(n) for n in nodes if n.get("chain_node_id") is not None]
    rows.sort(key=lambda r: (-r["reputation_bp"], -int(r["stake_wei"]), r["node_id"]))
    rows = rows[:limit]
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    if as_json:
        print_json(rows)
        return
    table = Table(title="leaderboard")
    for col in ("#", "node", "name", "operator", "reputation", "stake", "status"):
        table.add_column(
            col, justify="right" if col in ("#", "node", "reputation", "stake") else "left"
        )
    for r in rows:
        table.add_row(
            str(r["rank"]), str(r["node_id"]), r["name"], r["operator"],
            f"{r['reputation_bp'] / 100:.2f}%", format_mrt(int(r["stake_wei"])), r["status"],
        )  # fmt: skip
    console.print(table)

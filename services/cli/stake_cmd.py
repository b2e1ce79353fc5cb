"""`merit stake add | show | unstake | withdraw`: a node's stake in the registry."""

from __future__ import annotations

import typer

from services.cli.chain_cmds import (
    AccountSpec,
    Amount,
    AsJson,
    ChainWrite,
    NodeArg,
    RpcUrl,
    amount_wei,
    chain_write,
    node_id_of_arg,
    open_session,
    stake_view,
)
from services.cli.output import console, errors_as_one_line, field_table, print_json
from services.core.money import format_mrt

app = typer.Typer(help="Stake MRT on your node.", no_args_is_help=True)


@app.command("add")
@errors_as_one_line
@chain_write
def add(write: ChainWrite, amount: Amount) -> None:
    """Add AMOUNT MRT to your node's stake (approving the registry first when needed)."""
    signing = write.signer
    wei = amount_wei(amount)
    registry = write.session.registry
    write.run(write.approving(wei, registry.stake(wei)))
    if write.shows_result:
        node_id = registry.node_id_of(signing.address)
        if node_id is not None:
            console.print(
                f"node {node_id} stakes {format_mrt(registry.stake_of(node_id))}", soft_wrap=True
            )


@app.command("show")
@errors_as_one_line
def show(
    node: NodeArg = None,
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    as_json: AsJson = False,
) -> None:
    """Show a node's stake, the minimum, and what its operator can still stake."""
    session = open_session(rpc_url)
    view = stake_view(session, node_id_of_arg(session, node, account))
    if as_json:
        print_json(view)
        return
    table = field_table(f"node {view['node_id']} on chain {session.chain_id}")
    rows = [
        ("operator", view["operator"]),
        ("stake", format_mrt(int(view["stake_wei"]))),
        ("minimum stake", format_mrt(int(view["min_stake_wei"]))),
        ("operator balance", format_mrt(int(view["balance_wei"]))),
        ("approved to registry", format_mrt(int(view["allowance_wei"]))),
        ("model hash", view["model_hash"]),
        ("metadata", view["metadata_cid"]),
        ("registered", view["registered_at"]),
    ]
    if "unbonding_wei" in view:
        rows.append(("unbonding", format_mrt(int(view["unbonding_wei"]))))
        rows.append(("withdrawable from", view["unbonding_ends"] or "-"))
    if "active" in view:
        rows.append(
            (
                "stake at the minimum",
                "yes" if view["active"] else "no (the marketplace seats it no more)",
            )
        )
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)


@app.command("unstake")
@errors_as_one_line
@chain_write
def unstake(write: ChainWrite, amount: Amount) -> None:
    """Start unbonding AMOUNT MRT of your stake (withdraw it after the unbonding period)."""
    write.run([write.session.registry.request_unstake(amount_wei(amount))])


@app.command("withdraw")
@errors_as_one_line
@chain_write
def withdraw(write: ChainWrite) -> None:
    """Withdraw stake whose unbonding period has ended."""
    write.run([write.session.registry.withdraw()])

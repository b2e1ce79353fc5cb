"""`merit stake add | show | unstake | withdraw`: a node's stake in the registry."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from services.cli.chain_cmds import (
    AccountSpec,
    Amount,
    AsJson,
    DryRun,
    RpcUrl,
    amount_wei,
    node_id_of_arg,
    open_session,
    run_plan,
    signer,
    stake_view,
    with_approval,
)
from services.cli.output import console, errors_as_one_line, print_json
from services.core.money import format_mrt

app = typer.Typer(help="Stake MRT on your node.", no_args_is_help=True)


@app.command("add")
@errors_as_one_line
def add(
    amount: Amount,
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Add AMOUNT MRT to your node's stake (approving the registry first when needed)."""
    session = open_session(rpc_url)
    signing = signer(session, account)
    wei = amount_wei(amount)
    registry = session.registry
    calls = with_approval(session, signing.address, wei, registry.stake(wei))
    run_plan(session, signing, calls, dry_run=dry_run, as_json=as_json)
    if not dry_run and not as_json:
        node_id = registry.node_id_of(signing.address)
        if node_id is not None:
            console.print(
                f"node {node_id} stakes {format_mrt(registry.stake_of(node_id))}", soft_wrap=True
            )


@app.command("show")
@errors_as_one_line
def show(
    node: Annotated[
        str | None, typer.Argument(help="Node id or operator address [default: the account's node]")
    ] = None,
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
    table = Table(title=f"node {view['node_id']} on chain {session.chain_id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
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
def unstake(
    amount: Amount,
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Start unbonding AMOUNT MRT of your stake (withdraw it after the unbonding period)."""
    session = open_session(rpc_url)
    signing = signer(session, account)
    run_plan(session, signing, [session.registry.request_unstake(amount_wei(amount))],
             dry_run=dry_run, as_json=as_json)  # fmt: skip


@app.command("withdraw")
@errors_as_one_line
def withdraw(
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Withdraw stake whose unbonding period has ended."""
    session = open_session(rpc_url)
    signing = signer(session, account)
    run_plan(session, signing, [session.registry.withdraw()], dry_run=dry_run, as_json=as_json)

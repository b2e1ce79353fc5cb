"""`merit bond ...` and `merit challenge ...`: the settler's bond, and challenges of proposed
epochs (anyone may open one; the resolver rules)."""

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
    address_of,
    amount_wei,
    open_session,
    run_plan,
    signer,
    with_approval,
)
from services.cli.output import console, errors_as_one_line, print_json
from services.core.money import format_mrt

bond_app = typer.Typer(
    help="The settler's bond, which an upheld challenge slashes.", no_args_is_help=True
)
challenge_app = typer.Typer(
    help="Challenge a proposed epoch, or rule on a challenge.", no_args_is_help=True
)
Epoch = Annotated[int, typer.Argument(min=1, help="The epoch")]


@bond_app.command("show")
@errors_as_one_line
def bond_show(
    account: AccountSpec = None,
    settler: Annotated[
        str | None, typer.Option("--of", help="Whose bond [default: --account]")
    ] = None,
    rpc_url: RpcUrl = None,
    as_json: AsJson = False,
) -> None:
    """Show a settler's bond, the part its pending proposal locks, and what proposing needs."""
    session = open_session(rpc_url)
    who = settler or address_of(session, account)
    bond, locked = session.settlement.bond_of(who)
    view = {"account": who, "bond_wei": str(bond), "locked_wei": str(locked),
            "free_wei": str(bond - locked),
            "settler_bond_wei": str(session.settlement.settler_bond())}  # fmt: skip
    if as_json:
        print_json(view)
        return
    table = Table(title=f"settler bond on chain {session.chain_id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for label, key in (("bond", "bond_wei"), ("locked by a pending proposal", "locked_wei"),
                       ("free", "free_wei"), ("a proposal needs", "settler_bond_wei")):  # fmt: skip
        table.add_row(label, format_mrt(int(view[key])))
    console.print(f"account {who}")
    console.print(table)


@bond_app.command("post")
@errors_as_one_line
def bond_post(
    amount: Amount,
    for_account: Annotated[
        str | None, typer.Option("--for", help="Whose bond [default: --account]")
    ] = None,
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Post AMOUNT MRT to a settler's bond (yours, or --for another account), approving first."""
    session = open_session(rpc_url)
    signing = signer(session, account)
    wei = amount_wei(amount)
    target = for_account or signing.address
    call = session.settlement.post_bond(target, wei)
    calls = with_approval(session, signing.address, wei, call, session.settlement.address)
    run_plan(session, signing, calls, dry_run=dry_run, as_json=as_json)
    if not dry_run and not as_json:
        bond, _ = session.settlement.bond_of(target)
        console.print(f"{target} bonds {format_mrt(bond)}")


@bond_app.command("withdraw")
@errors_as_one_line
def bond_withdraw(
    amount: Amount, account: AccountSpec = None, rpc_url: RpcUrl = None, dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Withdraw AMOUNT MRT of your bond's free part (a pending proposal locks the rest)."""
    session = open_session(rpc_url)
    signing = signer(session, account)
    run_plan(
        session,
        signing,
        [session.settlement.withdraw_bond(amount_wei(amount))],
        dry_run=dry_run,
        as_json=as_json,
    )


@challenge_app.command("show")
@errors_as_one_line
def challenge_show(epoch: Epoch, rpc_url: RpcUrl = None, as_json: AsJson = False) -> None:
    """Show an epoch's latest challenge."""
    session = open_session(rpc_url)
    found = session.settlement.challenge_of(epoch)
    if as_json:
        print_json(found.as_dict() if found else None)
        return
    if found is None:
        console.print(f"epoch {epoch} was never challenged")
        return
    status = getattr(found.status, "value", found.status)
    console.print(f"epoch {epoch}: challenge {status} by {found.challenger} "
                  f"at {found.challenged_at:%Y-%m-%d %H:%M:%S}Z; "
                  f"evidence {found.evidence_cid}", soft_wrap=True)  # fmt: skip


@challenge_app.command("open")
@errors_as_one_line
def challenge_open(
    epoch: Epoch,
    evidence: Annotated[str, typer.Option(help="CID of the evidence document")],
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Challenge EPOCH's proposal inside its window, paying the challenge bond (approved first);
    `merit watch` does this on its own when a recomputation differs."""
    session = open_session(rpc_url)
    signing = signer(session, account)
    bond = int(session.settlement.challenge_bond())
    call = session.settlement.challenge(epoch, evidence)
    run_plan(session, signing,
             with_approval(session, signing.address, bond, call, session.settlement.address),
             dry_run=dry_run, as_json=as_json)  # fmt: skip


@challenge_app.command("resolve")
@errors_as_one_line
def challenge_resolve(
    epoch: Epoch,
    upheld: Annotated[
        bool, typer.Option("--upheld/--rejected", help="Rule for the challenger, or against")
    ],
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Rule on EPOCH's open challenge (the resolver's key): upheld cancels the proposal (the
    settler proposes the epoch again) and pays the challenger its bond and the slashed settler
    bond; rejected sends the challenge bond to the treasury and the proposal finalizes as due."""
    session = open_session(rpc_url)
    signing = signer(session, account)
    run_plan(
        session,
        signing,
        [session.settlement.resolve(epoch, upheld)],
        dry_run=dry_run,
        as_json=as_json,
    )
    if not dry_run and not as_json:
        console.print(
            f"epoch {epoch}: challenge {'upheld, proposal cancelled' if upheld else 'rejected'}"
        )

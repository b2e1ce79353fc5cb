"""`merit bond ...` and `merit challenge ...`: the settler's bond, and challenges of proposed
epochs (anyone may open one; the resolver rules)."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.chain_cmds import (
    AccountSpec,
    Amount,
    AsJson,
    ChainWrite,
    RpcUrl,
    address_of,
    amount_wei,
    chain_write,
    open_session,
)
from services.cli.output import console, errors_as_one_line, field_table, print_json
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
    table = field_table(f"settler bond on chain {session.chain_id}")
    for label, key in (("bond", "bond_wei"), ("locked by a pending proposal", "locked_wei"),
                       ("free", "free_wei"), ("a proposal needs", "settler_bond_wei")):  # fmt: skip
        table.add_row(label, format_mrt(int(view[key])))
    console.print(f"account {who}")
    console.print(table)


@bond_app.command("post")
@errors_as_one_line
@chain_write
def bond_post(
    write: ChainWrite,
    amount: Amount,
    for_account: Annotated[
        str | None, typer.Option("--for", help="Whose bond [default: --account]")
    ] = None,
) -> None:
    """Post AMOUNT MRT to a settler's bond (yours, or --for another account), approving first."""
    settlement, signing = write.session.settlement, write.signer
    wei = amount_wei(amount)
    target = for_account or signing.address
    write.run(write.approving(wei, settlement.post_bond(target, wei), settlement.address))
    if write.shows_result:
        bond, _ = settlement.bond_of(target)
        console.print(f"{target} bonds {format_mrt(bond)}")


@bond_app.command("withdraw")
@errors_as_one_line
@chain_write
def bond_withdraw(write: ChainWrite, amount: Amount) -> None:
    """Withdraw AMOUNT MRT of your bond's free part (a pending proposal locks the rest)."""
    write.run([write.session.settlement.withdraw_bond(amount_wei(amount))])


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
@chain_write
def challenge_open(
    write: ChainWrite,
    epoch: Epoch,
    evidence: Annotated[str, typer.Option(help="CID of the evidence document")],
) -> None:
    """Challenge EPOCH's proposal inside its window, paying the challenge bond (approved first);
    `merit watch` does this on its own when a recomputation differs."""
    settlement = write.session.settlement
    bond = int(settlement.challenge_bond())
    write.run(write.approving(bond, settlement.challenge(epoch, evidence), settlement.address))


@challenge_app.command("resolve")
@errors_as_one_line
@chain_write
def challenge_resolve(
    write: ChainWrite,
    epoch: Epoch,
    upheld: Annotated[
        bool, typer.Option("--upheld/--rejected", help="Rule for the challenger, or against")
    ],
) -> None:
    """Rule on EPOCH's open challenge (the resolver's key): upheld cancels the proposal (the
    settler proposes the epoch again) and pays the challenger its bond and the slashed settler
    bond; rejected sends the challenge bond to the treasury and the proposal finalizes as due."""
    write.run([write.session.settlement.resolve(epoch, upheld)])
    if write.shows_result:
        console.print(
            f"epoch {epoch}: challenge {'upheld, proposal cancelled' if upheld else 'rejected'}"
        )

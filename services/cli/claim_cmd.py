"""`merit claim`: pull a node's rewards with its Merkle proof from the latest finalized
settlement."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.chain_cmds import ChainWrite, chain_write
from services.cli.output import console, errors_as_one_line
from services.core.errors import Conflict, NotFound
from services.core.money import format_mrt
from services.core.types import EpochId
from services.settings import get_settings


@errors_as_one_line
@chain_write
def claim(
    write: ChainWrite,
    epoch: Annotated[
        int | None,
        typer.Option(min=1, help="Claim with this finalized epoch's proof [default: the latest]"),
    ] = None,
) -> None:
    """Claim everything the account's node earned and has not claimed yet (one transaction covers
    every epoch since its last claim)."""
    from services.store.db import PostgresStore

    session, signing = write.session, write.signer
    store = PostgresStore.connect(get_settings().effective_database_url)
    try:
        entry = store.settlements.claim_of(
            account=signing.address, epoch_id=EpochId(epoch) if epoch is not None else None
        )
    finally:
        store.close()
    if entry is None:
        where = f"epoch {epoch}'s settlement" if epoch is not None else "any finalized settlement"
        raise NotFound(
            f"nothing to claim: {signing.address} is paid in no leaf of {where}",
            hint="a node earns once an epoch it served in is settled and finalized "
            "(`merit epoch show N`)",
        )
    claimed = int(session.settlement.claimed_of(entry.chain_node_id))
    if claimed >= entry.cumulative_wei:
        raise Conflict(
            f"nothing to claim: node {entry.chain_node_id} has claimed {format_mrt(claimed)} of "
            f"{format_mrt(entry.cumulative_wei)}",
            hint="rewards of later epochs become claimable when they are finalized",
        )
    write.run([session.settlement.claim_entry(entry)])
    if write.shows_result:
        console.print(
            f"node {entry.chain_node_id} claimed {format_mrt(entry.cumulative_wei - claimed)} "
            f"(epoch {entry.epoch_id}, {format_mrt(entry.cumulative_wei)} in all)",
            highlight=False,
            soft_wrap=True,
        )

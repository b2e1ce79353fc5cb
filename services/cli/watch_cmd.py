"""`merit watch`: check every proposed epoch against its audit bundle; challenge a false one.

Needs only the chain, the content store (MERIT_IPFS_API_URL or the local CID store) and the
watcher's own key; never the marketplace's database. One line per epoch on stdout.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from services.cli.chain_cmds import AccountSpec, RpcUrl, open_session, signer
from services.cli.output import console, errors_as_one_line
from services.settings import get_settings


def state_file(data_dir: Path, chain_id: int, settlement: str) -> Path:
    """The watcher's cursor and verdicts for one settlement contract, under the data dir."""
    return data_dir / "watch" / f"{chain_id}-{settlement.lower()}.json"


@errors_as_one_line
def watch(
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    once: Annotated[
        bool, typer.Option("--once", help="One pass; exit 0 when all passed, 1 when it challenged")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.5, help="Seconds between passes")
    ] = 10.0,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", help="Cursor file [default: <data dir>/watch/<chain>-<contract>.json]"
        ),
    ] = None,
) -> None:
    """Follow EpochProposed events; fetch each epoch's audit bundle by its CID, recompute the
    rewards, payees, total, pool and reputations from it, and challenge (paying the challenge
    bond, from --account) any proposal that differs, with the differences as evidence."""
    from services.app.watch import WatchState, watch_once
    from services.chain.challenges import ChainChallenges
    from services.content import build_content_store

    settings = get_settings()
    session = open_session(rpc_url)
    chain = ChainChallenges(session, signer(session, account))
    content = build_content_store(settings)
    path = state or state_file(
        settings.resolved_data_dir, session.chain_id, session.settlement.address
    )
    cursor = WatchState.load(path)
    flagged = False
    while True:
        for verdict in watch_once(chain, content, cursor):
            flagged = flagged or verdict.status in ("CHALLENGED", "FAILED")
            console.print(verdict.line(), highlight=False, soft_wrap=True)
        if once:
            break
        time.sleep(interval)
    if flagged:
        raise typer.Exit(1)

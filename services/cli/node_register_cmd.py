"""`merit node register`: put a node in the on-chain registry with its stake."""

from __future__ import annotations

from typing import Annotated

import typer

from services.chain.contracts import model_hash
from services.chain.operators import metadata_document
from services.chain.reverts import format_mrt
from services.cli.chain_cmds import (
    AccountSpec,
    AsJson,
    DryRun,
    RpcUrl,
    amount_wei,
    open_session,
    run_plan,
    signer,
    with_approval,
)
from services.cli.output import console, errors_as_one_line
from services.content import build_content_store, cid_of
from services.core.errors import Conflict
from services.settings import get_settings


@errors_as_one_line
def register(
    model: Annotated[str, typer.Option(help="The model served (a name, or its 0x 32-byte hash)")],
    endpoint: Annotated[
        str | None, typer.Option(help="The node's OpenAI-compatible base URL, for its metadata")
    ] = None,
    metadata_cid: Annotated[
        str | None,
        typer.Option(
            help="CID of a metadata document [default: one built from --model/--endpoint]"
        ),
    ] = None,
    stake: Annotated[
        str | None, typer.Option(help="MRT to stake at registration [default: the minimum]")
    ] = None,
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Register your node in the NodeRegistry, approving and staking the minimum (or --stake)."""
    session = open_session(rpc_url)
    signing = signer(session, account)
    registry = session.registry
    existing = registry.node_id_of(signing.address)
    if existing is not None:
        raise Conflict(
            f"{signing.address} already operates node {existing}",
            hint=f"one address runs one node; see it with `merit stake show {existing}`",
        )
    model_hash_ = model_hash(model)
    if metadata_cid is None:
        doc = metadata_document(model, endpoint, signing.address)
        metadata_cid = cid_of(doc) if dry_run else build_content_store(get_settings()).put(doc)
    stake_wei = amount_wei(stake) if stake is not None else None
    register_call = registry.register(model_hash_, metadata_cid, stake_wei)
    pulled = registry.register_stake(stake_wei)
    calls = with_approval(session, signing.address, pulled, register_call)
    run_plan(session, signing, calls, dry_run=dry_run, as_json=as_json)
    if not dry_run and not as_json:
        node_id = registry.node_id_of(signing.address)
        console.print(
            f"registered node {node_id} for {signing.address} with {format_mrt(pulled)} staked "
            f"(metadata {metadata_cid})",
            highlight=False,
            soft_wrap=True,
        )

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
from services.nodes.egress import check_endpoint
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
    name: Annotated[
        str | None, typer.Option(help="The node's name in the marketplace [default: node-ID]")
    ] = None,
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Register your node in the NodeRegistry, approving and staking the minimum (or --stake)."""
    if endpoint is not None:  # refused early here; the workers check again at every call
        endpoint = check_endpoint(endpoint, allow_loopback=get_settings().nodes_on_loopback)
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
    if dry_run:
        return
    node_id = registry.node_id_of(signing.address)
    off_chain = (
        _register_off_chain(name or f"node-{node_id}", endpoint, model, signing.address)
        if endpoint
        else "not in the marketplace yet: register again with --endpoint URL to be dispatched tasks"
    )
    if not as_json:
        console.print(
            f"registered node {node_id} for {signing.address} with {format_mrt(pulled)} staked "
            f"(metadata {metadata_cid})",
            highlight=False,
            soft_wrap=True,
        )
        console.print(off_chain, highlight=False, soft_wrap=True)


def _register_off_chain(name: str, endpoint: str, model: str, address: str) -> str:
    """Record the node in the marketplace's database, inactive until it passes calibration."""
    from services.core.errors import MeritError, NotFound
    from services.core.types import NewNode, NodeStatus
    from services.store.db import PostgresStore

    try:
        store = PostgresStore.connect(get_settings().effective_database_url)
    except MeritError as exc:
        return f"not recorded in the marketplace ({exc.one_line()})"
    try:
        try:
            node = store.nodes.get_by_name(name)
            if (node.address or "").lower() != address.lower():
                return f"not recorded: the name {name} is taken; register again with --name"
        except NotFound:
            node = store.nodes.add(NewNode(name, endpoint, model, address=address))
            store.nodes.set_status(node.id, NodeStatus.INACTIVE)
    finally:
        store.close()
    return (
        f"marketplace node {name} (id {node.id}) is inactive until it passes calibration: "
        f"run `merit node calibrate {name}`"
    )

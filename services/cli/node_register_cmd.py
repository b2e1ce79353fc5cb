"""`merit node register`: put a node in the on-chain registry with its stake."""

from __future__ import annotations

from typing import Annotated

import typer
from eth_utils.address import is_address

from services.chain.contracts import model_hash
from services.chain.operators import metadata_document
from services.cli.chain_cmds import ChainWrite, amount_wei, chain_write
from services.cli.output import console, errors_as_one_line
from services.content import build_content_store, cid_of
from services.core.errors import Conflict, Invalid
from services.core.money import format_mrt
from services.nodes.egress import check_endpoint
from services.settings import get_settings


@errors_as_one_line
@chain_write
def register(
    write: ChainWrite,
    model: Annotated[
        str, typer.Option(help="The model served (its name; the chain holds its hash)")
    ],
    endpoint: Annotated[
        str | None, typer.Option(help="The node's OpenAI-compatible base URL, for its metadata")
    ] = None,
    metadata_cid: Annotated[
        str | None,
        typer.Option(
            help="CID of a metadata document you published [default: one built from the options]"
        ),
    ] = None,
    signer: Annotated[
        str | None,
        typer.Option(help="Address whose key signs the node's work [default: the operator's]"),
    ] = None,
    stake: Annotated[
        str | None, typer.Option(help="MRT to stake at registration [default: the minimum]")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The node's name in the marketplace [default: node-ID]")
    ] = None,
) -> None:
    """Register your node in the NodeRegistry, approving and staking the minimum (or --stake).

    The chain is the registry: the marketplace finds the node through the registry's events,
    fetches its metadata document by CID, checks the endpoint, calibrates the node and attests the
    result on chain. Follow it with `merit node status`."""
    if metadata_cid is None and endpoint is None:
        raise Invalid(
            "give --endpoint (the node's base URL) or --metadata-cid",
            hint="e.g. --endpoint https://node.example.org/v1",
        )
    if endpoint is not None:  # refused early here; the marketplace checks again, and at every call
        endpoint = check_endpoint(endpoint, allow_loopback=get_settings().nodes_on_loopback)
    if signer is not None and not is_address(signer):
        raise Invalid(
            f"--signer {signer!r} is not an address", hint="give the 0x address of the signing key"
        )
    signing = write.signer
    registry = write.session.registry
    existing = registry.node_id_of(signing.address)
    if existing is not None:
        raise Conflict(
            f"{signing.address} already operates node {existing}",
            hint=f"one address runs one node; see it with `merit node status {existing}`",
        )
    model_hash_ = model_hash(model)
    if metadata_cid is None:
        doc = metadata_document(model, endpoint, signing.address, signer=signer, name=name)
        metadata_cid = (
            cid_of(doc) if write.dry_run else build_content_store(get_settings()).put(doc)
        )
    stake_wei = amount_wei(stake) if stake is not None else None
    register_call = registry.register(model_hash_, metadata_cid, stake_wei)
    pulled = registry.register_stake(stake_wei)
    write.run(write.approving(pulled, register_call))
    if write.dry_run:
        return
    node_id = registry.node_id_of(signing.address)
    if not write.as_json:
        console.print(
            f"registered node {node_id} for {signing.address} with {format_mrt(pulled)} staked "
            f"(metadata {metadata_cid})",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            "the marketplace finds it on chain within a few blocks, then calibrates it: "
            f"follow it with `merit node status {node_id}`",
            highlight=False,
            soft_wrap=True,
        )

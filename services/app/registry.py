"""The chain is the node registry: the marketplace follows NodeRegistry and admits what it finds.

An operator registers a node on chain (``NodeRegistry.register``) with the CID of a metadata
document: ``{"version": 1, "model": ..., "endpoint": ..., "operator": ..., "signer": ...}`` (and
optionally ``"name"``). ``follow_registry`` reads the registry's events a few blocks behind the
head (``confirmations``), from a cursor kept in the store with the hash of the last block read.
For every node an event touched it reads the node's whole state at that block (stake, unbonding,
metadata), so applying a block twice changes nothing. A node seen for the first time has its
metadata fetched by CID and checked (the endpoint must pass the egress rules, the model must be
the one hashed on chain, the operator the one that registered); it is recorded inactive, waiting
for the examiner, or inactive with the reason its metadata was refused.

Reorganisations: when the block under the cursor has another hash now (or is gone), the follower
goes back ``REORG_DEPTH`` blocks and re-reads every node it knows at the new safe block; a node
the chain no longer holds is made inactive with that reason.

``examine_node`` is the examiner: it calibrates a waiting node (``calibrate_node``) and attests
the result on chain. Stake, unbonding and status shown by the API, the CLI and the explorer are
these rows: one source, following the chain.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from services.app.calibration import (
    COOLDOWN,
    FAILED,
    CalibrationResult,
    attest_calibration,
    calibrate_node,
)
from services.app.ports import (
    AttestationChain,
    ChainCursor,
    ContentStore,
    NodeGateway,
    QuestionBank,
    RegisteredNode,
    RegistryLog,
    Store,
)
from services.core.errors import Conflict, MeritError, NotFound, Unavailable
from services.core.types import TEST_MODEL, NewNode, Node, NodeId, NodeKind, NodeStatus

log = logging.getLogger(__name__)

CURSOR = "registry"
REORG_DEPTH = 64  # blocks re-read after the chain reorganised under the cursor
MAX_METADATA_BYTES = 16 * 1024
WAITING = "registered on chain; waiting for calibration by the examiner"
LOW_STAKE = "stake below the registry's minimum"
REFUSED = "metadata refused"
PENDING = "metadata not fetched yet"  # the content store did not answer: tried again each pass
PENDING_PER_PASS = 20
METADATA_WAIT = timedelta(hours=1)  # then a document still missing is refused


class MetadataRefused(MeritError):
    code = "metadata-refused"
    title = "Node metadata refused"
    status = 422


@dataclass(frozen=True)
class NodeMetadata:
    """What a node's metadata document says, checked."""

    model: str
    endpoint: str
    signer: str
    name: str | None = None


@dataclass
class Followed:
    """One pass of the follower: the blocks it applied and what changed."""

    first: int
    last: int  # first - 1 when there was nothing new to read
    admitted: list[NodeId] = field(default_factory=list)  # new nodes waiting for the examiner
    refused: list[NodeId] = field(default_factory=list)  # new nodes whose metadata was refused
    updated: int = 0  # nodes whose chain state was read again
    reorganised: bool = False


EndpointCheck = Callable[[str], str]  # the URL, normalised; EndpointRefused when not allowed


def parse_metadata(
    data: bytes, node: RegisteredNode, check_endpoint: EndpointCheck, *, admit_test_nodes: bool
) -> tuple[NodeMetadata, NodeKind]:
    """The metadata document of ``node``, checked against what the chain holds; MetadataRefused
    (or EndpointRefused) saying what is wrong. Test nodes (model ``TEST_MODEL``) are admitted
    only with ``admit_test_nodes`` (a dev chain)."""
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataRefused(
            f"metadata document is {len(data)} bytes (at most {MAX_METADATA_BYTES})"
        )
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MetadataRefused(f"metadata document is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise MetadataRefused("metadata document is not a version 1 object")
    model, endpoint = doc.get("model"), doc.get("endpoint")
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise MetadataRefused("metadata names no model (a string of at most 200 characters)")
    if not isinstance(endpoint, str) or not endpoint:
        raise MetadataRefused("metadata names no endpoint")
    declared = "0x" + keccak(text=model.strip()).hex()
    if declared != node.model_hash.lower():
        raise MetadataRefused(
            f"metadata model {model!r} is not the model hashed on chain ({node.model_hash})"
        )
    operator = doc.get("operator")
    if not isinstance(operator, str) or operator.lower() != node.operator.lower():
        raise MetadataRefused(f"metadata names operator {operator!r}, the chain {node.operator}")
    signer = doc.get("signer", operator)
    if not isinstance(signer, str) or not is_address(signer):
        raise MetadataRefused(f"metadata signer {signer!r} is not an address")
    name = doc.get("name")
    if name is not None and (
        not isinstance(name, str) or not 0 < len(name) <= 64 or not name.isprintable()
    ):
        raise MetadataRefused("metadata name must be 1 to 64 printable characters")
    kind = NodeKind.TEST if model.strip() == TEST_MODEL else NodeKind.OPENAI
    if kind is NodeKind.TEST and not admit_test_nodes:
        raise MetadataRefused("test nodes are admitted on a dev chain only")
    return NodeMetadata(
        model.strip(), check_endpoint(endpoint), to_checksum_address(signer), name
    ), kind


def follow_registry(
    store: Store,
    chain: RegistryLog,
    content: ContentStore,
    check_endpoint: EndpointCheck,
    *,
    confirmations: int,
    start_block: int = 0,
    max_blocks: int = 5_000,
    admit_test_nodes: bool = False,
) -> Followed:
    """Apply the registry's blocks from the cursor up to ``confirmations`` behind the head (at
    most ``max_blocks`` at a time); what changed. Idempotent; safe to run from any process."""
    cursor = store.cursors.get(CURSOR)
    safe = chain.head() - max(0, confirmations)
    first = start_block if cursor is None else cursor.block_number + 1
    reorganised = cursor is not None and (
        cursor.block_number > safe or chain.block_hash(cursor.block_number) != cursor.block_hash
    )
    if reorganised:
        assert cursor is not None
        first = max(start_block, cursor.block_number - REORG_DEPTH)
        log.warning(
            "registry reorganised under block %d; reading again from %d", cursor.block_number, first
        )
    last = min(safe, first + max_blocks - 1)
    # metadata not fetched yet: again
    pending = {int(n.chain_node_id or 0) for n in _pending(store)}
    if last < first and not pending:
        return Followed(first, first - 1)
    at = max(last, first - 1)  # where states are read: the cursor's block when no block is new
    touched = chain.touched(first, last) if last >= first else set()
    if reorganised:
        touched |= {n.chain_node_id for n in store.nodes.list() if n.chain_node_id is not None}
    states = {cid: chain.node_at(cid, at) for cid in sorted(touched | pending)}
    fetch = {
        cid: s
        for cid, s in states.items()
        if s is not None and (cid in pending or _known(store, cid) is None)
    }
    documents = {cid: _fetch(content, s.metadata_cid) for cid, s in fetch.items()}
    min_stake = chain.min_stake()
    out = Followed(first, last, reorganised=reorganised)
    with store.transaction() as tx:
        for cid, state in states.items():
            node = _known(tx, cid)
            if state is None:
                if node is not None and node.status_note != _GONE:
                    tx.nodes.set_status(node.id, NodeStatus.INACTIVE, note=_GONE)
                continue
            if node is None:
                node = _admit(tx, state, documents[cid], check_endpoint, admit_test_nodes)
                _sort(out, node)
            elif cid in pending:
                node = _fetched_late(
                    tx, node, state, documents[cid], check_endpoint, admit_test_nodes
                )
                _sort(out, node)
            tx.nodes.set_chain_state(
                node.id, stake_wei=state.stake_wei, unbonding_wei=state.unbonding_wei, block=at
            )
            if state.stake_wei < min_stake and node.status is NodeStatus.ACTIVE:
                note = f"{LOW_STAKE}: {state.stake_wei} of {min_stake} wei"
                tx.nodes.set_status(node.id, NodeStatus.INACTIVE, note=note)
            elif state.stake_wei >= min_stake and (node.status_note or "").startswith(LOW_STAKE):
                tx.nodes.set_status(node.id, NodeStatus.INACTIVE, note=WAITING)  # examined again
                out.admitted.append(node.id)
            out.updated += 1
        if last >= first:
            tx.cursors.set(CURSOR, ChainCursor(last, chain.block_hash(last) or ""))
    if out.admitted or out.refused:
        log.info(
            "registry followed to block %d: %d admitted, %d refused",
            last,
            len(out.admitted),
            len(out.refused),
        )
    return out


_GONE = "not in the registry at the marketplace's last safe block (the chain reorganised)"


def _known(store: Store, chain_node_id: int) -> Node | None:
    try:
        return store.nodes.get_by_chain_id(chain_node_id)
    except NotFound:
        return None


def _sort(out: Followed, node: Node) -> None:
    """Count a node just recorded: admitted (waiting for the examiner), refused, or neither yet."""
    if node.status_note == WAITING:
        out.admitted.append(node.id)
    elif (node.status_note or "").startswith(REFUSED):
        out.refused.append(node.id)


def _pending(store: Store) -> list[Node]:
    """Registry nodes whose metadata could not be fetched yet (a content store that did not
    answer), at most ``PENDING_PER_PASS`` a pass, the longest waiting first."""
    waiting = [
        n for n in store.nodes.list(status=NodeStatus.INACTIVE)
        if n.chain_node_id is not None and (n.status_note or "").startswith(PENDING)
    ]  # fmt: skip
    return waiting[:PENDING_PER_PASS]


def _fetched_late(
    store: Store,
    node: Node,
    state: RegisteredNode,
    document: bytes | MeritError,
    check_endpoint: EndpointCheck,
    admit_test_nodes: bool,
) -> Node:
    """A node recorded while its metadata could not be fetched, tried again: admitted once it
    comes and checks out, refused when it is wrong or still missing ``METADATA_WAIT`` after."""
    if isinstance(document, Unavailable) and datetime.now(UTC) >= node.created_at + METADATA_WAIT:
        document = MeritError(f"still unavailable after {METADATA_WAIT}: {document.one_line()}")
    read = _read(state, document, check_endpoint, admit_test_nodes)
    if isinstance(read, str):
        store.nodes.set_status(node.id, NodeStatus.INACTIVE, note=read)
    else:
        meta, kind = read
        store.nodes.set_metadata(
            node.id, endpoint_url=meta.endpoint, model=meta.model, kind=kind, signer=meta.signer
        )
        store.nodes.set_status(node.id, NodeStatus.INACTIVE, note=WAITING)
    return store.nodes.get(node.id)


def _read(
    state: RegisteredNode,
    document: bytes | MeritError,
    check_endpoint: EndpointCheck,
    admit_test_nodes: bool,
) -> tuple[NodeMetadata, NodeKind] | str:
    """The node's metadata, checked; else the note that says why not (not fetched yet: the
    content store did not answer; refused: what is wrong)."""
    if isinstance(document, Unavailable):
        return f"{PENDING}: {document.one_line()}"
    try:
        if isinstance(document, MeritError):
            raise MetadataRefused(
                f"metadata {state.metadata_cid} could not be fetched: {document.one_line()}"
            )
        return parse_metadata(document, state, check_endpoint, admit_test_nodes=admit_test_nodes)
    except MeritError as exc:
        log.info("registry node %d refused: %s", state.chain_node_id, exc.detail)
        return f"{REFUSED}: {exc.detail}"


def _fetch(content: ContentStore, cid: str) -> bytes | MeritError:
    """The metadata document, or the error that says why it could not be had (it is recorded)."""
    try:
        return content.get(cid)
    except MeritError as exc:
        return exc


def _admit(
    store: Store,
    state: RegisteredNode,
    document: bytes | MeritError,
    check_endpoint: EndpointCheck,
    admit_test_nodes: bool,
) -> Node:
    """Record a node found on chain: waiting for the examiner, waiting for its metadata, or
    refused with the reason."""
    default_name = f"node-{state.chain_node_id}"
    read = _read(state, document, check_endpoint, admit_test_nodes)
    if isinstance(read, str):
        return store.nodes.add(
            NewNode(default_name, "", "", address=state.operator, chain_node_id=state.chain_node_id,
                    metadata_cid=state.metadata_cid, status=NodeStatus.INACTIVE, status_note=read)
        )  # fmt: skip
    meta, kind = read
    name = meta.name or default_name
    for attempt in (name, default_name):
        try:
            with store.transaction() as tx:  # a savepoint: a taken name tries the default
                return tx.nodes.add(
                    NewNode(attempt, meta.endpoint, meta.model, kind=kind, address=state.operator,
                            chain_node_id=state.chain_node_id, metadata_cid=state.metadata_cid,
                            signer=meta.signer, status=NodeStatus.INACTIVE, status_note=WAITING)
                )  # fmt: skip
        except Conflict as exc:
            if exc.context.get("constraint") != "nodes_name_key" or attempt == default_name:
                raise
    raise AssertionError("unreachable")


def requeue_failed(store: Store, *, now: datetime | None = None) -> list[NodeId]:
    """Registry nodes whose calibration failed at least ``COOLDOWN`` ago, made waiting for the
    examiner again (their operator may have fixed the model meanwhile); their ids. A node below
    the registry's minimum stake, or whose metadata was refused, is not examined again."""
    now = now or datetime.now(UTC)
    due = [
        n for n in store.nodes.list(status=NodeStatus.INACTIVE)
        if n.chain_node_id is not None and (n.status_note or "").startswith(FAILED)
        and n.last_calibration_at is not None and n.last_calibration_at + COOLDOWN <= now
    ]  # fmt: skip
    for node in due:
        store.nodes.set_status(node.id, NodeStatus.INACTIVE, note=WAITING)
    return [n.id for n in due]


def examine_node(
    store: Store,
    nodes: NodeGateway,
    chain: AttestationChain | None,
    node_id: NodeId,
    *,
    bank: QuestionBank,
    questions: int = 40,
) -> CalibrationResult | None:
    """Calibrate a node the follower admitted and attest the result on chain (None: the node is
    not waiting, e.g. a redelivered message after it was examined)."""
    node = store.nodes.get(node_id)
    if node.status_note != WAITING:
        return None
    result = calibrate_node(store, nodes, node_id, bank=bank, questions=questions)
    if chain is not None:
        attest_calibration(store, chain, result)
    return result

"""Slashing on signed evidence: a node's own signatures prove what it did.

An evidence document is JSON::

    {"kind": "equivocation",
     "chain_id": N, "registry": "0x...",      # the deployment the signatures were made for
     "chain_node_id": K,                      # the accused node (NodeRegistry id)
     "signed": [<signed work>, <signed work>]}

where each signed work is the message fields and signature as the audit bundle carries them
(``services.core.work.Signed.fields``: kind, task, round, left, right, request, reply, signature).

Equivocation is two answers (kind "answer", or two "calibration" answers) signed by the same key
for the same task, round and request (the same request bytes), with different reply hashes. An
honest node answers a repeated request with the reply it signed before (``services.nodes.signing``
journals them), so only a node that signs two replies to one piece of work is caught; a different
request (the marketplace asked something else) proves nothing.

A signed verdict on an answer the node itself gave is refused as evidence (``SELF_JUDGMENT``):
the marketplace alone chooses what each judge is shown, and its schedule lets a node that gave the
same answer as a candidate judge that candidate when neutral judges run out, so such a verdict
proves only that the marketplace asked for it. Slashing on it would let the slasher take an honest
node's stake for a verdict its own schedule requested.

``check_evidence`` is pure. ``slash_with_evidence`` checks it against the node's registered signer,
stores the document in the content store and sends ``NodeRegistry.slash(nodeId, amount,
evidenceCid)`` through the chain writer's outbox under an intent derived from the document, so
the same evidence never slashes twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.app.bundles import encode
from services.app.ports import ContentStore, SlashingChain, Store
from services.core.errors import Invalid
from services.core.work import SigningDomain, Work, WorkKind, hash_bytes, recover

log = logging.getLogger(__name__)

EQUIVOCATION = "equivocation"
SELF_JUDGMENT = "self-judgment"


class EvidenceInvalid(Invalid):
    code = "evidence-invalid"
    title = "Evidence does not prove the offence"


@dataclass(frozen=True)
class Proven:
    """What a valid evidence document proves: who (the key and the node) did what."""

    kind: str
    signer: str
    chain_node_id: int
    task: int
    round: int


def _signed(item: Any, where: str) -> tuple[Work, bytes]:
    try:
        work = Work.from_fields(dict(item))
        signature = bytes.fromhex(str(item["signature"]).removeprefix("0x"))
    except (KeyError, TypeError, ValueError) as exc:
        raise EvidenceInvalid(f"{where} is not a signed work message: {exc!r}") from exc
    return work, signature


def check_evidence(
    doc: Mapping[str, Any], domain: SigningDomain, registered_signer: str | None
) -> Proven:
    """What ``doc`` proves against the node whose registered signer is ``registered_signer``,
    under ``domain``; EvidenceInvalid (with what does not hold) otherwise."""
    kind = doc.get("kind")
    if kind == SELF_JUDGMENT:
        raise EvidenceInvalid(
            "a verdict on the node's own answer proves only that the marketplace asked for it "
            "(its schedule lets a node judge a candidate it gave when neutral judges run out): "
            "it is not slashable"
        )
    if kind != EQUIVOCATION:
        raise EvidenceInvalid(f"evidence kind {kind!r} is not {EQUIVOCATION!r}")
    if (doc.get("chain_id"), str(doc.get("registry", "")).lower()) != (
        domain.chain_id,
        domain.registry.lower(),
    ):
        raise EvidenceInvalid(
            f"the evidence names chain {doc.get('chain_id')} registry {doc.get('registry')}, "
            f"not this deployment (chain {domain.chain_id}, registry {domain.registry})"
        )
    items = doc.get("signed")
    if not isinstance(items, list) or len(items) != 2:
        raise EvidenceInvalid("the evidence needs exactly two signed messages under 'signed'")
    (a, sig_a), (b, sig_b) = (_signed(x, f"signed message {i + 1}") for i, x in enumerate(items))
    signers = [recover(domain, a, sig_a), recover(domain, b, sig_b)]
    if registered_signer is None:
        raise EvidenceInvalid("the accused node has no registered signer")
    if any(s is None or s.lower() != registered_signer.lower() for s in signers):
        raise EvidenceInvalid(
            f"the messages recover to {signers[0]} and {signers[1]}, "
            f"not both to the node's signer {registered_signer}"
        )
    if (a.task, a.round) != (b.task, b.round):
        raise EvidenceInvalid("the two messages are for different work (task or round differ)")
    if a.kind != b.kind or a.kind not in (WorkKind.ANSWER, WorkKind.CALIBRATION):
        raise EvidenceInvalid("equivocation needs two answers of one kind")
    if a.request != b.request:
        raise EvidenceInvalid(
            "the two answers reply to different requests: answering both is no offence"
        )
    if a.reply == b.reply:
        raise EvidenceInvalid("the two answers are the same reply")
    return Proven(str(kind), str(signers[0]), int(doc.get("chain_node_id", 0)), a.task, a.round)


@dataclass(frozen=True)
class Slashed:
    proven: Proven
    evidence_cid: str
    amount_wei: int
    tx_hash: str


def slash_with_evidence(
    store: Store,
    content: ContentStore,
    chain: SlashingChain,
    domain: SigningDomain,
    doc: Mapping[str, Any],
    *,
    amount_wei: int | None = None,
) -> Slashed:
    """Slash the node ``doc`` accuses once the evidence holds against its registered signer:
    the document stored (its CID on chain), ``amount_wei`` (default: all the stake the store
    knows of, staked and unbonding) taken by ``NodeRegistry.slash``; one transaction per
    evidence document however often this runs."""
    chain_node_id = doc.get("chain_node_id")
    if not isinstance(chain_node_id, int) or chain_node_id <= 0:
        raise EvidenceInvalid("the evidence names no accused node ('chain_node_id')")
    node = store.nodes.get_by_chain_id(chain_node_id)
    proven = check_evidence(doc, domain, node.signer)
    amount = int(node.stake_wei) + int(node.unbonding_wei) if amount_wei is None else amount_wei
    if amount <= 0:
        raise Invalid(
            f"nothing to slash: node {chain_node_id} holds no stake", hint="pass --amount"
        )
    blob = encode(doc)
    cid = content.put(blob)
    key = f"slash:{chain.chain_id}:{chain_node_id}:{hash_bytes(blob).hex()}"
    tx = chain.slash(key, chain_node_id, amount, cid)
    log.warning(
        "node slashed on signed evidence",
        extra={"node_id": node.id, "kind": proven.kind, "evidence_cid": cid, "tx_hash": tx},
    )
    return Slashed(proven, cid, amount, tx)

"""Checking the signature on a node's work, in the use cases (``rounds``, ``calibration``), so the
HTTP gateway, the in-memory ones and the consensus harness all go through the same check.

Work is accepted only when its reply's ``Receipt`` carries a signature that recovers, under the
marketplace's own domain (``NodeGateway.domain``), to the node's registered signer for exactly the
work asked: this kind, task and round, the two answers the judge was shown, and the hashes of the
request the gateway sent and the reply it read. Anything else (unsigned, a node without a
registered signer, a forged signature, one replayed from another task, round, pair or deployment)
is rejected: stored with the reason, never counted, never paid.
"""

from __future__ import annotations

import logging

from services.core.types import Node
from services.core.work import ZERO, Receipt, Signed, SigningDomain, Work, WorkOrder, check, recover

log = logging.getLogger(__name__)


def verify(
    domain: SigningDomain,
    node: Node,
    order: WorkOrder,
    receipt: Receipt | None,
    *,
    left: bytes = ZERO,
    right: bytes = ZERO,
) -> tuple[Signed | None, str | None]:
    """(the signed work as kept, None) when ``node`` signed exactly this work; else (what was
    received, with the address it recovers to, or None without a receipt; the reason)."""
    if receipt is None:
        return None, "the reply came without the hashes of its exchange"
    work = Work(order.kind, order.task, order.round, left, right, receipt.request, receipt.reply)
    result = check(domain, node.signer, work, receipt.signature)
    if isinstance(result, Signed):
        return result, None
    signer = None if receipt.signature is None else recover(domain, work, receipt.signature)
    log.warning(
        "work rejected: %s",
        result,
        extra={"node_id": node.id, "kind": order.kind.value, "task": f"{order.task:x}"},
    )
    return Signed(work, receipt.signature, signer), result

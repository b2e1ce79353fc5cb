"""Registry tasks: follow NodeRegistry (periodic, from beat) and examine the nodes it admits."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from services.app import registry
from services.core.errors import ChainUnavailable, ContentUnavailable, StoreUnavailable
from services.core.types import NodeId, NodeKind
from workers.container import container

_RETRY: dict[str, Any] = {
    "autoretry_for": (StoreUnavailable,),
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": None,
}


@shared_task(name="merit.registry.follow", ignore_result=True, expires=30)
def follow() -> dict[str, Any]:
    """Apply the registry's new blocks; each node admitted is sent to the examiner. A chain or
    content store that does not answer waits for the next run (the cursor has not moved)."""
    c = container()
    try:
        done = registry.follow_registry(
            c.store, c.registry_log(), c.content, c.endpoint_check(),
            confirmations=c.settings.registry_confirmations,
            start_block=c.settings.registry_start_block, admit_test_nodes=c.admits_test_nodes(),
        )  # fmt: skip
    except (ChainUnavailable, ContentUnavailable, StoreUnavailable) as exc:
        return {"waiting": exc.one_line()}
    for node_id in [*done.admitted, *registry.requeue_failed(c.store)]:  # failed an hour ago: again
        examine.delay(int(node_id))
    return {
        "last": done.last,
        "admitted": [int(n) for n in done.admitted],
        "refused": len(done.refused),
    }


@shared_task(name="merit.registry.examine", **_RETRY)
def examine(node_id: int) -> str | None:
    """Calibrate a node the follower admitted and attest the result on chain."""
    c = container()
    node = c.store.nodes.get(NodeId(node_id))
    bank = c.bank
    if node.kind is NodeKind.TEST:  # admitted on a dev chain only: test nodes look MMLU answers up
        from services.nodes.mmlu import MmluBank

        bank = MmluBank()
    try:
        chain = c.chain()
    except ChainUnavailable:
        chain = None  # calibrated now; the attestation is written by `merit node calibrate` later
    result = registry.examine_node(
        c.store,
        c.nodes,
        chain,
        NodeId(node_id),
        bank=bank,
        questions=c.settings.calibration_questions,
    )
    return None if result is None else result.reason

"""What both stores refuse, worded once: the NotFound of a key that names no row, and the rules the
PostgreSQL store checks in Python rather than by a constraint (an epoch closed again, an outbox
intent enqueued again). The in-memory store raises the same errors from the same functions.
Nothing of psycopg is imported here.
"""

from __future__ import annotations

import uuid

from services.core.errors import Conflict, NotFound
from services.core.types import Epoch, EpochId, NodeId, OutboxEntry, TaskId, Wei

NODE_HINT = "list nodes with `merit node list`"


# ---------------------------------------------------------------- keys that name no row
def parse_task_id(task_id: str) -> uuid.UUID:
    """A task id as a UUID; anything else cannot name a task, so it is NotFound."""
    try:
        return uuid.UUID(str(task_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"task {task_id!r} not found", hint="task ids are UUIDs") from None


def task_not_found(task_id: TaskId) -> NotFound:
    return NotFound(f"task {task_id} not found", hint="check the id returned by POST /v1/tasks")


def node_not_found(node_id: NodeId) -> NotFound:
    return NotFound(f"node {node_id} not found", hint=NODE_HINT)


def node_name_not_found(name: str) -> NotFound:
    return NotFound(f"node {name!r} not found", hint=NODE_HINT)


def chain_node_not_known(chain_node_id: int) -> NotFound:
    return NotFound(
        f"registry node {chain_node_id} is not known to the marketplace yet",
        hint="the marketplace follows the registry a few blocks behind its head; try again shortly",
    )


def no_round(task_id: TaskId) -> NotFound:
    return NotFound(f"no round started for task {task_id}", hint="start the round first")


def epoch_not_found(epoch_id: EpochId) -> NotFound:
    return NotFound(f"epoch {epoch_id} not found", hint="list epochs with `merit epoch list`")


def no_settlement(epoch_id: EpochId) -> NotFound:
    return NotFound(
        f"epoch {epoch_id} has no settlement", hint=f"settle it: `merit epoch settle {epoch_id}`"
    )


def entry_not_found(entry_id: int) -> NotFound:
    return NotFound(f"outbox entry {entry_id} not found")


# ---------------------------------------------------------------- epochs
def closed_again(stored: Epoch, pool_wei: Wei, audit_cid: str | None) -> Epoch:
    """``stored``, an epoch that is no longer open, when closing it again with ``pool_wei`` and
    ``audit_cid`` changes nothing; Conflict when either differs."""
    if stored.pool_wei != int(pool_wei) or stored.audit_cid != audit_cid:
        raise Conflict(
            f"epoch {stored.id} is already {stored.status} with pool "
            f"{stored.pool_wei} wei and audit CID {stored.audit_cid}",
            hint="an epoch is closed once; its pool and bundle cannot change",
        )
    return stored


# ---------------------------------------------------------------- the chain outbox
def same_address(a: str | None, b: str | None) -> bool:
    """Whether two addresses (or two absent ones) are one, whatever their checksum case."""
    return (a or "").lower() == (b or "").lower()


def enqueued_again(
    stored: OutboxEntry,
    intent_key: str,
    *,
    chain_id: int,
    sender: str,
    to_address: str | None,
    data: str,
    value_wei: Wei,
) -> OutboxEntry:
    """``stored``, the entry under ``intent_key``, when it is the transaction enqueued again;
    Conflict when it is another (chain, sender, target, calldata or value differ): one key names
    one write."""
    if not (
        stored.chain_id == chain_id
        and same_address(stored.sender, sender)
        and same_address(stored.to_address, to_address)
        and stored.data.lower() == data.lower()
        and stored.value_wei == int(value_wei)
    ):
        raise Conflict(
            f"outbox intent {intent_key!r} is already stored for a different transaction",
            hint="use a new intent key for a different chain write",
            intent_key=intent_key,
        )
    return stored


def nonce_taken(entry_id: int, nonce: int) -> Conflict:
    return Conflict(
        f"nonce {nonce} is already used by another outbox entry of this sender",
        hint="take the next nonce from the chain and the outbox",
        entry_id=entry_id,
        nonce=nonce,
    )


def entry_finished(entry_id: int, status: str) -> Conflict:
    return Conflict(f"outbox entry {entry_id} is already {status}")

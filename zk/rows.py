"""An epoch's circuit rows, read from its audit bundle (the document auditors check).

The scores the circuit commits to are the per-node sums of the epoch's task allocations
(``rewards_wei`` of each task in the bundle), zero for withheld judges; a node is eligible for a
rounding unit when its score is positive and it is in no Sybil cluster. Rows are the nodes with a
positive score, by node id (zero-score nodes can never receive a unit: fewer units are left than
there are positive remainders, and those rank first). The pool is the bundle's ``pool_wei``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.core.errors import Invalid
from services.core.rewards import apportion
from services.core.types import NodeId
from zk.encoding import Row


@dataclass(frozen=True)
class EpochRows:
    epoch: int
    pool: int
    rows: tuple[Row, ...]  # a row has no payee when its node has no on-chain identity or no reward
    rewards: tuple[int, ...]  # the bundle's reward of each row, in row order


def rows_from_bundle(doc: Mapping[str, Any], payees: Mapping[int, tuple[int, str]]) -> EpochRows:
    """The rows of the epoch in ``doc`` (an audit bundle); ``payees`` maps an off-chain node id to
    its (chain node id, account). Raises Invalid when the bundle's rewards are not the protocol's
    split of its scores (then no proof of them exists)."""
    epoch = int(doc["epoch"])
    pool = int(doc["pool_wei"])
    scores: dict[int, int] = {}
    for task in doc["tasks"]:
        for node, amount in task["rewards_wei"].items():
            scores[int(node)] = scores.get(int(node), 0) + int(amount)
    withheld = {int(n["node_id"]) for n in doc["nodes"] if n.get("withheld")}
    for node in withheld:
        if node in scores:
            scores[node] = 0
    clustered = {int(m) for c in doc["clusters"] if len(c) > 1 for m in c}
    paid = {int(n["node_id"]): int(n["reward_wei"]) for n in doc["nodes"]}

    ids = sorted(n for n, s in scores.items() if s > 0)
    if not ids:
        raise Invalid(f"epoch {epoch} has no contributions: nothing to prove")
    expected = apportion(pool, {NodeId(n): scores[n] for n in ids}, {NodeId(n) for n in clustered})
    rows: list[Row] = []
    rewards: list[int] = []
    for n in ids:
        reward = paid.get(n, 0)
        if reward != expected[NodeId(n)]:
            raise Invalid(
                f"epoch {epoch}: node {n}'s reward {reward} wei is not the protocol's split "
                f"({expected[NodeId(n)]} wei)",
                hint="the bundle was not made by this protocol version; close the epoch again",
            )
        chain = payees.get(n) if reward > 0 else None
        rows.append(
            Row(n, n not in clustered, scores[n], chain[0] if chain else None,
                chain[1] if chain else None)
        )  # fmt: skip
        rewards.append(reward)
    if sum(rewards) != pool:
        raise Invalid(f"epoch {epoch}: the rewards do not add up to the pool {pool} wei")
    return EpochRows(epoch, pool, tuple(rows), tuple(rewards))

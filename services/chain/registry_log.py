"""NodeRegistry as the follower reads it (``services.app.ports.RegistryLog``): the head, block
hashes, which nodes a range of blocks touched, and a node's whole state at one block."""

from __future__ import annotations

from typing import Any

from web3.exceptions import BlockNotFound

from services.app.ports import RegisteredNode
from services.chain.contracts import ChainSession
from services.chain.reverts import ChainNotFound
from services.chain.rpc import translate_chain_errors
from services.core.types import Wei


class ChainRegistryLog:
    def __init__(self, session: ChainSession) -> None:
        self._session = session
        self._registry = session.registry.address

    def head(self) -> int:
        with translate_chain_errors("reading the chain's head"):
            return int(self._session.w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        with translate_chain_errors(f"reading block {number}"):
            try:
                block = self._session.w3.eth.get_block(number)
            except BlockNotFound:  # not mined yet, or gone with a reorganisation
                return None
        found = block.get("hash")
        return None if found is None else "0x" + bytes(found).hex()

    def touched(self, first: int, last: int) -> set[int]:
        """The registry node ids named by the registry's events in blocks ``first..last``."""
        with translate_chain_errors(f"reading the registry's events in blocks {first}..{last}"):
            logs = self._session.w3.eth.get_logs(
                {"address": self._registry, "fromBlock": first, "toBlock": last}  # type: ignore[typeddict-item]
            )
        found: set[int] = set()
        for log in logs:
            event = self._session.events.decode_log(log)
            node_id = _node_id(event)
            if node_id:
                found.add(node_id)
        return found

    def node_at(self, chain_node_id: int, block: int) -> RegisteredNode | None:
        try:
            return self._session.registry.node(chain_node_id, block=block)
        except ChainNotFound:
            return None

    def min_stake(self) -> Wei:
        return self._session.registry.min_stake()


def _node_id(event: Any) -> int | None:
    """The node an event of the registry names (``nodeId``), if any."""
    if event is None:
        return None
    value = getattr(event, "node_id", None)
    if value is None:
        value = (getattr(event, "args", None) or {}).get("node_id")
    return int(value) if isinstance(value, int) else None

"""A chain must not silently go back: the outbox's receipts name blocks the marketplace's writes
were mined in; a chain that lacks the latest of them (anvil killed before it saved its state), or
holds another block there (a different chain on the same URL), is refused."""

from __future__ import annotations

from services.chain.anvil import rpc_call
from services.core.errors import Conflict
from services.store.outbox import MinedMark


class ChainWentBack(Conflict):
    code = "chain-went-back"
    title = "The chain went back"


def check_not_behind(rpc_url: str, mark: MinedMark | None, *, hint: str) -> None:
    """ChainWentBack (one line, with ``hint``) when the chain at ``rpc_url`` lost block ``mark``."""
    if mark is None:
        return
    block = rpc_call(rpc_url, "eth_getBlockByNumber", [hex(mark.block_number), False])
    if isinstance(block, dict) and str(block.get("hash", "")).lower() == mark.block_hash.lower():
        return
    head = int(str(rpc_call(rpc_url, "eth_blockNumber")), 16)
    lost = "holds another block there" if isinstance(block, dict) else f"is at block {head}"
    raise ChainWentBack(
        f"the chain at {rpc_url} {lost}, but the marketplace's transaction {mark.tx_hash} "
        f"({mark.intent_key}) was mined in block {mark.block_number}: the chain lost what was "
        "written to it",
        hint=hint,
        block=mark.block_number,
        head=head,
    )

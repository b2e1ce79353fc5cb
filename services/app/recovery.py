"""Use cases that drive work left in a non-final state on, without a human (the reconciler).

Each is idempotent: it only repeats what the step it stands in for would do, through the same
outbox intents, so running it beside the step itself sends nothing twice.
"""

from __future__ import annotations

from services.app.ports import Store
from services.app.settlement import SettlementChain, SettleResult, finalize_epoch
from services.core.settlement import SettlementStatus
from services.core.types import EpochId


def finalize_due(store: Store, chain: SettlementChain) -> list[SettleResult]:
    """Finalize the proposed epochs (the newest and one before it: the contract holds two
    proposals at most), oldest first; each sends nothing while its window is still open."""
    newest = store.settlements.latest(status=SettlementStatus.PROPOSED)
    if newest is None:
        return []
    before = store.settlements.get(EpochId(newest.epoch_id - 1)) if newest.epoch_id > 1 else None
    waiting = [s for s in (before, newest) if s is not None and s.status is SettlementStatus.PROPOSED]
    return [finalize_epoch(store, chain, s.epoch_id) for s in waiting]

"""The reconciler drives on what was left behind, on the real anvil and PostgreSQL: a proposed epoch
whose finalize was lost is finalized once its window has passed (and not before); running it again
sends nothing."""

from __future__ import annotations

from services.app.recovery import finalize_due
from services.app.settlement import settle_epoch
from services.core.settlement import SettlementStatus
from tests.contracts.market import MRT, SETTLER, travel
from tests.integration.test_settlement import World, _close, market_world  # noqa: F401 (a fixture)
from workers.app import create_celery
from services.settings import Settings


def test_a_proposed_epoch_whose_finalize_was_lost_is_finalized_once_its_window_passed(
    market_world: World,  # noqa: F811
) -> None:
    w = market_world
    a, b, _ = w.nodes
    e1 = _close(w.store, {a: 2 * MRT, b: MRT}, {})
    assert settle_epoch(w.store, w.chain, e1, prove=w.prove, check=w.check).sent  # its finalize task: lost
    assert finalize_due(w.store, w.chain)[0].message.startswith("not yet")  # the window is open
    assert w.store.settlements.get(e1).status is SettlementStatus.PROPOSED

    travel(w.session.w3, w.session.settlement.challenge_window_s() + 1)
    (done,) = finalize_due(w.store, w.chain)
    assert done.sent and done.settlement.status is SettlementStatus.FINALIZED
    assert w.session.settlement.last_finalized_epoch() == e1

    nonce = w.session.w3.eth.get_transaction_count(SETTLER.address)
    assert finalize_due(w.store, w.chain) == []  # nothing waits any more
    assert w.session.w3.eth.get_transaction_count(SETTLER.address) == nonce


def test_beat_runs_the_reconciler_every_minute(tmp_path) -> None:
    schedule = create_celery(Settings(env="test", data_dir=tmp_path)).conf.beat_schedule
    assert schedule["reconcile"] == {"task": "merit.chain.reconcile", "schedule": 60.0}

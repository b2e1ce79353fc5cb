"""Recovery after a crash, without a human: a chain worker that starts finishes what the outbox
holds unfinished (a transaction recorded, maybe broadcast, never confirmed) before anything else
is sent in its place; and every minute beat runs the reconciler, which finishes outbox entries
left unfinished for a while and finalizes proposed epochs whose challenge window has passed
(should their own scheduled finalize have been lost)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from services.core.errors import ChainUnavailable, MeritError, StoreUnavailable
from workers.container import container

log = logging.getLogger(__name__)
CHAIN_QUEUE = "chain"
STUCK_AFTER_S = 120  # an outbox entry unfinished this long is no longer being sent by anyone


@shared_task(
    name="merit.chain.resume_outbox",
    autoretry_for=(StoreUnavailable, ChainUnavailable),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=None,  # the chain or the database comes back: until then, keep trying
)
def resume_outbox() -> dict[str, str]:
    """Finish every unfinished outbox entry of this process's role keys (idempotent: a mined one
    answers from its receipt); intent key -> tx hash, or the error that keeps it waiting."""
    return _resume(older_than_s=0)


@shared_task(name="merit.chain.reconcile")
def reconcile() -> dict[str, Any]:
    """Drive on what was left behind (periodic, idempotent): outbox entries unfinished for
    STUCK_AFTER_S, proposed epochs whose window has passed. A failure waits for the next run."""
    from services.app.recovery import finalize_due

    resumed = _resume(older_than_s=STUCK_AFTER_S)
    finalized = finalize_due(container().store, container().chain())
    return {
        "resumed": resumed,
        "finalize": {int(r.settlement.epoch_id): r.message for r in finalized},
    }


def _resume(older_than_s: float) -> dict[str, str]:
    c = container()
    chain = c.chain()
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    done: dict[str, str] = {}
    for role, sender in chain.senders.items():
        for entry in c.store.outbox.pending(sender=sender.address):
            if entry.chain_id != chain.chain_id or (older_than_s and entry.created_at > cutoff):
                continue  # another chain's, or young enough to be in its sender's hands
            try:
                done[entry.intent_key] = sender.resume(entry).tx_hash
            except (StoreUnavailable, ChainUnavailable):
                raise  # retried whole: every entry resumes idempotently
            except MeritError as exc:  # this entry cannot finish now; the others still can
                log.warning(
                    "outbox entry not resumed",
                    extra={"intent_key": entry.intent_key, "role": role, "error": exc.one_line()},
                )
                done[entry.intent_key] = f"error: {exc.one_line()}"
            else:
                log.info(
                    "outbox entry resumed",
                    extra={"intent_key": entry.intent_key, "tx_hash": done[entry.intent_key]},
                )
    return done


@worker_ready.connect
def _resume_at_start(sender: Any = None, **_: object) -> None:
    """A worker consuming the chain queue queues ``resume_outbox`` when the outbox holds entries
    not yet mined; it runs in the single chain writer like every chain write."""
    app = getattr(sender, "app", None)
    if app is None or CHAIN_QUEUE not in app.amqp.queues.consume_from:
        return
    try:
        pending = container().store.outbox.pending()
    except MeritError as exc:  # the database is down: tried again at the next start
        log.warning("cannot read the outbox at start", extra={"error": exc.one_line()})
        return
    if pending:
        log.info("resuming unfinished chain transactions", extra={"entries": len(pending)})
        app.send_task("merit.chain.resume_outbox", queue=CHAIN_QUEUE)

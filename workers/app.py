"""The Celery application: broker, queues, routing and reliability settings in one place."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from services.settings import Settings

QUEUES = ("inference", "consensus", "zk", "chain")
ROUTES = {
    "merit.round.dispatch": {"queue": "consensus"},
    "merit.round.infer": {"queue": "inference"},
    "merit.round.plan_judging": {"queue": "consensus"},
    "merit.round.judge": {"queue": "inference"},
    "merit.round.rank": {"queue": "consensus"},
    "merit.round.fail": {"queue": "consensus"},
    "merit.round.gold": {"queue": "consensus"},
    "merit.round.await_fee": {"queue": "consensus"},
    "merit.epoch.close": {"queue": "consensus"},
    "merit.zk.*": {"queue": "zk"},
    "merit.chain.*": {"queue": "chain"},  # one worker, one process: the single chain writer
}


def create_celery(settings: Settings) -> Celery:
    app = Celery("meritswarm")
    url = settings.effective_broker_url
    app.conf.update(
        broker_url=url,
        result_backend=url,
        task_queues=[Queue(q) for q in QUEUES],
        task_default_queue="consensus",
        task_routes=ROUTES,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,  # every task is idempotent: a redelivery finds its work stored
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.task_visibility_timeout_s},
        worker_hijack_root_logger=False,
        task_track_started=True,
    )
    # a fee escrowed after its task failed goes back to its payer within a minute
    app.conf.beat_schedule = {"refund-failed": {"task": "merit.chain.refund_failed", "schedule": 60.0}}
    # work left in a non-final state (an unfinished chain write, a due finalize) is driven on
    app.conf.beat_schedule["reconcile"] = {"task": "merit.chain.reconcile", "schedule": 60.0}
    if settings.epoch_seconds:
        app.conf.beat_schedule["close-epoch"] = {
            "task": "merit.epoch.close",
            "schedule": float(settings.epoch_seconds),
            "args": [str(settings.epoch_emission_wei), settings.epoch_settle],
        }
    return app

"""The Celery application: broker, queues, routing, reliability settings and the beat schedule in
one place; the workers (``celery -A workers.main``) and the round queue (``services.broker.queue``)
are built on it."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from services.settings import RESTORE_SWEEP_S, Settings

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
    "merit.round.resume": {"queue": "consensus"},
    "merit.round.reconcile": {"queue": "consensus"},
    "merit.epoch.close": {"queue": "consensus"},
    "merit.zk.*": {"queue": "zk"},
    "merit.registry.follow": {"queue": "consensus"},
    "merit.registry.examine": {"queue": "inference"},
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
        broker_transport_options={
            "visibility_timeout": settings.task_visibility_timeout_s,
            # look for work a dead worker held every few seconds (kombu: every 10 x 10 s), so it is
            # delivered again soon after its visibility timeout
            "unacked_restore_interval": RESTORE_SWEEP_S,
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": 30,  # a sweeper killed mid-sweep blocks the others this long
        },
        worker_hijack_root_logger=False,
        task_track_started=True,
        # a step that starts the next one while redis restarts (merit up: a second or two) waits
        # for it rather than fail; a request's publish does not retry (services.broker.queue)
        task_publish_retry_policy={
            "max_retries": 30,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
    )
    # a fee escrowed after its task failed goes back to its payer within a minute
    app.conf.beat_schedule = {
        "refund-failed": {"task": "merit.chain.refund_failed", "schedule": 60.0}
    }
    # work left in a non-final state (an unfinished chain write, a due finalize) is driven on
    app.conf.beat_schedule["reconcile"] = {"task": "merit.chain.reconcile", "schedule": 60.0}
    # rounds and fee checks left without progress are driven on, or failed with the reason
    app.conf.beat_schedule["reconcile-tasks"] = {
        "task": "merit.round.reconcile",
        "schedule": float(settings.reconcile_interval_s),
    }
    # nodes registered on chain are found, admitted and examined without anyone's hand
    app.conf.beat_schedule["follow-registry"] = {
        "task": "merit.registry.follow",
        "schedule": float(settings.registry_follow_s),
    }
    if settings.epoch_seconds:
        app.conf.beat_schedule["close-epoch"] = {
            "task": "merit.epoch.close",
            "schedule": float(settings.epoch_seconds),
            "args": [str(settings.epoch_emission_wei), settings.epoch_settle],
        }
    return app

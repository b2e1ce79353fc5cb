"""Round queue adapter: publishes round work to the Celery broker (redis)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Connection
from kombu.exceptions import ChannelError, OperationalError

from services.core.errors import BrokerUnavailable
from services.core.types import TaskId

DISPATCH = "merit.round.dispatch"
GOLD = "merit.round.gold"
AWAIT_FEE = "merit.round.await_fee"
RESUME = "merit.round.resume"
ROUND_QUEUES = ("inference", "consensus")  # where a round's steps wait (celery_app.ROUTES)
_HINT = "check that redis is running at MERIT_BROKER_URL and retry"


class CeleryRoundQueue:
    def __init__(self, app: Celery, *, connect_timeout_s: float = 2.0) -> None:
        self._app = app
        self._timeout = connect_timeout_s

    def ping(self) -> None:
        try:
            with self._app.connection_for_write() as conn:
                self._connect(conn)
        except (OperationalError, OSError) as exc:
            raise BrokerUnavailable("the task broker is unreachable", hint=_HINT) from exc

    def enqueue_round(self, task_id: TaskId) -> None:
        self._send(DISPATCH, [task_id])

    def enqueue_gold(self, beside: TaskId, delay_s: float) -> None:
        self._send(GOLD, [beside], countdown=delay_s)

    def enqueue_fee_check(self, task_id: TaskId, delay_s: float) -> None:
        self._send(AWAIT_FEE, [task_id], countdown=delay_s or None)

    def enqueue_resume(self, task_id: TaskId) -> None:
        self._send(RESUME, [task_id])

    def backlog(self) -> int:
        """Messages waiting in the round queues (not counting those a worker holds)."""
        try:
            with self._app.connection_for_read() as conn:
                self._connect(conn)
                channel = conn.default_channel
                total = 0
                for queue in ROUND_QUEUES:
                    try:
                        # the transport's channel declares queues; the stubs' StdChannel omits it
                        declared = channel.queue_declare(queue=queue, passive=True)  # type: ignore[attr-defined]
                        total += int(declared.message_count)
                    except ChannelError:  # never declared: nothing waits in it
                        continue
                return total
        except (OperationalError, OSError) as exc:
            raise BrokerUnavailable("the task broker is unreachable", hint=_HINT) from exc

    def _connect(self, conn: Connection) -> None:
        # kombu takes the timeout in seconds, a float; its stubs say int
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=self._timeout)  # type: ignore[arg-type]

    def _send(self, name: str, args: list[Any], countdown: float | None = None) -> None:
        try:
            self._app.send_task(name, args=args, retry=False, countdown=countdown)
        except (OperationalError, OSError) as exc:
            raise BrokerUnavailable("the task broker is unreachable", hint=_HINT) from exc

"""The embedded broker keeps its queues across a crash: a task queued, redis killed -9 and started
again on the same data directory, and the task is still waiting in its queue."""

from __future__ import annotations

import json
import os
import signal

import redis

from services.broker.celery_app import create_celery
from services.broker.embedded import start_redis
from services.ports_free import free_port
from services.settings import Settings


def test_a_queued_task_survives_redis_killed_9(tmp_path):
    port, data, log = free_port(), tmp_path / "redis", tmp_path / "redis.log"
    server = start_redis(port, data, log)
    try:
        app = create_celery(Settings(env="test", data_dir=tmp_path, broker_url=server.url))
        sent = app.send_task("merit.round.dispatch", args=["a-task-id"])  # routed to "consensus"
        app.close()
        os.kill(server.pid, signal.SIGKILL)
        assert server.proc.wait(10) == -signal.SIGKILL
    finally:
        server.stop()

    again = start_redis(port, data, log)
    try:
        queued = redis.Redis.from_url(again.url).lrange("consensus", 0, -1)
        assert len(queued) == 1
        message = json.loads(queued[0])
        assert message["headers"]["task"] == "merit.round.dispatch"
        assert message["headers"]["id"] == sent.id
    finally:
        again.stop()


def test_a_data_directory_from_before_the_append_only_file_keeps_its_queue(tmp_path):
    port, data, log = free_port(), tmp_path / "redis", tmp_path / "redis.log"
    server = start_redis(port, data, log)
    redis.Redis.from_url(server.url).lpush("consensus", b"queued before the upgrade")
    redis.Redis.from_url(server.url).save()
    server.stop()
    (data / "appendonly.aof").unlink()  # as an embedded redis of an earlier release left it

    for _ in range(2):  # the first start loads the snapshot; a kill -9 later loses nothing
        server = start_redis(port, data, log)
        try:
            assert redis.Redis.from_url(server.url).lrange("consensus", 0, -1) == [b"queued before the upgrade"]
            assert (data / "appendonly.aof").exists()
            os.kill(server.pid, signal.SIGKILL)
            server.proc.wait(10)
        finally:
            server.stop()

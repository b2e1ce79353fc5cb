"""A Celery worker killed with SIGKILL mid-round: another worker picks the round up and finishes it
without asking a node again for work already stored, and without duplicate answers or judgments."""

from __future__ import annotations

import os
import signal

from services import devstack
from services.app import tasks
from services.broker.celery_app import create_celery
from services.broker.embedded import start_redis
from services.broker.queue import CeleryRoundQueue
from services.core.types import TaskStatus
from services.devstack import start_test_node, start_worker, wait_workers
from tests.fixtures.stack import register_test_node
from services.ports_free import free_port
from services.settings import Settings
from tests.fixtures.signing import TEST_DOMAIN, TEST_REGISTRY, key_file
from tests.fixtures.waiting import wait_for



def test_a_killed_worker_leaves_the_round_to_be_finished_by_another(store, postgres_url, tmp_path):
    redis = start_redis(free_port(), tmp_path / "redis", tmp_path / "redis.log")  # a broker of its own
    nodes = [
        start_test_node(f"slow-{i}", free_port(), offset, tmp_path / f"n{i}.log", fault="slow",  # 4 s per reply
                        signer=key_file(tmp_path, f"slow-{i}"), registry=TEST_REGISTRY)  # fmt: skip
        for i, offset in enumerate(devstack.test_node_offsets(4))
    ]
    env = {
        "MERIT_ENV": "test",
        "MERIT_DATA_DIR": str(tmp_path / "data"),
        "MERIT_DATABASE_URL": postgres_url,
        "MERIT_BROKER_URL": redis.url,
        "MERIT_NODE_TIMEOUT_S": "5",  # a slow node's 4 s reply fits; each judge call is a delivery
        "MERIT_TASK_VISIBILITY_TIMEOUT_S": "15",  # (judge budget 0 s): no step outlives this
        "MERIT_SIGNING_CHAIN_ID": str(TEST_DOMAIN.chain_id),  # the domain the test nodes sign for
        "MERIT_SIGNING_REGISTRY": TEST_REGISTRY,
    }
    workers = []
    try:
        for child in nodes:
            register_test_node(store, child.name, child.url)
        workers.append(start_worker("inference,consensus,zk,chain", "threads", 8, tmp_path / "w1.log", env))
        wait_workers(workers)
        settings = Settings(env="test", data_dir=tmp_path, database_url=postgres_url, broker_url=redis.url)
        task = tasks.submit_task(store, CeleryRoundQueue(create_celery(settings)), prompt="What is 2+2?",
                                 requester="key:test", fee_wei=0, swarm_size=4)
        wait_for(lambda: store.judgments.list_for_task(task.id), 60, "the first judgment")
        os.kill(workers[0].pid, signal.SIGKILL)  # mid-judging: some pairs judged, others in flight
        workers[0].proc.wait()
        judged_before = len(store.judgments.list_for_task(task.id))
        assert store.tasks.get(task.id).status is TaskStatus.JUDGING and judged_before < 12

        workers.append(start_worker("inference,consensus,zk,chain", "threads", 8, tmp_path / "w2.log", env))
        done = wait_for(lambda: store.tasks.get(task.id).status.finished and store.tasks.get(task.id), 90,
                        "the round to finish on the second worker")
        assert done.status is TaskStatus.DONE, done.error
        answers = store.answers.list_for_task(task.id)
        judgments = store.judgments.list_for_task(task.id)
        assert len(answers) == 4 and len(judgments) == 12
        winner = store.rounds.get(task.id).winner_id
        assert next(a.content for a in answers if a.node_id == winner) == "The answer is 4."
    finally:
        for w in workers:
            w.stop()
        for n in nodes:
            n.stop()
        redis.stop()

"""A chain worker that starts finishes the outbox's unfinished transactions on its own: the real
anvil, PostgreSQL, redis and a real Celery worker on the chain queue."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from web3 import Web3

from services.broker.embedded import start_redis
from services.chain.contracts import ChainSession
from services.chain.keys import dev_role_account
from services.chain.outbox import STEP_RECORDED, OutboxSender, PostgresSenderLock
from services.core.types import OutboxEntry, OutboxStatus
from services.devstack import start_worker, wait_workers
from services.ports_free import free_port


MRT = 10**18


class Crash(Exception):
    """The sender process dying right after it recorded the signed transaction."""


def crash_after_recording(name: str, entry: OutboxEntry) -> None:
    if name == STEP_RECORDED:
        raise Crash(name)


def test_a_chain_worker_at_start_sends_the_transaction_a_dead_sender_recorded(
    chain: Web3, deployment, deployment_records, anvil, store, postgres_url, tmp_path
):
    session = ChainSession(chain, deployment)
    settler = Account.from_key(dev_role_account("settler").private_key)  # the worker's settler key
    sender = OutboxSender(
        chain, settler, store.outbox, PostgresSenderLock(postgres_url), decoder=session.events
    )
    nonce = chain.eth.get_transaction_count(settler.address, "latest")
    with pytest.raises(Crash):
        OutboxSender(
            chain, settler, store.outbox, PostgresSenderLock(postgres_url),
            on_step=crash_after_recording,
        ).send("resume-at-start", session.token.faucet(settler.address, 7 * MRT))  # fmt: skip
    entry = store.outbox.get_by_intent("resume-at-start")
    assert entry is not None and entry.status is OutboxStatus.SENT and entry.nonce == nonce
    assert chain.eth.get_transaction_count(settler.address, "latest") == nonce  # never broadcast

    data = tmp_path / "data"
    data.mkdir()
    (data / "deployments").symlink_to(deployment_records)  # the worker finds the deployment there
    redis = start_redis(free_port(), tmp_path / "redis", tmp_path / "redis.log")  # a broker of its own
    env = {
        "MERIT_ENV": "test",
        "MERIT_DATA_DIR": str(data),
        "MERIT_DATABASE_URL": postgres_url,
        "MERIT_BROKER_URL": redis.url,
        "MERIT_CHAIN_RPC_URL": anvil.rpc_url,
    }
    worker = start_worker("chain", "solo", 1, tmp_path / "worker.log", env)
    try:
        wait_workers([worker])
        deadline = time.monotonic() + 60
        while store.outbox.get(entry.id).status is not OutboxStatus.MINED:
            assert worker.alive(), worker.log.read_text()[-3000:]
            assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        worker.stop()
        redis.stop()
    mined = store.outbox.get(entry.id)
    assert mined.nonce == nonce and mined.receipt is not None and mined.receipt["status"] == 1
    assert chain.eth.get_transaction_count(settler.address, "latest") == nonce + 1  # one transaction
    assert sender.send("resume-at-start", session.token.faucet(settler.address, 7 * MRT)).tx_hash == mined.tx_hash

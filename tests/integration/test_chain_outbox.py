"""The transaction outbox on the real anvil and the real PostgreSQL.

A retried or crashed sender finds the one transaction of its intent instead of sending a second:
after the send, after the mine, after a crash before the broadcast, with the hash lost, with the
nonce taken by someone else, and with the sender process SIGKILLed (run as a subprocess: this
module is also its entry point, ``python -m tests.integration.test_chain_outbox``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from services.chain.anvil import AnvilProcess
from services.chain.contracts import ChainSession
from services.chain.deploy import Deployment
from services.chain.events import FaucetDripped, of_type
from services.chain.outbox import (
    STEP_BROADCAST,
    STEP_RECORDED,
    OutboxSender,
    PostgresSenderLock,
)
from services.chain.reverts import ChainUnauthorized
from services.chain.tx import DirectSender, broadcast, estimate, sign
from services.core.errors import Conflict
from services.core.types import OutboxEntry, OutboxStatus
from services.store.db import PostgresStore
from tests.fixtures.chain import DEV_KEYS, REPO_ROOT

MRT = 10**18
WRITER = Account.from_key(DEV_KEYS[1])  # dev:2: the service's chain writer in these tests
RECIPIENT = Account.from_key(DEV_KEYS[2]).address


class Crash(Exception):
    """Stands in for a process dying at a step (the subprocess tests really kill it)."""


def _crash_at(step: str):
    def on_step(name: str, entry: OutboxEntry) -> None:
        if name == step:
            raise Crash(name)

    return on_step


@pytest.fixture
def session(chain: Web3, deployment: Deployment) -> ChainSession:
    return ChainSession(chain, deployment)


def _sender(session: ChainSession, store: PostgresStore, postgres_url: str, **kw) -> OutboxSender:
    return OutboxSender(
        session.w3, WRITER, store.outbox, PostgresSenderLock(postgres_url),
        decoder=session.events, **kw,
    )  # fmt: skip


def _nonce(w3: Web3, account: LocalAccount | str = WRITER) -> int:
    address = account if isinstance(account, str) else account.address
    return w3.eth.get_transaction_count(address, "latest")


def _txs_with_nonce(w3: Web3, sender: str, nonce: int, from_block: int) -> list[str]:
    """Hashes of every mined transaction of ``sender`` with ``nonce`` since ``from_block``."""
    found = []
    for number in range(from_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == sender and tx["nonce"] == nonce:
                found.append(tx["hash"].to_0x_hex())
    return found


# --- in-process retries -------------------------------------------------------------------------


def test_send_then_retry_returns_the_same_transaction(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    sender = _sender(session, store, postgres_url)
    call = session.token.faucet(RECIPIENT, 3 * MRT)
    first = sender.send("drip-1", call)
    entry = store.outbox.get_by_intent("drip-1")
    assert entry is not None and entry.status is OutboxStatus.MINED
    assert (entry.tx_hash, entry.nonce) == (first.tx_hash, first.nonce)
    assert entry.receipt is not None and entry.receipt["status"] == 1
    assert of_type(first.events, FaucetDripped)[0].amount == 3 * MRT

    nonce = _nonce(session.w3)
    again = sender.send("drip-1", call)
    assert again.tx_hash == first.tx_hash and again.events == first.events
    assert _nonce(session.w3) == nonce  # no second transaction
    with pytest.raises(Conflict):  # one key names one write
        sender.send("drip-1", session.token.faucet(RECIPIENT, 4 * MRT))


def test_retry_after_broadcast_finds_the_receipt(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    call = session.token.faucet(RECIPIENT, 5 * MRT)
    start = session.w3.eth.block_number
    with pytest.raises(Crash):
        _sender(session, store, postgres_url, on_step=_crash_at(STEP_BROADCAST)).send("d", call)
    entry = store.outbox.get_by_intent("d")
    assert entry is not None and entry.status is OutboxStatus.SENT and entry.receipt is None

    result = _sender(session, store, postgres_url).send("d", call)
    assert result.tx_hash == entry.tx_hash and result.nonce == entry.nonce
    assert _txs_with_nonce(session.w3, WRITER.address, entry.nonce, start) == [entry.tx_hash]
    assert store.outbox.get(entry.id).status is OutboxStatus.MINED


def test_retry_after_a_crash_before_broadcast_sends_the_same_nonce_once(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    call = session.token.faucet(RECIPIENT, 6 * MRT)
    start, nonce = session.w3.eth.block_number, _nonce(session.w3)
    with pytest.raises(Crash):
        _sender(session, store, postgres_url, on_step=_crash_at(STEP_RECORDED)).send("d", call)
    entry = store.outbox.get_by_intent("d")
    assert entry is not None and entry.status is OutboxStatus.SENT and entry.nonce == nonce
    assert _nonce(session.w3) == nonce  # never broadcast

    (result,) = _sender(session, store, postgres_url).resume_pending()
    assert result.nonce == nonce
    assert _txs_with_nonce(session.w3, WRITER.address, nonce, start) == [result.tx_hash]
    assert store.outbox.pending(sender=WRITER.address) == []


def test_a_copy_mined_under_another_hash_is_found_by_its_nonce(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    """The recorded hash never mined, but a re-signed copy of the intent did (same nonce)."""
    call = session.token.faucet(RECIPIENT, 7 * MRT)
    start = session.w3.eth.block_number
    with pytest.raises(Crash):
        _sender(session, store, postgres_url, on_step=_crash_at(STEP_RECORDED)).send("d", call)
    entry = store.outbox.get_by_intent("d")
    assert entry is not None and entry.nonce is not None
    est = estimate(session.w3, WRITER.address, call)
    copy = sign(
        WRITER, replace(est, gas_limit=est.gas_limit + 1), nonce=entry.nonce, chain_id=31337
    )
    assert copy.tx_hash != entry.tx_hash
    broadcast(session.w3, copy, what="copy")
    session.w3.eth.wait_for_transaction_receipt(copy.tx_hash)

    result = _sender(session, store, postgres_url).send("d", call)
    assert result.tx_hash == copy.tx_hash
    assert store.outbox.get(entry.id).tx_hash == copy.tx_hash
    assert _txs_with_nonce(session.w3, WRITER.address, entry.nonce, start) == [copy.tx_hash]
    assert session.token.balance_of(RECIPIENT) >= 7 * MRT


def test_a_nonce_taken_by_another_transaction_is_replaced(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    call = session.token.faucet(RECIPIENT, 8 * MRT)
    with pytest.raises(Crash):
        _sender(session, store, postgres_url, on_step=_crash_at(STEP_RECORDED)).send("d", call)
    entry = store.outbox.get_by_intent("d")
    assert entry is not None and entry.nonce is not None
    other = DirectSender(session.w3, WRITER).send(session.token.faucet(RECIPIENT, 1))
    assert other.nonce == entry.nonce  # someone else used it

    result = _sender(session, store, postgres_url).send("d", call)
    assert result.nonce == entry.nonce + 1
    assert of_type(result.events, FaucetDripped)[0].amount == 8 * MRT
    assert store.outbox.get(entry.id).nonce == entry.nonce + 1


def test_a_reverting_intent_is_never_signed(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    nonce = _nonce(session.w3)
    with pytest.raises(ChainUnauthorized) as caught:
        _sender(session, store, postgres_url).send(
            "mint", session.token._call("mint", RECIPIENT, 1)
        )
    assert caught.value.error_name == "AccessControlUnauthorizedAccount"
    entry = store.outbox.get_by_intent("mint")
    assert entry is not None and entry.status is OutboxStatus.PENDING and entry.nonce is None
    assert _nonce(session.w3) == nonce


def test_concurrent_senders_of_one_account_take_distinct_nonces(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    nonce = _nonce(session.w3)
    results: dict[str, object] = {}

    def send(key: str, amount: int) -> None:
        w3 = Web3(Web3.HTTPProvider(session.w3.provider.endpoint_uri))  # type: ignore[attr-defined]
        one = ChainSession(w3, session.deployment)
        store_ = PostgresStore.connect(postgres_url)
        try:
            results[key] = OutboxSender(
                w3, WRITER, store_.outbox, PostgresSenderLock(postgres_url)
            ).send(key, one.token.faucet(RECIPIENT, amount))
        except Exception as exc:  # noqa: BLE001
            results[key] = exc
        finally:
            store_.close()

    threads = [threading.Thread(target=send, args=(f"k{i}", i + 1)) for i in range(4)]
    threads += [threading.Thread(target=send, args=("k0", 1))]  # the same intent twice
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    nonces = sorted(r.nonce for r in results.values())  # type: ignore[attr-defined]
    assert nonces == list(range(nonce, nonce + 4))
    assert _nonce(session.w3) == nonce + 4


# --- killed processes --------------------------------------------------------------------------


def _run_sender(
    anvil: AnvilProcess, postgres_url: str, records: Path, mode: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_chain_outbox",
         anvil.rpc_url, postgres_url, str(records), "kill-test", mode],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sender_killed_before_the_receipt_resumes_without_a_second_transaction(
    anvil: AnvilProcess,
    session: ChainSession,
    store: PostgresStore,
    postgres_url: str,
    deployment_records: Path,
) -> None:
    w3 = session.w3
    start, nonce = w3.eth.block_number, _nonce(w3)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        proc = _run_sender(anvil, postgres_url, deployment_records, "send")

        def sent_and_pooled() -> bool:
            entry = store.outbox.get_by_intent("kill-test")
            if entry is None or entry.tx_hash is None:
                assert proc.poll() is None, proc.communicate()
                return False
            return w3.eth.get_transaction(entry.tx_hash) is not None

        _wait_for(sent_and_pooled)
        proc.send_signal(signal.SIGKILL)  # killed while it waits for the receipt
        assert proc.wait(10) == -signal.SIGKILL
        entry = store.outbox.get_by_intent("kill-test")
        assert entry is not None and entry.status is OutboxStatus.SENT and entry.nonce == nonce
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    second = _run_sender(anvil, postgres_url, deployment_records, "send")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert json.loads(out)["tx_hash"] == entry.tx_hash
    assert _nonce(w3) == nonce + 1
    assert _txs_with_nonce(w3, WRITER.address, nonce, start) == [entry.tx_hash]
    assert store.outbox.get(entry.id).status is OutboxStatus.MINED


def test_sender_killed_between_recording_and_broadcast_sends_its_nonce_once(
    anvil: AnvilProcess,
    session: ChainSession,
    store: PostgresStore,
    postgres_url: str,
    deployment_records: Path,
) -> None:
    w3 = session.w3
    start, nonce = w3.eth.block_number, _nonce(w3)
    proc = _run_sender(anvil, postgres_url, deployment_records, "die-after-recorded")
    assert proc.wait(60) == -signal.SIGKILL, proc.communicate()
    entry = store.outbox.get_by_intent("kill-test")
    assert entry is not None and entry.status is OutboxStatus.SENT and entry.nonce == nonce
    assert _nonce(w3) == nonce  # the dead process never broadcast

    second = _run_sender(anvil, postgres_url, deployment_records, "send")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    result = json.loads(out)
    assert result["nonce"] == nonce
    assert _txs_with_nonce(w3, WRITER.address, nonce, start) == [result["tx_hash"]]
    assert _nonce(w3) == nonce + 1


def main(argv: list[str]) -> None:
    """A chain writer process: send the kill test's intent through the outbox, print the result.

    ``die-after-recorded`` SIGKILLs itself right after ``mark_sent`` (before the broadcast).
    """
    rpc_url, database_url, records, intent, mode = argv
    session = ChainSession.open(rpc_url, Path(records))
    store = PostgresStore.connect(database_url)

    def on_step(name: str, entry: OutboxEntry) -> None:
        if mode == "die-after-recorded" and name == STEP_RECORDED:
            os.kill(os.getpid(), signal.SIGKILL)

    sender = OutboxSender(
        session.w3, WRITER, store.outbox, PostgresSenderLock(database_url),
        decoder=session.events, on_step=on_step,
    )  # fmt: skip
    result = sender.send(intent, session.token.faucet(RECIPIENT, 11 * MRT))
    print(json.dumps(result.as_dict()))
    store.close()


if __name__ == "__main__":
    main(sys.argv[1:])

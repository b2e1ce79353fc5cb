"""The dev chain's clock and memory, on a real anvil and the real PostgreSQL: an idle chain mines on
its own so that windows pass by its clock; a chain that came back older than what the marketplace
recorded is refused with one line that says what to do."""

from __future__ import annotations

import shutil

import pytest
from web3 import Web3

from services.chain.anvil import start_anvil
from services.chain.continuity import ChainWentBack
from services.chain.outbox import receipt_json
from services.chain.rpc import chain_time, connect
from services.devstack import Stack, check_chain
from services.ports_free import free_port
from services.settings import Settings
from tests.fixtures.waiting import wait_for

DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"



def test_an_idle_dev_chain_moves_its_clock_and_still_mines_a_transaction_at_once(tmp_path):
    anvil = start_anvil(free_port(), None, tmp_path / "anvil.log", block_time_s=1)
    try:
        w3 = connect(anvil.rpc_url)
        start_block, start_time = w3.eth.block_number, chain_time(w3)
        wait_for(lambda: w3.eth.block_number >= start_block + 2, 30, "blocks on an idle chain")
        assert chain_time(w3) > start_time  # a window measured by this clock passes with no traffic
        tx = w3.eth.send_transaction({"from": DEV0, "to": DEV1, "value": 1})
        assert w3.eth.get_transaction_receipt(tx)["status"] == 1  # mined at once, not a block later
    finally:
        anvil.stop()


def record_transfer(w3: Web3, store, key: str) -> int:
    """One transaction recorded by the outbox as mined, as the chain writer records its own."""
    tx = w3.eth.send_transaction({"from": DEV0, "to": DEV1, "value": 1})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    entry = store.outbox.enqueue(key, chain_id=31337, sender=DEV0, to_address=DEV1, data="0x", value_wei=1)
    store.outbox.mark_sent(entry.id, nonce=int(w3.eth.get_transaction(tx)["nonce"]), tx_hash=tx.to_0x_hex())
    store.outbox.mark_mined(entry.id, receipt=receipt_json(receipt), ok=True)
    return int(receipt["blockNumber"])


def test_a_chain_that_lost_a_recorded_transaction_is_refused_in_one_line(store, postgres_url, tmp_path):
    port, state, log = free_port(), tmp_path / "anvil" / "state.json", tmp_path / "anvil.log"
    stack = Stack(Settings(env="test", data_dir=tmp_path, database_url=postgres_url,
                           chain_rpc_url=f"http://127.0.0.1:{port}"))  # fmt: skip

    anvil = start_anvil(port, state, log)
    record_transfer(connect(anvil.rpc_url), store, "first")
    anvil.stop()  # saves its state
    shutil.copy(state, tmp_path / "saved-before.json")

    anvil = start_anvil(port, state, log)
    try:
        check_chain(stack)  # the chain holds everything recorded so far
        lost_block = record_transfer(connect(anvil.rpc_url), store, "second")
        check_chain(stack)
    finally:
        anvil.stop()

    shutil.copy(tmp_path / "saved-before.json", state)  # as if killed -9 before it saved "second"
    anvil = start_anvil(port, state, log)
    try:
        with pytest.raises(ChainWentBack) as refused:
            check_chain(stack)
    finally:
        anvil.stop()
    line = refused.value.one_line()
    assert len(line.splitlines()) == 1
    assert f"mined in block {lost_block}" in line and "(second)" in line
    assert "MERIT_CHAIN_RPC_URL" in line  # what to do


def test_what_the_marketplace_acted_on_survives_a_kill_9_of_the_dev_chain(store, postgres_url, tmp_path):
    """anvil keeps its chain in memory; a kill -9 loses what it had not written. The outbox saves
    the chain (services.chain.durable) before it records a receipt, so the restarted chain holds
    every transaction the database says was mined; a transaction nobody saved is gone."""
    import os
    import signal

    from services.chain.durable import ChainPersister

    port, state, log = free_port(), tmp_path / "anvil" / "state.json", tmp_path / "anvil.log"
    stack = Stack(Settings(env="test", data_dir=tmp_path, database_url=postgres_url,
                           chain_rpc_url=f"http://127.0.0.1:{port}"))  # fmt: skip
    keeper = ChainPersister(f"http://127.0.0.1:{port}", state)
    anvil = start_anvil(port, state, log, block_time_s=1, state_interval_s=None)
    try:
        w3 = connect(anvil.rpc_url)
        kept = record_transfer(w3, store, "kept")  # recorded: saved first, as the outbox does
        assert keeper.persist(kept) >= kept and keeper.persist(kept) == keeper.held()  # once
        unsaved = w3.eth.send_transaction({"from": DEV0, "to": DEV1, "value": 2})
        w3.eth.wait_for_transaction_receipt(unsaved)
    finally:
        os.kill(anvil.pid, signal.SIGKILL)
        anvil.proc.wait()
    anvil = start_anvil(port, state, log, block_time_s=1, state_interval_s=None)
    try:
        w3 = connect(anvil.rpc_url)
        check_chain(stack)  # nothing the marketplace recorded is missing
        assert w3.eth.get_transaction_receipt(store.outbox.get_by_intent("kept").tx_hash)["status"] == 1
        assert w3.eth.get_transaction_count(DEV0) == 1  # the unsaved transfer went with the kill
    finally:
        anvil.stop()


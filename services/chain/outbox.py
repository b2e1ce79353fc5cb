"""The transaction outbox: every service chain write is an intent row before it is signed.

``OutboxSender.send(intent_key, call)``:

1. ``enqueue`` stores the intent (idempotent by ``intent_key``); a mined or failed entry answers
   from its receipt, nothing is sent.
2. Under the sender's lock (one writer per chain and address: a PostgreSQL advisory lock, held by
   a connection, so a killed process releases it) the entry is resolved against the chain:
   - its recorded ``tx_hash`` has a receipt: record it, done;
   - the chain's nonce for the sender is past the entry's nonce: find the transaction that used
     the nonce; when it is this intent's (a re-signed copy whose hash was not the recorded one),
     record its receipt; when it is another transaction's, the nonce is lost and a new one is taken;
   - the recorded transaction is still waiting in the node's pool: wait for its receipt;
   - otherwise it was never broadcast (or was dropped): sign it again with the SAME nonce.
3. A fresh send estimates first (a revert raises the named error; nothing is signed), takes the
   next nonce (the chain's pending count, past every nonce the outbox holds for the sender),
   signs, records ``nonce`` and ``tx_hash`` with ``mark_sent`` BEFORE broadcasting, broadcasts,
   waits for the receipt and records it with ``mark_mined``.

On the dev chain the block of a receipt is saved to the chain's state file before the receipt is
recorded (``durable``: services.chain.durable), so a restarted anvil still holds every transaction
the outbox says was mined. So a sender killed anywhere finds, on retry, the receipt of the one
transaction that carries the intent's nonce; a second transaction for the intent can never be
mined (same nonce). The store passed in must commit each call (not a ``Store.transaction()``), so
``mark_sent`` is durable before the broadcast. The Celery ``chain`` queue runs one process; the
lock covers everything else.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import psycopg
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import TxData, TxReceipt

from services.app.ports import OutboxRepository
from services.chain.events import EventDecoder
from services.chain.rpc import RECEIPT_TIMEOUT_S, translate_chain_errors
from services.chain.tx import (
    ContractCall,
    NonceTaken,
    TxResult,
    broadcast,
    decode_call,
    estimate,
    receipt_of,
    result_of,
    sign,
    wait_receipt,
)
from services.core.errors import Conflict, StoreUnavailable
from services.core.types import OutboxEntry, OutboxStatus

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 30.0
SCAN_BLOCKS = 5_000  # how far back to look for a nonce's transaction without historical state

# crash points, for tests that kill a sender where it hurts most
STEP_RECORDED = "recorded"  # nonce and tx hash stored, nothing broadcast
STEP_BROADCAST = "broadcast"  # the node holds the transaction, no receipt yet
Step = Callable[[str, OutboxEntry], None]


class SenderLock(Protocol):
    def hold(self, chain_id: int, sender: str) -> AbstractContextManager[None]: ...


def lock_key(chain_id: int, sender: str) -> int:
    """The advisory-lock key of one sender on one chain (a signed 64-bit int)."""
    digest = keccak(text=f"meritswarm:chain-outbox:{chain_id}:{sender.lower()}")
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresSenderLock:
    """One writer per (chain, sender): ``pg_advisory_lock`` on a connection of its own."""

    def __init__(self, database_url: str, *, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self.database_url = database_url
        self.timeout_s = timeout_s

    @contextmanager
    def hold(self, chain_id: int, sender: str) -> Iterator[None]:
        key = lock_key(chain_id, sender)
        try:
            conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot take the chain sender lock: {exc}",
                hint="start the stack with `merit up`, or check MERIT_DATABASE_URL",
            ) from exc
        try:
            deadline = time.monotonic() + self.timeout_s
            while True:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row and row[0]:
                    break
                if time.monotonic() > deadline:
                    raise Conflict(
                        f"another process has been sending for {sender} on chain {chain_id} "
                        f"for over {self.timeout_s:.0f}s",
                        hint="only the chain worker sends; retry when it is done",
                    )
                time.sleep(0.05)
            yield
        finally:
            conn.close()  # a session lock ends with its connection


def receipt_json(receipt: TxReceipt | Mapping[str, Any]) -> dict[str, Any]:
    """A receipt as plain JSON (hex strings for bytes), as the outbox stores it."""
    loaded: dict[str, Any] = json.loads(Web3.to_json(receipt))  # type: ignore[arg-type]
    return loaded


_HEX_FIELDS = ("transactionHash", "blockHash", "data")


def _bytes(value: str | bytes) -> bytes:
    return bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)


def stored_receipt(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A receipt the outbox stored (``receipt_json``) with its logs as the event decoder reads
    them: hashes, topics and data as bytes again."""
    logs = [
        {
            **log,
            **{k: _bytes(log[k]) for k in _HEX_FIELDS if isinstance(log.get(k), str)},
            "topics": [_bytes(t) for t in log.get("topics", [])],
        }
        for log in stored.get("logs", [])
    ]
    return {**stored, "logs": logs}


class OutboxSender:
    """The single chain writer of one account, through the store's ``chain_outbox``."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        outbox: OutboxRepository,
        lock: SenderLock,
        *,
        decoder: EventDecoder | None = None,
        receipt_timeout: float = RECEIPT_TIMEOUT_S,
        on_step: Step | None = None,
        durable: Callable[[int], object] | None = None,
    ) -> None:
        self.w3, self.account = w3, account
        self.outbox, self.lock, self.decoder = outbox, lock, decoder
        self.receipt_timeout = receipt_timeout
        self._on_step = on_step
        self._durable = durable  # the dev chain: keep a block before recording it (chain.durable)
        with translate_chain_errors("outbox"):
            self.chain_id = int(w3.eth.chain_id)

    @property
    def address(self) -> str:
        return str(self.account.address)

    # --- public -------------------------------------------------------------------------------

    def send(self, intent_key: str, call: ContractCall) -> TxResult:
        """Send ``call`` once for ``intent_key``: a retry returns the first send's result."""
        entry = self.outbox.enqueue(
            intent_key,
            chain_id=self.chain_id,
            sender=self.address,
            to_address=call.to,
            data=call.data,
            value_wei=call.value_wei,
        )
        return self._complete(entry, call)

    def resume(self, entry: OutboxEntry) -> TxResult:
        """Finish an entry stored earlier (after a crash): its receipt, or its one transaction."""
        if entry.sender.lower() != self.address.lower() or entry.chain_id != self.chain_id:
            raise Conflict(
                f"outbox entry {entry.id} belongs to {entry.sender} on chain {entry.chain_id}",
                hint="resume it with that sender's key on that chain",
            )
        call = decode_call(entry.to_address or "", entry.data, entry.value_wei)
        return self._complete(entry, call)

    def resume_pending(self) -> list[TxResult]:
        """Finish every unfinished entry of this sender, oldest first (a worker at start)."""
        return [self.resume(e) for e in self.outbox.pending(sender=self.address)]

    # --- resolution ---------------------------------------------------------------------------

    def _complete(self, entry: OutboxEntry, call: ContractCall) -> TxResult:
        if entry.status in (OutboxStatus.MINED, OutboxStatus.FAILED):
            return self._finished(entry, call)
        with self.lock.hold(self.chain_id, self.address):
            entry = self.outbox.get(entry.id)  # another holder may have finished it
            if entry.status in (OutboxStatus.MINED, OutboxStatus.FAILED):
                return self._finished(entry, call)
            for _ in range(3):
                receipt, nonce_lost = self._find_receipt(entry)
                if receipt is not None:
                    return self._record(entry, call, receipt)
                if entry.tx_hash and not nonce_lost and self._in_pool(entry.tx_hash):
                    return self._record(entry, call, self._wait(entry.tx_hash, call))
                try:
                    return self._sign_and_send(entry, call, reuse_nonce=not nonce_lost)
                except NonceTaken:
                    entry = self.outbox.get(entry.id)  # resolve again: ours, or lost
            raise Conflict(
                f"outbox entry {entry.id}: the sender's nonces keep being taken by other "
                "transactions",
                hint="send from this account only through the outbox",
            )

    def _find_receipt(self, entry: OutboxEntry) -> tuple[TxReceipt | None, bool]:
        """(the receipt of the entry's transaction, whether its nonce went to another one)."""
        if entry.tx_hash:
            receipt = receipt_of(self.w3, entry.tx_hash)
            if receipt is not None:
                return receipt, False
        if entry.nonce is None:
            return None, False
        with translate_chain_errors("nonce"):
            mined_count = int(
                self.w3.eth.get_transaction_count(to_checksum_address(self.address), "latest")
            )
        if mined_count <= entry.nonce:
            return None, False
        tx = self._mined_with_nonce(entry.nonce)
        if tx is not None and self._carries(tx, entry):
            log.info("outbox entry %s found mined under %s", entry.id, Web3.to_hex(tx["hash"]))
            return receipt_of(self.w3, Web3.to_hex(tx["hash"])), False
        log.warning(
            "outbox entry %s: nonce %s was used by another transaction", entry.id, entry.nonce
        )
        return None, True

    def _carries(self, tx: TxData, entry: OutboxEntry) -> bool:
        return (
            str(tx.get("to") or "").lower() == (entry.to_address or "").lower()
            and Web3.to_hex(tx["input"]).lower() == entry.data.lower()
            and int(tx["value"]) == int(entry.value_wei)
        )

    def _mined_with_nonce(self, nonce: int) -> TxData | None:
        """The mined transaction of this sender with ``nonce``: the first block whose nonce count
        passes it (binary search on historical state), else a scan of recent blocks."""
        w3, me = self.w3, to_checksum_address(self.address)
        with translate_chain_errors("nonce search"):
            hi = int(w3.eth.block_number)
            try:
                lo = 0
                while lo < hi:
                    mid = (lo + hi) // 2
                    if int(w3.eth.get_transaction_count(me, mid)) > nonce:
                        hi = mid
                    else:
                        lo = mid + 1
                blocks = [hi]
            except Web3RPCError:  # no historical state: look back through recent blocks
                blocks = list(range(hi, max(-1, hi - SCAN_BLOCKS), -1))
            for number in blocks:
                for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
                    if (
                        isinstance(tx, Mapping)
                        and str(tx["from"]).lower() == me.lower()
                        and int(tx["nonce"]) == nonce
                    ):
                        return tx
        return None

    def _in_pool(self, tx_hash: str) -> bool:
        with translate_chain_errors("transaction lookup"):
            try:
                tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return False
        return tx is not None

    def _next_nonce(self, entry: OutboxEntry) -> int:
        with translate_chain_errors("nonce"):
            pending_count = int(
                self.w3.eth.get_transaction_count(to_checksum_address(self.address), "pending")
            )
        held = [
            e.nonce + 1
            for e in self.outbox.pending(sender=self.address)
            if e.nonce is not None and e.id != entry.id and e.chain_id == self.chain_id
        ]
        return max([pending_count, *held])

    # --- sending ------------------------------------------------------------------------------

    def _sign_and_send(
        self, entry: OutboxEntry, call: ContractCall, *, reuse_nonce: bool
    ) -> TxResult:
        nonce = (
            entry.nonce if (reuse_nonce and entry.nonce is not None) else self._next_nonce(entry)
        )
        est = estimate(self.w3, self.address, call)  # a revert raises: nothing signed
        signed = sign(self.account, est, nonce=nonce, chain_id=self.chain_id)
        self.outbox.mark_sent(entry.id, nonce=nonce, tx_hash=signed.tx_hash)
        entry = self.outbox.get(entry.id)
        log.info(
            "outbox tx signed",
            extra={"intent_key": entry.intent_key, "nonce": nonce, "tx_hash": signed.tx_hash},
        )
        self._step(STEP_RECORDED, entry)
        broadcast(self.w3, signed, what=call.describe())
        self._step(STEP_BROADCAST, entry)
        return self._record(entry, call, self._wait(signed.tx_hash, call))

    def _wait(self, tx_hash: str, call: ContractCall) -> TxReceipt:
        return wait_receipt(self.w3, tx_hash, what=call.describe(), timeout=self.receipt_timeout)

    def _record(self, entry: OutboxEntry, call: ContractCall, receipt: TxReceipt) -> TxResult:
        tx_hash = Web3.to_hex(receipt["transactionHash"])
        if tx_hash != entry.tx_hash:  # mined under a hash other than the one last recorded
            tx = self.w3.eth.get_transaction(tx_hash)
            self.outbox.mark_sent(entry.id, nonce=int(tx["nonce"]), tx_hash=tx_hash)
        ok = int(receipt["status"]) == 1
        if self._durable is not None:  # a chain that can lose blocks keeps this one first
            self._durable(int(receipt["blockNumber"]))
        self.outbox.mark_mined(entry.id, receipt=receipt_json(receipt), ok=ok)
        log.info(
            "outbox tx mined", extra={"intent_key": entry.intent_key, "tx_hash": tx_hash, "ok": ok}
        )
        return result_of(self.w3, call, self.address, receipt, self.decoder)

    def _finished(self, entry: OutboxEntry, call: ContractCall) -> TxResult:
        receipt = receipt_of(self.w3, entry.tx_hash) if entry.tx_hash else None
        if receipt is None:
            raise Conflict(
                f"outbox entry {entry.id} is {entry.status} in tx {entry.tx_hash}, which this "
                "chain does not know",
                hint="the chain was reset; the outbox belongs to the chain it was written for",
            )
        return result_of(self.w3, call, self.address, receipt, self.decoder)

    def _step(self, name: str, entry: OutboxEntry) -> None:
        if self._on_step is not None:
            self._on_step(name, entry)

"""Chain writes as values: a ``ContractCall`` is built, estimated, signed and sent.

A call is estimated before anything is signed, and a revert at estimation becomes the named
MeritError of ``reverts`` (nothing is sent). ``simulate`` runs a sequence of calls (approve, then
register) on top of the current state with ``eth_simulateV1`` so a plan that would fail at its
second step fails before its first is sent. ``DirectSender`` signs and sends from a local account
and waits for the receipt; the service's writer sends through the outbox (``outbox.py``) instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)
from web3.types import TxReceipt

from services.chain.compiler import ARTIFACTS
from services.chain.events import ChainEvent, EventDecoder
from services.chain.reverts import revert_error
from services.chain.rpc import (
    CHAIN_HINT,
    GAS_MARGIN_PCT,
    RECEIPT_TIMEOUT_S,
    ChainReverted,
    revert_data,
)
from services.core.errors import ChainUnavailable
from services.core.types import Wei

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContractCall:
    """One write to one contract: what a dry run prints and what the outbox stores."""

    contract: str  # "NodeRegistry"
    function: str  # "register"
    args: tuple[Any, ...]
    to: str  # checksummed address
    data: str  # 0x calldata
    value_wei: Wei = Wei(0)  # noqa: RUF009 (NewType: no call at runtime)

    def describe(self) -> str:
        shown = ", ".join(_show(a) for a in self.args)
        return f"{self.contract}.{self.function}({shown})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "call": self.describe(),
            "to": self.to,
            "data": self.data,
            "value_wei": int(self.value_wei),
        }


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value if value.startswith("0x") else repr(value)
    return str(value)


def contract_call(contract: Contract, name: str, function: str, *args: Any) -> ContractCall:
    """Encode ``function(*args)`` of ``contract`` (deployed as ``name``)."""
    return ContractCall(
        contract=name,
        function=function,
        args=tuple(args),
        to=to_checksum_address(contract.address),
        data=contract.encode_abi(function, args=list(args)),
    )


@dataclass(frozen=True)
class Fees:
    """EIP-1559 fee caps; ``expected_price`` is what a transaction pays per gas at today's base fee."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee_per_gas: int

    @property
    def expected_price(self) -> int:
        return self.base_fee_per_gas + self.max_priority_fee_per_gas


@dataclass(frozen=True)
class Estimate:
    call: ContractCall
    sender: str
    gas: int  # what the node estimates
    gas_limit: int  # what a transaction would carry: the estimate plus a margin
    fees: Fees

    @property
    def expected_cost_wei(self) -> int:
        return self.gas * self.fees.expected_price

    @property
    def max_cost_wei(self) -> int:
        return self.gas_limit * self.fees.max_fee_per_gas + int(self.call.value_wei)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.call.as_dict(),
            "from": self.sender,
            "gas": self.gas,
            "gas_limit": self.gas_limit,
            "max_fee_per_gas": self.fees.max_fee_per_gas,
            "expected_cost_wei": self.expected_cost_wei,
            "max_cost_wei": self.max_cost_wei,
        }


@dataclass(frozen=True)
class TxResult:
    """A mined transaction of a call, with the domain events it emitted."""

    call: ContractCall
    tx_hash: str
    block_number: int
    gas_used: int
    nonce: int
    events: tuple[ChainEvent, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "call": self.call.describe(),
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "gas_used": self.gas_used,
            "nonce": self.nonce,
            "events": [type(e).__name__ for e in self.events],
        }


def decode_call(to: str, data: str, value_wei: int = 0) -> ContractCall:
    """A ContractCall from stored calldata, named by the committed ABIs where one knows it."""
    selector = bytes.fromhex(data.removeprefix("0x")[:8]) if len(data) >= 10 else b""
    w3 = Web3()
    for path in sorted(ARTIFACTS.glob("*.json")):
        abi = json.loads(path.read_text(encoding="utf-8"))["abi"]
        contract = w3.eth.contract(abi=abi)
        try:
            fn, args = contract.decode_function_input(data)
        except (ValueError, Web3Exception):  # not this contract's selector
            continue
        return ContractCall(path.stem, fn.fn_name, tuple(args.values()), to, data, Wei(value_wei))
    return ContractCall(f"contract at {to}", "0x" + selector.hex(), (), to, data, Wei(value_wei))


# --- estimation -------------------------------------------------------------------------------


def _unavailable(what: str, exc: Exception) -> ChainUnavailable:
    return ChainUnavailable(f"{what}: chain stopped answering: {exc}", hint=CHAIN_HINT)


def fees(w3: Web3) -> Fees:
    """Fee caps for the next block: 2 x base fee + tip (legacy chains: the gas price)."""
    try:
        block = w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:
            price = int(w3.eth.gas_price)
            return Fees(price, 0, price)
        tip = int(w3.eth.max_priority_fee)
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise _unavailable("fee estimate", exc) from exc
    return Fees(2 * int(base) + tip, tip, int(base))


def _tx_fields(call: ContractCall, sender: str) -> dict[str, Any]:
    return {"from": sender, "to": call.to, "data": call.data, "value": int(call.value_wei)}


def estimate(w3: Web3, sender: str, call: ContractCall) -> Estimate:
    """Gas for ``call`` from ``sender``; a revert raises the named ChainReverted (nothing sent)."""
    what = call.describe()
    try:
        gas = int(w3.eth.estimate_gas(_tx_fields(call, sender)))  # type: ignore[arg-type]
    except (ContractCustomError, ContractLogicError) as exc:
        raise revert_error(revert_data(exc), function=call.function, what=what) from exc
    except Web3RPCError as exc:
        raise ChainReverted(f"{what} refused by the node: {exc}") from exc
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise _unavailable(what, exc) from exc
    return Estimate(call, sender, gas, gas * GAS_MARGIN_PCT // 100, fees(w3))


def simulate(
    w3: Web3, sender: str, calls: Sequence[ContractCall]
) -> list[Estimate] | None:
    """Run ``calls`` in order on top of the latest state (``eth_simulateV1``), sending nothing.

    Returns one estimate per call (its gas used, plus the margin); raises the named ChainReverted
    of the first call that fails; None when the node does not offer ``eth_simulateV1``.
    """
    if len(calls) == 1:
        return [estimate(w3, sender, calls[0])]
    payload = [
        {"from": sender, "to": c.to, "data": c.data, "value": hex(int(c.value_wei))} for c in calls
    ]
    try:
        reply = w3.provider.make_request(
            "eth_simulateV1",  # type: ignore[arg-type]
            [{"blockStateCalls": [{"calls": payload}], "validation": False}, "latest"],
        )
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise _unavailable("simulate", exc) from exc
    if "error" in reply or not reply.get("result"):
        log.info("eth_simulateV1 unavailable: %s", reply.get("error"))
        return None
    results = reply["result"][0]["calls"]
    quote = fees(w3)
    out = []
    for call, result in zip(calls, results, strict=True):
        if int(result["status"], 16) != 1:
            raise revert_error(
                result.get("returnData"), function=call.function, what=call.describe()
            )
        gas = int(result["gasUsed"], 16)
        out.append(Estimate(call, sender, gas, gas * GAS_MARGIN_PCT // 100, quote))
    return out


# --- signing and sending ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    tx_hash: str
    nonce: int


def sign(account: LocalAccount, estimate_: Estimate, *, nonce: int, chain_id: int) -> SignedTx:
    call = estimate_.call
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": call.to,
        "data": call.data,
        "value": int(call.value_wei),
        "gas": estimate_.gas_limit,
        "maxFeePerGas": estimate_.fees.max_fee_per_gas,
        "maxPriorityFeePerGas": estimate_.fees.max_priority_fee_per_gas,
    }
    signed = account.sign_transaction(tx)
    return SignedTx(bytes(signed.raw_transaction), Web3.to_hex(signed.hash), nonce)


class NonceTaken(ChainReverted):
    """The node refused a transaction because its nonce is already used."""


def broadcast(w3: Web3, signed: SignedTx, *, what: str) -> None:
    """Send a signed transaction; a node that already holds it is fine."""
    try:
        w3.eth.send_raw_transaction(signed.raw)
    except Web3RPCError as exc:
        message = str(exc).lower()
        if "already known" in message or "already imported" in message:
            return
        if "nonce too low" in message or "nonce has already been used" in message:
            raise NonceTaken(f"{what}: nonce {signed.nonce} is already used") from exc
        raise ChainReverted(f"{what} refused by the node: {exc}") from exc
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise _unavailable(what, exc) from exc


def receipt_of(w3: Web3, tx_hash: str) -> TxReceipt | None:
    """The receipt of a mined transaction; None while it is not mined (or unknown)."""
    try:
        return w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return None
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise _unavailable(f"receipt of {tx_hash}", exc) from exc


def wait_receipt(
    w3: Web3, tx_hash: str, *, what: str, timeout: float = RECEIPT_TIMEOUT_S
) -> TxReceipt:
    try:
        return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)  # type: ignore[arg-type]
    except TimeExhausted as exc:
        raise ChainUnavailable(
            f"{what}: no receipt for {tx_hash} within {timeout:.0f}s",
            hint="the transaction may still be mined; retry the same command to pick it up",
        ) from exc
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise _unavailable(what, exc) from exc


def replay_revert(
    w3: Web3, call: ContractCall, sender: str, block: int
) -> ChainReverted:
    """Why a mined transaction failed: the call replayed on the state it ran on."""
    what = f"{call.describe()} (mined in block {block})"
    try:
        w3.eth.call(_tx_fields(call, sender), block - 1)  # type: ignore[arg-type]
    except (ContractCustomError, ContractLogicError) as exc:
        return revert_error(revert_data(exc), function=call.function, what=what)
    except (requests.RequestException, OSError, Web3Exception):
        pass
    return ChainReverted(f"{what} reverted (out of gas, or the state changed under it)")


def result_of(
    w3: Web3,
    call: ContractCall,
    sender: str,
    receipt: TxReceipt | Mapping[str, Any],
    decoder: EventDecoder | None,
) -> TxResult:
    """A TxResult from a receipt; a failed receipt raises the replayed, named revert."""
    block = int(receipt["blockNumber"])
    if int(receipt["status"]) != 1:
        raise replay_revert(w3, call, sender, block)
    tx_hash = Web3.to_hex(receipt["transactionHash"])
    try:
        nonce = int(w3.eth.get_transaction(tx_hash)["nonce"])  # type: ignore[arg-type]
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise _unavailable(f"transaction {tx_hash}", exc) from exc
    events = tuple(decoder.decode_receipt(receipt)) if decoder else ()
    return TxResult(call, tx_hash, block, int(receipt["gasUsed"]), nonce, events)


class DirectSender:
    """Sign and send from a local account, one call at a time, waiting for each receipt.

    For a person at a terminal: a crash leaves nothing to resume, and re-running the command
    re-checks the state (a second ``register`` fails with NodeRegistryAlreadyRegistered).
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        decoder: EventDecoder | None = None,
        *,
        receipt_timeout: float = RECEIPT_TIMEOUT_S,
    ) -> None:
        self.w3, self.account, self.decoder = w3, account, decoder
        self.receipt_timeout = receipt_timeout

    @property
    def address(self) -> str:
        return str(self.account.address)

    def estimate(self, call: ContractCall) -> Estimate:
        return estimate(self.w3, self.address, call)

    def send(self, call: ContractCall) -> TxResult:
        est = self.estimate(call)  # a revert raises here: nothing is signed
        try:
            nonce = int(self.w3.eth.get_transaction_count(self.address, "pending"))
            chain_id = int(self.w3.eth.chain_id)
        except (requests.RequestException, OSError, Web3Exception) as exc:
            raise _unavailable(call.describe(), exc) from exc
        signed = sign(self.account, est, nonce=nonce, chain_id=chain_id)
        broadcast(self.w3, signed, what=call.describe())
        log.info("tx sent", extra={"call": call.describe(), "tx_hash": signed.tx_hash})
        receipt = wait_receipt(
            self.w3, signed.tx_hash, what=call.describe(), timeout=self.receipt_timeout
        )
        return result_of(self.w3, call, self.address, receipt, self.decoder)

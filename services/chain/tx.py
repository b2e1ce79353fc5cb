"""Chain writes as values: a ``ContractCall`` is built, estimated, signed and sent.

A call is estimated before anything is signed, and a revert at estimation becomes the named
MeritError of ``reverts`` (nothing is sent). ``simulate`` runs a sequence of calls (approve, then
register) on top of the current state with ``eth_simulateV1`` so a plan that would fail at its
second step fails before its first is sent. Every write is sent one of two ways behind the same
``send(call) -> TxResult``: ``DirectSender`` signs and sends from a local account and waits for the
receipt (a person at a terminal, a deployment: ``send`` for a web3 call); the service's writer
sends through the outbox (``outbox.OutboxSender``), from the same estimate, signature and
broadcast.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import TimeExhausted, TransactionNotFound, Web3Exception, Web3RPCError
from web3.types import TxReceipt

from services.chain.compiler import ARTIFACTS
from services.chain.events import ChainEvent, EventDecoder
from services.chain.reverts import ChainReverted, revert_error
from services.chain.rpc import GAS_MARGIN_PCT, RECEIPT_TIMEOUT_S, translate_chain_errors
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
    value_wei: Wei = Wei(0)

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
    """EIP-1559 fee caps; ``expected_price`` is what a transaction pays per gas at today's base
    fee."""

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


def fees(w3: Web3) -> Fees:
    """Fee caps for the next block: 2 x base fee + tip (legacy chains: the gas price)."""
    with translate_chain_errors("fee estimate"):
        block = w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:
            price = int(w3.eth.gas_price)
            return Fees(price, 0, price)
        tip = int(w3.eth.max_priority_fee)
    return Fees(2 * int(base) + tip, tip, int(base))


def _tx_fields(call: ContractCall, sender: str) -> dict[str, Any]:
    to = {"to": call.to} if call.to else {}  # no address: a deployment
    return {"from": sender, **to, "data": call.data, "value": int(call.value_wei)}


def estimate(w3: Web3, sender: str, call: ContractCall, *, what: str | None = None) -> Estimate:
    """Gas for ``call`` from ``sender``; a revert raises the named ChainReverted (nothing sent)."""
    with translate_chain_errors(what or call.describe(), function=call.function, refused=True):
        gas = int(w3.eth.estimate_gas(_tx_fields(call, sender)))  # type: ignore[arg-type]
    return Estimate(call, sender, gas, gas * GAS_MARGIN_PCT // 100, fees(w3))


def simulate(w3: Web3, sender: str, calls: Sequence[ContractCall]) -> list[Estimate] | None:
    """Run ``calls`` in order on top of the latest state (``eth_simulateV1``), sending nothing.

    Returns one estimate per call (its gas used, plus the margin); raises the named ChainReverted
    of the first call that fails; None when the node does not offer ``eth_simulateV1``.
    """
    if len(calls) == 1:
        return [estimate(w3, sender, calls[0])]
    payload = [
        {"from": sender, "to": c.to, "data": c.data, "value": hex(int(c.value_wei))} for c in calls
    ]
    with translate_chain_errors("simulate"):
        reply = w3.provider.make_request(
            "eth_simulateV1",  # type: ignore[arg-type]
            [{"blockStateCalls": [{"calls": payload}], "validation": False}, "latest"],
        )
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
        **_tx_fields(call, account.address),
        "gas": estimate_.gas_limit,
        "maxFeePerGas": estimate_.fees.max_fee_per_gas,
        "maxPriorityFeePerGas": estimate_.fees.max_priority_fee_per_gas,
    }
    del tx["from"]
    signed = account.sign_transaction(tx)
    return SignedTx(bytes(signed.raw_transaction), Web3.to_hex(signed.hash), nonce)


class NonceTaken(ChainReverted):
    """The node refused a transaction because its nonce is already used."""


def broadcast(w3: Web3, signed: SignedTx, *, what: str) -> None:
    """Send a signed transaction; a node that already holds it is fine."""
    with translate_chain_errors(what, refused=True):
        try:
            w3.eth.send_raw_transaction(signed.raw)
        except Web3RPCError as exc:
            message = str(exc).lower()
            if "already known" in message or "already imported" in message:
                return
            if "nonce too low" in message or "nonce has already been used" in message:
                raise NonceTaken(f"{what}: nonce {signed.nonce} is already used") from exc
            raise


def receipt_of(w3: Web3, tx_hash: str) -> TxReceipt | None:
    """The receipt of a mined transaction; None while it is not mined (or unknown)."""
    with translate_chain_errors(f"receipt of {tx_hash}"):
        try:
            return w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None


def wait_receipt(
    w3: Web3, tx_hash: str, *, what: str, timeout: float = RECEIPT_TIMEOUT_S
) -> TxReceipt:
    with translate_chain_errors(what):
        try:
            return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)  # type: ignore[arg-type]
        except TimeExhausted as exc:
            raise ChainUnavailable(
                f"{what}: no receipt for {tx_hash} within {timeout:.0f}s",
                hint="the transaction may still be mined; retry the same command to pick it up",
            ) from exc


def replay_revert(w3: Web3, call: ContractCall, sender: str, block: int) -> ChainReverted:
    """Why a mined transaction failed: the call replayed on the state it ran on."""
    what = f"{call.describe()} (mined in block {block})"
    try:
        with translate_chain_errors(what, function=call.function):
            w3.eth.call(_tx_fields(call, sender), block - 1)  # type: ignore[arg-type]
    except ChainReverted as named:
        return named
    except ChainUnavailable:
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
    with translate_chain_errors(f"transaction {tx_hash}"):
        nonce = int(w3.eth.get_transaction(tx_hash)["nonce"])
    events = tuple(decoder.decode_receipt(receipt)) if decoder else ()
    return TxResult(call, tx_hash, block, int(receipt["gasUsed"]), nonce, events)


class Sender(Protocol):
    """One account's chain writes: directly, or through the outbox under an intent key."""

    @property
    def address(self) -> str: ...
    def send(self, call: ContractCall) -> TxResult: ...


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
        return result_of(self.w3, call, self.address, self.mine(call), self.decoder)

    def mine(
        self, call: ContractCall, *, what: str | None = None, gas: int | None = None
    ) -> TxReceipt:
        """Send ``call`` and wait for it to be mined; the receipt. ``gas`` skips the estimate; a
        revert (estimated, or when mined) raises the named ChainReverted."""
        what = what or call.describe()
        if gas is None:
            est = estimate(self.w3, self.address, call, what=what)  # a revert raises here
        else:
            est = Estimate(call, self.address, gas, gas, fees(self.w3))
        with translate_chain_errors(what):
            nonce = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
            chain_id = int(self.w3.eth.chain_id)
        signed = sign(self.account, est, nonce=nonce, chain_id=chain_id)
        broadcast(self.w3, signed, what=what)
        log.info("tx sent", extra={"call": what, "tx_hash": signed.tx_hash})
        receipt = wait_receipt(self.w3, signed.tx_hash, what=what, timeout=self.receipt_timeout)
        if int(receipt["status"]) != 1:
            raise replay_revert(self.w3, call, self.address, int(receipt["blockNumber"]))
        return receipt


def send(
    w3: Web3,
    account: LocalAccount,
    call: ContractFunction | ContractConstructor,
    *,
    what: str,
    gas: int | None = None,
) -> TxReceipt:
    """Sign and send a web3 ``call`` (a deployment's, a test's) from ``account`` as a
    ``DirectSender`` sends every write; the mined receipt. ``gas`` replaces the estimate."""
    if isinstance(call, ContractConstructor):
        target = ContractCall("deployment", "constructor", (), "", call.data_in_transaction)
    else:
        data = call._encode_transaction_data()
        target = ContractCall("contract", call.fn_name, tuple(call.args), call.address, data)
    return DirectSender(w3, account).mine(target, what=what, gas=gas)

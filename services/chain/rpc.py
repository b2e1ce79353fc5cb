"""Web3 at the boundary: connect, bind artifacts to addresses, send signed transactions.

Foreign errors leave this module as MeritErrors: a chain that does not answer is
``ChainUnavailable``; a transaction the contracts refuse is ``ChainReverted`` carrying the decoded
custom error (name and arguments), looked up in every committed artifact's ABI.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    Web3Exception,
    Web3RPCError,
)
from web3.types import TxReceipt

from services.chain.compiler import ARTIFACTS, load_artifact
from services.core.errors import ChainUnavailable, ConfigInvalid, Conflict

log = logging.getLogger(__name__)

GAS_MARGIN_PCT = 120  # explicit gas = estimate * 1.2
RECEIPT_TIMEOUT_S = 60.0
CHAIN_HINT = "start the chain with `merit up`, or set MERIT_CHAIN_RPC_URL to a reachable RPC"


class ChainReverted(Conflict):
    """The chain refused a transaction or call; ``error_name``/``error_args`` say why."""

    code = "chain-reverted"
    title = "Transaction reverted"

    def __init__(
        self,
        detail: str,
        *,
        error_name: str | None = None,
        error_args: tuple[Any, ...] = (),
        error_fields: Mapping[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(detail, hint=hint, error_name=error_name, error_args=error_args)
        self.error_name = error_name
        self.error_args = error_args
        self.error_fields: dict[str, Any] = dict(error_fields or {})  # the args by ABI name


# --- connection -------------------------------------------------------------------------------


@contextmanager
def translate_chain_errors(what: str) -> Iterator[None]:
    """A revert becomes its named ``ChainReverted`` error and a chain that stops answering
    ``ChainUnavailable``, both saying ``what`` was being done."""
    try:
        yield
    except (ContractCustomError, ContractLogicError) as exc:
        raise reverted(exc, what) from exc
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise ChainUnavailable(f"{what}: chain stopped answering: {exc}", hint=CHAIN_HINT) from exc


def connect(rpc_url: str, *, timeout: float = 10.0) -> Web3:
    """A Web3 on ``rpc_url`` that has answered ``eth_chainId``; ChainUnavailable otherwise."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        _ = w3.eth.chain_id
    except (requests.RequestException, OSError, Web3Exception, ValueError) as exc:
        raise ChainUnavailable(
            f"no chain answers at {rpc_url} ({type(exc).__name__})", hint=CHAIN_HINT
        ) from exc
    return w3


def chain_id_of(w3: Web3) -> int:
    try:
        return int(w3.eth.chain_id)
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise ChainUnavailable(f"chain stopped answering: {exc}", hint=CHAIN_HINT) from exc


def chain_time(w3: Web3) -> int:
    """The latest block's timestamp: the clock a call is judged by (``block.timestamp``), which
    on an idle chain stands still unless the chain mines on its own."""
    try:
        return int(w3.eth.get_block("latest")["timestamp"])
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise ChainUnavailable(f"chain stopped answering: {exc}", hint=CHAIN_HINT) from exc


def has_code(w3: Web3, address: str) -> bool:
    try:
        return len(w3.eth.get_code(to_checksum_address(address))) > 0
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise ChainUnavailable(f"chain stopped answering: {exc}", hint=CHAIN_HINT) from exc


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """Contract ``name`` (from its committed artifact) bound to ``address``."""
    abi = load_artifact(name)["abi"]
    return w3.eth.contract(address=to_checksum_address(address), abi=abi)


# --- revert decoding --------------------------------------------------------------------------


@dataclass(frozen=True)
class _ErrorAbi:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...] = ()


@lru_cache(maxsize=8)
def _error_table(artifacts_dir: Path) -> Mapping[bytes, _ErrorAbi]:
    table: dict[bytes, _ErrorAbi] = {}
    for path in sorted(artifacts_dir.glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8"))["abi"]:
            if item.get("type") != "error":
                continue
            types = tuple(_abi_type(i) for i in item["inputs"])
            signature = f"{item['name']}({','.join(types)})"
            names = tuple(str(i.get("name") or f"arg{n}") for n, i in enumerate(item["inputs"]))
            table[function_signature_to_4byte_selector(signature)] = _ErrorAbi(
                item["name"], types, names
            )
    # Solidity's built-ins, for require(...) strings and panics
    table[function_signature_to_4byte_selector("Error(string)")] = _ErrorAbi(
        "Error", ("string",), ("message",)
    )
    table[function_signature_to_4byte_selector("Panic(uint256)")] = _ErrorAbi(
        "Panic", ("uint256",), ("code",)
    )
    return table


def _abi_type(item: Mapping[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + kind[len("tuple") :]
    return kind


def decode_revert(data: str | bytes | None) -> tuple[str | None, tuple[Any, ...]]:
    """The custom error name and arguments in revert ``data``; (None, ()) when unknown."""
    name, args, _ = decode_revert_fields(data)
    return name, args


def decode_revert_fields(
    data: str | bytes | None
) -> tuple[str | None, tuple[Any, ...], dict[str, Any]]:
    """Like ``decode_revert``, plus the arguments by their ABI parameter names."""
    if data is None:
        return None, (), {}
    try:
        raw = (
            bytes.fromhex(data.removeprefix("0x"))
            if isinstance(data, str)
            else data
        )
    except ValueError:
        return None, (), {}
    if len(raw) < 4:
        return None, (), {}
    entry = _error_table(ARTIFACTS).get(raw[:4])
    if entry is None:
        return None, (), {}
    try:
        values = abi_decode(list(entry.types), raw[4:])
    except Exception:  # malformed payload: name only  # noqa: BLE001
        return entry.name, (), {}
    args = tuple(_checksummed(t, v) for t, v in zip(entry.types, values, strict=True))
    return entry.name, args, dict(zip(entry.names, args, strict=True))


def revert_data(exc: Exception) -> str | None:
    """The raw revert payload a web3 exception carries, if any."""
    return _revert_data(exc)


def _checksummed(abi_type: str, value: Any) -> Any:
    """Addresses as checksummed strings, like web3 returns them from calls."""
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type == "address[]":
        return [to_checksum_address(v) for v in value]
    return value


def _revert_data(exc: Exception) -> str | None:
    data = getattr(exc, "data", None)
    if isinstance(data, str):
        return data
    if isinstance(data, dict):  # some providers nest it
        inner = data.get("data")
        return inner if isinstance(inner, str) else None
    return None


def reverted(exc: Exception, what: str) -> ChainReverted:
    """Translate a web3 revert into ChainReverted with the decoded custom error."""
    name, args = decode_revert(_revert_data(exc))
    if name == "Error" and args:
        detail = f"{what} reverted: {args[0]}"
    elif name:
        detail = f"{what} reverted with {name}{args!r}"
    else:
        detail = f"{what} reverted: {exc}"
    return ChainReverted(detail, error_name=name, error_args=args)


# --- transactions -----------------------------------------------------------------------------


def account_from_key(key: str) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_key(key)
    except (ValueError, TypeError) as exc:
        raise ConfigInvalid(
            "the deployer key is not a valid private key",
            hint="set MERIT_DEPLOYER_KEY to a 0x-prefixed 32-byte hex key",
        ) from exc
    return account


def send(
    w3: Web3,
    account: LocalAccount,
    call: ContractFunction | ContractConstructor,
    *,
    what: str,
    gas: int | None = None,
) -> TxReceipt:
    """Sign and send ``call`` from ``account`` with explicit gas; returns the mined receipt.

    Gas is the estimate plus a margin unless given. A revert (at estimation or when mined)
    raises ChainReverted; a chain that does not answer raises ChainUnavailable.
    """
    try:
        nonce = w3.eth.get_transaction_count(account.address, "pending")
        params: dict[str, Any] = {
            "from": account.address,
            "nonce": nonce,
            "chainId": w3.eth.chain_id,
        }
        if gas is None:
            gas = call.estimate_gas({"from": account.address}) * GAS_MARGIN_PCT // 100
        params["gas"] = gas
        tx = call.build_transaction(params)  # type: ignore[arg-type]
        signed = account.sign_transaction(tx)  # type: ignore[arg-type]
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    except (ContractCustomError, ContractLogicError) as exc:
        raise reverted(exc, what) from exc
    except TimeExhausted as exc:
        raise ChainUnavailable(
            f"{what}: no receipt within {RECEIPT_TIMEOUT_S:.0f}s", hint=CHAIN_HINT
        ) from exc
    except Web3RPCError as exc:
        raise ChainReverted(f"{what} refused by the node: {exc}") from exc
    except (requests.RequestException, OSError, Web3Exception) as exc:
        raise ChainUnavailable(f"{what}: chain stopped answering: {exc}", hint=CHAIN_HINT) from exc
    if receipt.get("status") != 1:
        raise ChainReverted(
            f"{what} reverted when mined (tx {receipt['transactionHash'].to_0x_hex()}, "
            f"gas used {receipt.get('gasUsed')} of {gas})"
        )
    log.info("tx mined", extra={"what": what, "tx_hash": receipt["transactionHash"].to_0x_hex()})
    return receipt


def call_view(call: ContractFunction, *, what: str) -> Any:
    """Run a view, translating reverts and connection errors."""
    with translate_chain_errors(what):
        return call.call()

"""Web3 at the boundary: connect, bind artifacts to addresses, send signed transactions.

Foreign errors leave the chain adapter as MeritErrors through ``translate_chain_errors``: a chain
that does not answer is ``ChainUnavailable``; a call the contracts refuse is the named
``ChainReverted`` of ``reverts`` (the one revert translator).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    Web3Exception,
    Web3RPCError,
)

from services.chain.compiler import load_artifact
from services.chain.reverts import ChainReverted, revert_data, revert_error
from services.core.errors import ChainUnavailable, ConfigInvalid

log = logging.getLogger(__name__)

GAS_MARGIN_PCT = 120  # explicit gas = estimate * 1.2
RECEIPT_TIMEOUT_S = 60.0
CHAIN_HINT = "start the chain with `merit up`, or set MERIT_CHAIN_RPC_URL to a reachable RPC"


# --- connection -------------------------------------------------------------------------------


@contextmanager
def translate_chain_errors(
    what: str, *, function: str = "", refused: bool = False
) -> Iterator[None]:
    """Foreign errors of the chain as MeritErrors, each saying ``what`` was being done: a revert
    of ``function`` becomes its named ``ChainReverted`` (``reverts.revert_error``), a chain that
    stops answering ``ChainUnavailable``. With ``refused`` (a send or an estimate) an RPC error is
    the node refusing the transaction, a ``ChainReverted`` too."""
    try:
        yield
    except (ContractCustomError, ContractLogicError) as exc:
        raise reverted(exc, what, function=function) from exc
    except (requests.RequestException, OSError, Web3Exception) as exc:
        if refused and isinstance(exc, Web3RPCError):
            raise ChainReverted(f"{what} refused by the node: {exc}") from exc
        raise ChainUnavailable(f"{what}: chain stopped answering: {exc}", hint=CHAIN_HINT) from exc


def reverted(exc: Exception, what: str, *, function: str = "") -> ChainReverted:
    """The named ChainReverted of the revert a web3 exception carries (``reverts.revert_error``)."""
    return revert_error(revert_data(exc), function=function, what=what)


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
    with translate_chain_errors("chain id"):
        return int(w3.eth.chain_id)


def chain_time(w3: Web3) -> int:
    """The latest block's timestamp: the clock a call is judged by (``block.timestamp``), which
    on an idle chain stands still unless the chain mines on its own."""
    with translate_chain_errors("latest block"):
        return int(w3.eth.get_block("latest")["timestamp"])


def has_code(w3: Web3, address: str) -> bool:
    with translate_chain_errors(f"code at {address}"):
        return len(w3.eth.get_code(to_checksum_address(address))) > 0


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """Contract ``name`` (from its committed artifact) bound to ``address``."""
    abi = load_artifact(name)["abi"]
    return w3.eth.contract(address=to_checksum_address(address), abi=abi)


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


def call_view(call: ContractFunction, *, what: str) -> Any:
    """Run a view, translating reverts and connection errors."""
    with translate_chain_errors(what):
        return call.call()

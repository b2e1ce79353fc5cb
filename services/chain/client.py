"""The chain adapter's public face: connect, deploy, send, decode reverts.

Entry points and other adapters import from here; the pieces live in ``rpc`` (web3 connection,
signed transactions, revert decoding) and ``deploy`` (the contract set and its records).
"""

from __future__ import annotations

from services.chain.deploy import (
    CONTRACTS,
    DEFAULT_MIN_STAKE_WEI,
    DeployedContract,
    Deployment,
    deploy_all,
    ensure_deployed,
    load_deployment,
    read_record,
)
from services.chain.reverts import ChainReverted, decode_revert
from services.chain.rpc import account_from_key, call_view, chain_id_of, connect, contract_at
from services.chain.tx import send

__all__ = [
    "CONTRACTS",
    "DEFAULT_MIN_STAKE_WEI",
    "ChainReverted",
    "DeployedContract",
    "Deployment",
    "account_from_key",
    "call_view",
    "chain_id_of",
    "connect",
    "contract_at",
    "decode_revert",
    "deploy_all",
    "ensure_deployed",
    "load_deployment",
    "read_record",
    "send",
]

"""Deploy the contract set and keep one deployment record per chain id.

The record (``<records_dir>/<chain_id>.json``) names every address, its deploy transaction and
block, the deployer and the artifacts' ``sourceHash``. ``ensure_deployed`` reuses a recorded
deployment when the code is still on chain and the artifacts have not changed; otherwise it
deploys afresh. Records of public chains live in deploy/deployments/ and are committed; the dev
chain's record (31337) lives in the data directory of `merit up`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from services.chain.compiler import load_artifact
from services.chain.rpc import (
    ChainReverted,
    account_from_key,
    chain_id_of,
    contract_at,
    has_code,
    send,
)
from services.core.errors import ConfigInvalid

log = logging.getLogger(__name__)

RECORDS_DIR = Path("deploy/deployments")
DEFAULT_MIN_STAKE_WEI = 100 * 10**18  # 100 MRT
RECORD_VERSION = 1

# deployment order; later contracts take earlier addresses in their constructors
CONTRACTS = ("MeritToken", "NodeRegistry", "TaskEscrow", "UnsetVerifier", "EpochSettlement")


@dataclass(frozen=True)
class DeployedContract:
    name: str
    address: str  # checksummed
    tx_hash: str  # 0x-prefixed
    block_number: int


@dataclass(frozen=True)
class Deployment:
    """Where the contract set lives on one chain."""

    chain_id: int
    deployer: str
    source_hash: str
    min_stake_wei: int
    contracts: dict[str, DeployedContract]

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError as exc:
            raise ConfigInvalid(
                f"deployment on chain {self.chain_id} has no {name}",
                hint="run `merit contracts deploy`",
            ) from exc

    def contract(self, w3: Web3, repo_root: Path, name: str) -> Contract:
        """``name`` bound to its deployed address."""
        return contract_at(w3, repo_root, name, self.address(name))

    @property
    def addresses(self) -> dict[str, str]:
        return {name: c.address for name, c in sorted(self.contracts.items())}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the same shape as the deployment record."""
        return self.to_record()

    def to_record(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "chainId": self.chain_id,
            "deployer": self.deployer,
            "sourceHash": self.source_hash,
            "parameters": {"minStakeWei": str(self.min_stake_wei)},
            "contracts": {
                name: {"address": c.address, "txHash": c.tx_hash, "blockNumber": c.block_number}
                for name, c in sorted(self.contracts.items())
            },
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Deployment:
        return cls(
            chain_id=int(record["chainId"]),
            deployer=str(record["deployer"]),
            source_hash=str(record["sourceHash"]),
            min_stake_wei=int(record["parameters"]["minStakeWei"]),
            contracts={
                name: DeployedContract(
                    name=name,
                    address=Web3.to_checksum_address(entry["address"]),
                    tx_hash=str(entry["txHash"]),
                    block_number=int(entry["blockNumber"]),
                )
                for name, entry in record["contracts"].items()
            },
        )


# --- records ----------------------------------------------------------------------------------


def record_path(records_dir: Path, chain_id: int) -> Path:
    return records_dir / f"{chain_id}.json"


def read_record(records_dir: Path, chain_id: int) -> Deployment | None:
    """The recorded deployment for ``chain_id``; None when there is none or it is unreadable."""
    path = record_path(records_dir, chain_id)
    try:
        return Deployment.from_record(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable deployment record %s: %s", path, exc)
        return None


def write_record(records_dir: Path, deployment: Deployment) -> Path:
    records_dir.mkdir(parents=True, exist_ok=True)
    path = record_path(records_dir, deployment.chain_id)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(deployment.to_record(), indent=2, sort_keys=True) + "\n", "utf-8")
    tmp.replace(path)
    return path


def artifacts_source_hash(repo_root: Path) -> str:
    """The sourceHash shared by the artifacts of the deployed set."""
    hashes = {load_artifact(repo_root, name)["sourceHash"] for name in CONTRACTS}
    if len(hashes) != 1:
        raise ConfigInvalid(
            "the committed artifacts come from different builds",
            hint="run `merit contracts build`",
        )
    return str(hashes.pop())


# --- deploy -----------------------------------------------------------------------------------


def _deploy_one(
    w3: Web3, account: LocalAccount, repo_root: Path, name: str, *args: Any
) -> DeployedContract:
    artifact = load_artifact(repo_root, name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = send(w3, account, factory.constructor(*args), repo_root, what=f"deploy {name}")
    address = receipt["contractAddress"]
    if address is None:
        raise ChainReverted(f"deploy {name}: the receipt names no contract address")
    log.info("deployed %s at %s", name, address)
    return DeployedContract(
        name=name,
        address=Web3.to_checksum_address(address),
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        block_number=int(receipt["blockNumber"]),
    )


def _grant(
    w3: Web3, account: LocalAccount, repo_root: Path, target: Contract, role: str, to: str
) -> None:
    role_id = getattr(target.functions, role)().call()
    send(
        w3,
        account,
        target.functions.grantRole(role_id, to),
        repo_root,
        what=f"grant {role} to {to}",
    )


def deploy_all(
    w3: Web3,
    deployer_key: str,
    repo_root: Path,
    records_dir: Path | None = None,
    *,
    min_stake_wei: int = DEFAULT_MIN_STAKE_WEI,
) -> Deployment:
    """Deploy MeritToken, NodeRegistry, TaskEscrow, UnsetVerifier and EpochSettlement, wire roles,
    and write the deployment record.

    Roles: EpochSettlement may mint MeritToken (epoch emission); the deployer holds TaskEscrow's
    OPERATOR_ROLE and EpochSettlement's SETTLER_ROLE (it is the single chain writer) and every
    contract's admin role. EpochSettlement is built on UnsetVerifier, which rejects every proof:
    nothing settles until the real verifier replaces it.
    """
    account = account_from_key(deployer_key)
    chain_id = chain_id_of(w3)
    source_hash = artifacts_source_hash(repo_root)
    me = account.address

    token = _deploy_one(w3, account, repo_root, "MeritToken", me)
    registry = _deploy_one(w3, account, repo_root, "NodeRegistry", token.address, min_stake_wei)
    escrow = _deploy_one(w3, account, repo_root, "TaskEscrow", token.address, me)
    verifier = _deploy_one(w3, account, repo_root, "UnsetVerifier")
    settlement = _deploy_one(w3, account, repo_root, "EpochSettlement", verifier.address, me)

    deployment = Deployment(
        chain_id=chain_id,
        deployer=me,
        source_hash=source_hash,
        min_stake_wei=min_stake_wei,
        contracts={c.name: c for c in (token, registry, escrow, verifier, settlement)},
    )
    for name, role, grantee in (
        ("MeritToken", "MINTER_ROLE", settlement.address),
        ("TaskEscrow", "OPERATOR_ROLE", me),
        ("EpochSettlement", "SETTLER_ROLE", me),
    ):
        _grant(w3, account, repo_root, deployment.contract(w3, repo_root, name), role, grantee)

    path = write_record(records_dir or repo_root / RECORDS_DIR, deployment)
    log.info("deployment recorded", extra={"chain_id": chain_id, "record": str(path)})
    return deployment


def load_deployment(
    w3: Web3, repo_root: Path, records_dir: Path | None = None
) -> Deployment | None:
    """The recorded deployment of this chain when it is still valid: every address holds code and
    the record's sourceHash equals the artifacts'. None otherwise."""
    chain_id = chain_id_of(w3)
    deployment = read_record(records_dir or repo_root / RECORDS_DIR, chain_id)
    if deployment is None:
        return None
    if deployment.source_hash != artifacts_source_hash(repo_root):
        log.info("deployment record %s predates the artifacts", chain_id)
        return None
    if set(deployment.contracts) != set(CONTRACTS):
        return None
    if not all(has_code(w3, c.address) for c in deployment.contracts.values()):
        log.info("deployment record %s points at addresses without code", chain_id)
        return None
    return deployment


def ensure_deployed(
    w3: Web3,
    deployer_key: str,
    repo_root: Path,
    records_dir: Path | None = None,
    *,
    min_stake_wei: int = DEFAULT_MIN_STAKE_WEI,
) -> Deployment:
    """The valid recorded deployment of this chain, or a fresh one (recorded) when there is none.

    ``records_dir`` defaults to ``<repo_root>/deploy/deployments``.
    """
    existing = load_deployment(w3, repo_root, records_dir)
    if existing is not None:
        return existing
    return deploy_all(w3, deployer_key, repo_root, records_dir, min_stake_wei=min_stake_wei)

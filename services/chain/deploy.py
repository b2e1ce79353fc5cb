"""Deploy the contract set and keep one deployment record per chain id.

The record (``<records_dir>/<chain_id>.json``) names every address, its deploy transaction and
block, the deployer, the account of each role (admin, settler, examiner, resolver, treasury), the
timelock when there is one, and the artifacts' ``sourceHash``. The deployer only deploys: it hands
every contract's admin role to the admin (in production to a MeritTimelock the admin drives) and
renounces every role it held. ``ensure_deployed`` reuses a recorded
deployment when the code is still on chain and the artifacts have not changed; otherwise it
deploys afresh. Records of public chains live in deploy/deployments/ and are committed; the dev
chain's record (31337) lives in the data directory of `merit up`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from services.chain.anvil import DEV_CHAIN_ID
from services.chain.compiler import ARTIFACTS, TEST_ARTIFACTS_DIR, load_artifact
from services.chain.keys import dev_role_account
from services.chain.reverts import ChainReverted
from services.chain.rpc import account_from_key, chain_id_of, contract_at, has_code
from services.chain.tx import send
from services.core.errors import ConfigInvalid
from services.resources import repo_root
from services.settings import PRODUCTION_MIN_DELAY_S, ROLES, Settings, role_setting

log = logging.getLogger(__name__)

RECORDS_DIR = Path("deploy/deployments")
MRT = 10**18
DEFAULT_MIN_STAKE_WEI = 100 * MRT  # 100 MRT
DAY_S = 24 * 3600
# the shortest escrow expiry production accepts: a payer may take back a fee nobody settled or
# refunded after this long, so it must outlast an epoch's close and settlement with room to spare
PRODUCTION_MIN_ESCROW_EXPIRY_S = DAY_S
RECORD_VERSION = 3  # 3: role accounts and the timelock
TIMELOCK = "MeritTimelock"  # deployed outside dev only; holds every contract's DEFAULT_ADMIN_ROLE
VERIFIER_GAS_CAP = 16_000_000

# deployment order; later contracts take earlier addresses in their constructors
CONTRACTS = (
    "RewardChunkVerifier",
    "MeritToken",
    "NodeRegistry",
    "EpochRewardsVerifier",
    "EpochSettlement",
    "TaskEscrow",
)


@dataclass(frozen=True)
class DeployParams:
    """The contracts' constructor parameters.

    ``unbonding_period_s`` must be at least ``challenge_window_s`` (EpochSettlement's constructor
    refuses otherwise), so a node cannot leave before its epoch can be challenged and slashed.
    """

    min_stake_wei: int = DEFAULT_MIN_STAKE_WEI
    unbonding_period_s: int = 7 * 24 * 3600  # 7 days
    challenge_window_s: int = 24 * 3600  # 1 day
    max_emission_per_epoch_wei: int = 10_000 * MRT
    # the most one proposal's verification may take (EpochRewardsVerifier.verificationGas): a
    # Groth16 check per 32 nodes plus the claim tree; this cap fits 1000 nodes (32 chunks)
    verifier_gas: int = VERIFIER_GAS_CAP
    # the free bond a settler locks per proposal (slashed to the challenger when a challenge is
    # upheld): of the order of what one epoch could mint, so a false epoch costs the settler more
    # than it could take; and what a challenge costs (forfeited to the treasury when rejected)
    settler_bond_wei: int = 10_000 * MRT
    challenge_bond_wei: int = 100 * MRT
    # the task fees TaskEscrow accepts (inclusive), and how long after funding a payer may take
    # back a fee still held (nobody settled or refunded it)
    min_fee_wei: int = 10**15  # 0.001 MRT
    max_fee_wei: int = 1_000 * MRT
    escrow_expiry_s: int = 7 * DAY_S

    def __post_init__(self) -> None:
        if self.min_stake_wei <= 0 or self.challenge_window_s <= 0 or self.verifier_gas <= 0:
            raise ConfigInvalid("min stake, challenge window and verifier gas must be positive")
        if self.settler_bond_wei <= 0 or self.challenge_bond_wei <= 0:
            raise ConfigInvalid("the settler bond and the challenge bond must be positive")
        if not 0 < self.min_fee_wei <= self.max_fee_wei:
            raise ConfigInvalid(
                f"the task fee range {self.min_fee_wei}..{self.max_fee_wei} wei is empty or "
                "starts at 0",
                hint="give 0 < min_fee_wei <= max_fee_wei",
            )
        if not 0 < self.escrow_expiry_s < 2**64:
            raise ConfigInvalid(f"the escrow expiry {self.escrow_expiry_s}s must be positive")
        if self.unbonding_period_s < self.challenge_window_s:
            raise ConfigInvalid(
                f"unbonding period {self.unbonding_period_s}s is shorter than the challenge "
                f"window {self.challenge_window_s}s",
                hint="a node must stay slashable until its epochs can no longer be challenged",
            )

    def to_record(self) -> dict[str, str]:
        return {
            "minStakeWei": str(self.min_stake_wei),
            "unbondingPeriodS": str(self.unbonding_period_s),
            "challengeWindowS": str(self.challenge_window_s),
            "maxEmissionPerEpochWei": str(self.max_emission_per_epoch_wei),
            "verifierGas": str(self.verifier_gas),
            "settlerBondWei": str(self.settler_bond_wei),
            "challengeBondWei": str(self.challenge_bond_wei),
            "minFeeWei": str(self.min_fee_wei),
            "maxFeeWei": str(self.max_fee_wei),
            "escrowExpiryS": str(self.escrow_expiry_s),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DeployParams:
        return cls(
            min_stake_wei=int(record["minStakeWei"]),
            unbonding_period_s=int(record["unbondingPeriodS"]),
            challenge_window_s=int(record["challengeWindowS"]),
            max_emission_per_epoch_wei=int(record["maxEmissionPerEpochWei"]),
            verifier_gas=int(record["verifierGas"]),
            settler_bond_wei=int(record.get("settlerBondWei", cls.settler_bond_wei)),
            challenge_bond_wei=int(record.get("challengeBondWei", cls.challenge_bond_wei)),
            min_fee_wei=int(record.get("minFeeWei", cls.min_fee_wei)),
            max_fee_wei=int(record.get("maxFeeWei", cls.max_fee_wei)),
            escrow_expiry_s=int(record.get("escrowExpiryS", cls.escrow_expiry_s)),
        )


# the dev chain: windows short enough for tests and `merit up` (time travel still works)
DEV_PARAMS = DeployParams(
    unbonding_period_s=120, challenge_window_s=60, settler_bond_wei=1_000 * MRT,
    challenge_bond_wei=10 * MRT, min_fee_wei=10**15, max_fee_wei=1_000 * MRT,
    escrow_expiry_s=DAY_S,
)  # fmt: skip


def default_params(chain_id: int) -> DeployParams:
    """Dev parameters on the dev chain (31337), production defaults elsewhere."""
    return DEV_PARAMS if chain_id == DEV_CHAIN_ID else DeployParams()


def refuse_dev_chain(chain_id: int, params: DeployParams | None = None) -> None:
    """Production (MERIT_ENV=production) refuses the dev chain (its faucet mints to anyone), the
    dev chain's short windows and an escrow expiry under a day. One ConfigInvalid saying what to
    set."""
    if chain_id == DEV_CHAIN_ID:
        raise ConfigInvalid(
            f"MERIT_ENV=production on the dev chain {DEV_CHAIN_ID}, "
            "whose faucet mints MRT to anyone",
            hint="set MERIT_CHAIN_RPC_URL to a production chain, or MERIT_ENV=dev for a dev stack",
        )
    if params is not None and (
        params.challenge_window_s < PRODUCTION_MIN_DELAY_S
        or params.unbonding_period_s < PRODUCTION_MIN_DELAY_S
    ):
        raise ConfigInvalid(
            f"MERIT_ENV=production with dev-sized windows (challenge {params.challenge_window_s}s, "
            f"unbonding {params.unbonding_period_s}s)",
            hint=f"deploy with a challenge window and unbonding period of at least "
            f"{PRODUCTION_MIN_DELAY_S}s (the production defaults: 1 day and 7 days)",
        )
    if params is not None and params.escrow_expiry_s < PRODUCTION_MIN_ESCROW_EXPIRY_S:
        raise ConfigInvalid(
            f"MERIT_ENV=production with an escrow expiry of {params.escrow_expiry_s}s: payers "
            "could take back fees before their epoch is settled",
            hint=f"deploy with an escrow expiry of at least {PRODUCTION_MIN_ESCROW_EXPIRY_S}s "
            "(the production default: 7 days)",
        )


@dataclass(frozen=True)
class RoleAccounts:
    """Who holds each of the marketplace's roles once the deployer is done: distinct accounts.

    ``admin`` holds every contract's DEFAULT_ADMIN_ROLE directly on the dev chain; in production
    it proposes and executes through the MeritTimelock, which holds that role instead.
    """

    admin: str
    settler: str  # proposes and finalizes epochs, slashes, refunds and settles escrowed fees
    examiner: str  # commits gold sets, attests calibrations
    resolver: str  # rules on challenges
    treasury: str  # receives slashed stake

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for role, address in asdict(self).items():
            if not Web3.is_address(address):
                raise ConfigInvalid(f"the {role} {address!r} is not an address")
            object.__setattr__(self, role, Web3.to_checksum_address(address))
            if address.lower() in seen:
                raise ConfigInvalid(
                    f"the {role} and the {seen[address.lower()]} are the same account {address}",
                    hint=f"set {role_setting(role)} to an account of its own",  # type: ignore[arg-type]
                )
            seen[address.lower()] = role

    @classmethod
    def dev(cls) -> RoleAccounts:
        """The dev chain's role accounts: anvil's dev:10 .. dev:14 (keys.DEV_ROLES)."""
        return cls(**{role: dev_role_account(role).address for role in ROLES})

    @classmethod
    def from_settings(cls, settings: Settings) -> RoleAccounts:
        """The role accounts the settings name (dev accounts 10.. in dev and test)."""
        return cls(**{role: settings.role_address(role) for role in ROLES})

    def to_record(self) -> dict[str, str]:
        return dict(asdict(self))


def timelock_delay_of(settings: Settings) -> int | None:
    """The timelock's minimum delay outside dev; None in dev and test (the admin acts directly)."""
    return None if settings.is_dev else settings.timelock_delay_s


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
    params: DeployParams
    contracts: dict[str, DeployedContract]  # CONTRACTS, and TIMELOCK when there is one
    roles: RoleAccounts | None = None  # None: built by hand (tests); every record names them
    timelock_delay_s: int | None = None  # the timelock's minimum delay; None without one

    @property
    def timelock(self) -> str | None:
        """The MeritTimelock that administers the contracts; None when the admin does directly."""
        found = self.contracts.get(TIMELOCK)
        return found.address if found else None

    @property
    def min_stake_wei(self) -> int:
        return self.params.min_stake_wei

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError as exc:
            raise ConfigInvalid(
                f"deployment on chain {self.chain_id} has no {name}",
                hint="run `merit contracts deploy`",
            ) from exc

    def contract(self, w3: Web3, name: str) -> Contract:
        """``name`` bound to its deployed address."""
        return contract_at(w3, name, self.address(name))

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
            "parameters": self.params.to_record(),
            "roles": self.roles.to_record() if self.roles else None,
            "timelock": (
                {"address": self.timelock, "minDelayS": str(self.timelock_delay_s)}
                if self.timelock
                else None
            ),
            "contracts": {
                name: {"address": c.address, "txHash": c.tx_hash, "blockNumber": c.block_number}
                for name, c in sorted(self.contracts.items())
            },
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Deployment:
        if int(record.get("version", 0)) < RECORD_VERSION:
            raise ConfigInvalid(f"deployment record version {record.get('version')} names no roles")
        timelock = record.get("timelock")
        return cls(
            chain_id=int(record["chainId"]),
            deployer=str(record["deployer"]),
            source_hash=str(record["sourceHash"]),
            params=DeployParams.from_record(record["parameters"]),
            contracts={
                name: DeployedContract(
                    name=name,
                    address=Web3.to_checksum_address(entry["address"]),
                    tx_hash=str(entry["txHash"]),
                    block_number=int(entry["blockNumber"]),
                )
                for name, entry in record["contracts"].items()
            },
            roles=RoleAccounts(**record["roles"]) if record.get("roles") else None,
            timelock_delay_s=int(timelock["minDelayS"]) if timelock else None,
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
    except (ValueError, KeyError, TypeError, ConfigInvalid) as exc:
        log.warning("ignoring unreadable deployment record %s: %s", path, exc)
        return None


def write_record(records_dir: Path, deployment: Deployment) -> Path:
    records_dir.mkdir(parents=True, exist_ok=True)
    path = record_path(records_dir, deployment.chain_id)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(deployment.to_record(), indent=2, sort_keys=True) + "\n", "utf-8")
    tmp.replace(path)
    return path


def public_records_dir() -> Path:
    """Where records of public chains live: the checkout's deploy/deployments (committed)."""
    return repo_root() / RECORDS_DIR


def artifacts_source_hash() -> str:
    """The sourceHash shared by the artifacts of the deployed set."""
    hashes = {load_artifact(name)["sourceHash"] for name in CONTRACTS}
    if len(hashes) != 1:
        raise ConfigInvalid(
            "the committed artifacts come from different builds",
            hint="run `merit contracts build`",
        )
    return str(hashes.pop())


# --- deploy -----------------------------------------------------------------------------------


def _deploy_one(
    w3: Web3,
    account: LocalAccount,
    name: str,
    *args: Any,
    artifacts_dir: Path = ARTIFACTS,
) -> DeployedContract:
    artifact = load_artifact(name, artifacts_dir)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = send(w3, account, factory.constructor(*args), what=f"deploy {name}")
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


def deploy_test_contract(w3: Web3, deployer_key: str, name: str, *args: Any) -> DeployedContract:
    """Deploy a test-only contract from the checkout's contracts/test/artifacts (tests and
    benches only)."""
    account = account_from_key(deployer_key)
    return _deploy_one(w3, account, name, *args, artifacts_dir=repo_root() / TEST_ARTIFACTS_DIR)


def _grant(w3: Web3, account: LocalAccount, target: Contract, role: str, to: str) -> None:
    role_id = getattr(target.functions, role)().call()
    send(
        w3,
        account,
        target.functions.grantRole(role_id, to),
        what=f"grant {role} to {to}",
    )


# (contract, role, grantee): "settlement" is the EpochSettlement contract; "settler", "examiner"
# and "resolver" are the RoleAccounts of those names, each its own key. The deployer keeps nothing.
ROLE_GRANTS = (
    ("MeritToken", "MINTER_ROLE", "settlement"),
    ("NodeRegistry", "REPUTATION_WRITER_ROLE", "settlement"),
    ("NodeRegistry", "SETTLER_ROLE", "settler"),  # slash
    ("NodeRegistry", "ATTESTER_ROLE", "examiner"),  # calibration attestations
    ("EpochSettlement", "SETTLER_ROLE", "settler"),
    ("EpochSettlement", "RESOLVER_ROLE", "resolver"),
    ("EpochSettlement", "EXAMINER_ROLE", "examiner"),  # gold commitments
    ("TaskEscrow", "OPERATOR_ROLE", "settler"),  # refund and settle task fees
)


def deploy_set(
    w3: Web3,
    deployer_key: str,
    verifier: str | Callable[[str], DeployedContract],
    params: DeployParams,
    roles: RoleAccounts,
    *,
    timelock_delay_s: int | None = None,
) -> dict[str, DeployedContract]:
    """Deploy MeritToken, NodeRegistry, EpochSettlement (on ``verifier``) and TaskEscrow, grant
    the roles in ROLE_GRANTS to ``roles``, hand every contract's DEFAULT_ADMIN_ROLE to the admin
    (with ``timelock_delay_s``: to a MeritTimelock with that minimum delay, whose proposer and
    executor is the admin) and renounce every role the deployer held.

    ``deploy_all`` calls this with a factory that deploys an EpochRewardsVerifier on the new
    registry (it pays only registered operators); tests and benches call it with the address of a
    test-only verifier they deployed themselves (nothing is recorded).
    """
    account = account_from_key(deployer_key)
    me = account.address
    token = _deploy_one(w3, account, "MeritToken", me)
    registry = _deploy_one(
        w3,
        account,
        "NodeRegistry",
        token.address,
        params.min_stake_wei,
        params.unbonding_period_s,
        roles.treasury,
        me,
    )
    made = None if isinstance(verifier, str) else verifier(registry.address)
    settlement = _deploy_one(
        w3,
        account,
        "EpochSettlement",
        token.address,
        registry.address,
        verifier if made is None else made.address,
        me,
        params.challenge_window_s,
        params.max_emission_per_epoch_wei,
        params.verifier_gas,
        params.settler_bond_wei,
        params.challenge_bond_wei,
    )
    escrow = _deploy_one(
        w3,
        account,
        "TaskEscrow",
        token.address,
        settlement.address,
        me,
        params.min_fee_wei,
        params.max_fee_wei,
        params.escrow_expiry_s,
    )
    deployed = {c.name: c for c in (token, registry, settlement, escrow)}
    grantees = {
        "settlement": settlement.address,
        "settler": roles.settler,
        "examiner": roles.examiner,
        "resolver": roles.resolver,
    }
    for name, role, grantee in ROLE_GRANTS:
        target = contract_at(w3, name, deployed[name].address)
        _grant(w3, account, target, role, grantees[grantee])
    admin, timelock = roles.admin, None
    if timelock_delay_s is not None:
        timelock = _deploy_one(
            w3, account, TIMELOCK, timelock_delay_s, [roles.admin], [roles.admin]
        )
        admin = timelock.address
    for c in deployed.values():
        _hand_over(w3, account, contract_at(w3, c.name, c.address), admin)
    if timelock is not None:
        deployed[TIMELOCK] = timelock
    if made is not None:
        deployed[made.name] = made
    return deployed


def _hand_over(w3: Web3, account: LocalAccount, target: Contract, admin: str) -> None:
    """Make ``admin`` the contract's admin, then renounce the deployer's admin role."""
    role_id = target.functions.DEFAULT_ADMIN_ROLE().call()
    send(w3, account, target.functions.grantRole(role_id, admin), what=f"admin to {admin}")
    send(
        w3,
        account,
        target.functions.renounceRole(role_id, account.address),
        what="deployer renounces admin",
    )


def deploy_all(
    w3: Web3,
    deployer_key: str,
    records_dir: Path | None = None,
    *,
    roles: RoleAccounts | None = None,
    timelock_delay_s: int | None = None,
    min_stake_wei: int | None = None,
    params: DeployParams | None = None,
) -> Deployment:
    """Deploy RewardChunkVerifier, EpochRewardsVerifier, MeritToken, NodeRegistry, EpochSettlement
    and TaskEscrow, wire roles, and write the deployment record.

    ``roles`` defaults to the dev role accounts (dev:10..) on the dev chain and is required
    elsewhere; with ``timelock_delay_s`` a MeritTimelock administers the contracts (production).

    ``params`` defaults to ``default_params(chain_id)`` (short windows on the dev chain);
    ``min_stake_wei`` overrides its minimum stake. Roles (ROLE_GRANTS): EpochSettlement may mint
    MeritToken (epoch emission) and write NodeRegistry reputations; the settler proposes epochs,
    slashes, settles and refunds task fees; the examiner commits gold sets and attests; the
    resolver rules on challenges; the admin (or its timelock) administers; the deployer keeps
    nothing. TaskEscrow takes fees in [min_fee_wei, max_fee_wei] and lets a payer reclaim a fee
    still held escrow_expiry_s after funding. EpochSettlement is built on EpochRewardsVerifier,
    which checks each chunk with the Groth16 verifier generated from zk/artifacts' key.
    """
    account = account_from_key(deployer_key)
    chain_id = chain_id_of(w3)
    source_hash = artifacts_source_hash()
    params = params or default_params(chain_id)
    if min_stake_wei is not None:
        params = replace(params, min_stake_wei=min_stake_wei)
    if roles is None:
        if chain_id != DEV_CHAIN_ID:
            raise ConfigInvalid(
                f"deploying on chain {chain_id} needs the role accounts",
                hint="set MERIT_ADMIN_ADDRESS, MERIT_TREASURY_ADDRESS, MERIT_SETTLER_KEY, "
                "MERIT_EXAMINER_KEY and MERIT_RESOLVER_KEY",
            )
        roles = RoleAccounts.dev()
    if account.address in roles.to_record().values():
        raise ConfigInvalid(
            f"the deployer {account.address} is also a role account",
            hint="the deployer only deploys: give every role an account of its own",
        )

    chunks = _deploy_one(w3, account, "RewardChunkVerifier")

    def verifier(registry: str) -> DeployedContract:
        return _deploy_one(w3, account, "EpochRewardsVerifier", chunks.address, registry)

    deployed = deploy_set(
        w3, deployer_key, verifier, params, roles, timelock_delay_s=timelock_delay_s
    )
    deployment = Deployment(
        chain_id=chain_id,
        deployer=account.address,
        source_hash=source_hash,
        params=params,
        contracts={chunks.name: chunks, **deployed},
        roles=roles,
        timelock_delay_s=timelock_delay_s,
    )
    path = write_record(records_dir or public_records_dir(), deployment)
    log.info("deployment recorded", extra={"chain_id": chain_id, "record": str(path)})
    return deployment


def load_deployment(w3: Web3, records_dir: Path | None = None) -> Deployment | None:
    """The recorded deployment of this chain when it is still valid: every address holds code and
    the record's sourceHash equals the artifacts'. None otherwise."""
    chain_id = chain_id_of(w3)
    deployment = read_record(records_dir or public_records_dir(), chain_id)
    if deployment is None:
        return None
    if deployment.source_hash != artifacts_source_hash():
        log.info("deployment record %s predates the artifacts", chain_id)
        return None
    if set(deployment.contracts) - {TIMELOCK} != set(CONTRACTS):
        return None
    if not all(has_code(w3, c.address) for c in deployment.contracts.values()):
        log.info("deployment record %s points at addresses without code", chain_id)
        return None
    return deployment


def ensure_deployed(
    w3: Web3,
    deployer_key: str,
    records_dir: Path | None = None,
    *,
    roles: RoleAccounts | None = None,
    timelock_delay_s: int | None = None,
    min_stake_wei: int | None = None,
    params: DeployParams | None = None,
) -> Deployment:
    """The valid recorded deployment of this chain, or a fresh one (recorded) when there is none.

    ``records_dir`` defaults to the checkout's ``deploy/deployments``. A recorded deployment is
    reused whatever parameters it was made with (the record says which).
    """
    existing = load_deployment(w3, records_dir)
    if existing is not None:
        return existing
    return deploy_all(
        w3, deployer_key, records_dir, roles=roles, timelock_delay_s=timelock_delay_s,
        min_stake_wei=min_stake_wei, params=params,
    )  # fmt: skip


def deploy_for(w3: Web3, settings: Settings, records_dir: Path | None = None) -> Deployment:
    """``ensure_deployed`` as the settings say: their deployer key and role accounts, a timelock
    outside dev; production refuses the dev chain and dev-sized windows (recorded ones too)."""
    chain_id = chain_id_of(w3)
    if not settings.is_dev:
        refuse_dev_chain(chain_id)
    deployment = ensure_deployed(
        w3,
        settings.deployer_key.get_secret_value(),
        records_dir,
        roles=RoleAccounts.from_settings(settings),
        timelock_delay_s=timelock_delay_of(settings),
    )
    if not settings.is_dev:
        refuse_dev_chain(chain_id, deployment.params)
    return deployment

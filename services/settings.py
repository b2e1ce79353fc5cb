"""Settings: one pydantic-settings class (env prefix ``MERIT_``), read through a cached getter.

Dev defaults (anvil's first account, a dev API key) are refused outside ``env=dev``/``test``.
Every role of the marketplace is its own account: the deployer only deploys; the settler, the
examiner and the resolver sign with their own keys; the admin and the treasury are addresses. In
dev and test each defaults to one of anvil's dev accounts 10.. (``services.chain.keys.DEV_ROLES``);
in production each process sets the keys of the roles it acts as.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.errors import ConfigInvalid

# anvil's well-known dev account 0 (mnemonic "test test ... junk"); never valid outside dev.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_API_KEY = "dev-requester-key"
# the shortest timelock delay and challenge window production accepts (the dev chain uses 60 s)
PRODUCTION_MIN_DELAY_S = 3600

# the broker looks for work a dead worker held this often (kombu's restore sweep, set in
# services.broker.celery_app)
RESTORE_SWEEP_S = 5
STEP_MARGIN_S = 5  # a step's last node call ends this long before its visibility timeout
STALL_MARGIN_S = 15  # a round without progress for a node call's timeout and this long is stalled

SigningRole = Literal["settler", "examiner", "resolver"]  # roles a marketplace process signs as
Role = Literal["admin", "settler", "examiner", "resolver", "treasury"]
SIGNING_ROLES: tuple[SigningRole, ...] = get_args(SigningRole)
ROLES: tuple[Role, ...] = get_args(Role)


def role_setting(role: Role) -> str:
    """The environment variable that sets ``role``: a key for a signing role, else an address."""
    return f"MERIT_{role.upper()}_{'KEY' if role in SIGNING_ROLES else 'ADDRESS'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MERIT_", env_file=None, extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    data_dir: Path = Path(".merit")

    # embedded stack ports (merit up); ignored where a URL is given
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    anvil_port: int = 8545
    postgres_port: int = 5433
    redis_port: int = 6380
    test_node_base_port: int = 8101
    test_nodes: int = Field(4, ge=0, le=16)

    database_url: str | None = None  # None: embedded PostgreSQL in data_dir
    broker_url: str | None = None  # None: embedded redis-server in data_dir
    chain_rpc_url: str | None = None  # None: embedded anvil
    # the dev chain's state file (anvil --state): before the marketplace records what it read from
    # or wrote to the chain, the chain is saved there (services.chain.durable); None: the embedded
    # anvil's file in data_dir, none for a chain of your own
    chain_state_file: Path | None = None
    content_backend: Literal["local", "ipfs"] = "local"
    ipfs_api_url: str = "/dns/127.0.0.1/tcp/5001/http"

    deployer_key: SecretStr = SecretStr(ANVIL_DEV_KEY)  # deploys the contracts, then holds no role
    # the marketplace's roles (services/chain/deploy.py ROLE_GRANTS), each its own account; None:
    # in dev/test anvil's dev account for the role (dev:10 settler .. dev:14 treasury), in
    # production "this process does not act as that role"
    settler_key: SecretStr | None = None  # proposes and finalizes epochs, slashes, settles escrow
    examiner_key: SecretStr | None = None  # commits gold sets, attests calibrations
    resolver_key: SecretStr | None = None  # rules on challenges
    admin_address: str | None = None  # every contract's admin (behind the timelock in production)
    treasury_address: str | None = None  # receives slashed stake
    timelock_delay_s: int = Field(2 * 24 * 3600, ge=0)  # production: admin actions wait this long
    api_keys: list[str] = [DEV_API_KEY]
    api_url: str | None = None  # where the CLI finds the API; None: http://api_host:api_port
    client_api_key: SecretStr | None = None  # the CLI's key; None: the first of api_keys
    max_body_bytes: int = Field(256 * 1024, ge=1024)  # a larger request body is a 413, unread
    # per API key, a token bucket (shared by every API process through the broker's redis)
    rate_limit_per_s: float = Field(20.0, gt=0)  # requests a key may make per second, sustained
    rate_limit_burst: int = Field(60, ge=1)  # requests a key may make at once

    swarm_size: int = Field(4, ge=3, le=64)
    min_answers: int = Field(3, ge=3)  # a pair needs a third node to judge it
    node_timeout_s: float = Field(30.0, gt=0)  # a node's whole reply, connect to last byte
    node_max_reply_bytes: int = Field(1 << 20, ge=1024)  # a node's reply is given up past this
    # the domain nodes sign their work under (services.core.work); unset: the chain's id and its
    # recorded NodeRegistry address, read when the first node is asked for work
    signing_chain_id: int | None = None
    signing_registry: str | None = None
    # nodes at 127.0.0.1 / ::1 (merit up's test nodes, a local `merit node serve`); no other
    # inside address is ever allowed. None: allowed in dev and test; refused in production
    node_allow_loopback: bool | None = None
    # a step whose worker died unacknowledged is delivered again after this long: longer than any
    # step (one node call of at most node_timeout_s; a judge step starts calls only while it has
    # run less than judge_budget_s, then goes on in a new delivery), so work a dead worker held
    # comes back within a minute
    task_visibility_timeout_s: int = Field(45, ge=1)
    # a task without progress (change of state, answer, judgment) this long is driven on by the
    # reconciler; None: a node call's timeout and 15 s (no healthy round waits longer for a step)
    task_stall_s: int | None = Field(None, ge=1)
    # re-drives without progress, then the task fails (refunded)
    task_redrives: int = Field(3, ge=0)
    reconcile_interval_s: int = Field(5, ge=1)  # how often beat runs the task reconciler
    # the node registry is the chain: beat follows NodeRegistry this often, this many blocks
    # behind the head (a reorganisation shallower than that never reaches the marketplace)
    registry_follow_s: float = Field(2.0, gt=0)
    registry_confirmations: int = Field(2, ge=0)
    registry_start_block: int = Field(0, ge=0)  # where a fresh marketplace starts reading
    # the examiner asks each new node this many
    calibration_questions: int = Field(40, ge=10, le=500)
    # round steps waiting in the queues above which the reconciler re-drives nothing (they may
    # only be waiting their turn)
    reconcile_max_backlog: int = Field(200, ge=0)
    default_fee_wei: int = Field(10**16, ge=0)  # a task's fee when its payer sends none
    free_tasks: bool = True  # take tasks without a fee (nothing of theirs is pooled)
    fee_wait_s: int = Field(600, ge=1)  # how long a task waits for its payer to escrow the fee
    epoch_seconds: int = Field(0, ge=0)  # beat closes the open epoch this often; 0: only by hand
    epoch_emission_wei: int = Field(0, ge=0)  # minted into each epoch's pool on top of the fees
    # about 1 requester task in N brings a hidden gold task; 0: none
    gold_every: int = Field(10, ge=0)
    # hex, >= 16 bytes: the secret gold and calibration questions are drawn from; None in dev/test:
    # made once at random in data_dir/gold.secret; required in production
    gold_secret: SecretStr | None = None
    # a gold task comes up to this long after its requester task
    gold_delay_s: float = Field(30.0, ge=0)
    epoch_settle: bool = True  # a closed epoch is proved, proposed and finalized on chain

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> Settings:
        if self.env == "production":
            if self.deployer_key.get_secret_value() == ANVIL_DEV_KEY:
                raise ConfigInvalid(
                    "MERIT_DEPLOYER_KEY is anvil's public dev key",
                    hint="set MERIT_DEPLOYER_KEY to a private key of your own",
                )
            self._refuse_shared_or_dev_role_accounts()
            if self.timelock_delay_s < PRODUCTION_MIN_DELAY_S:
                raise ConfigInvalid(
                    f"MERIT_TIMELOCK_DELAY_S={self.timelock_delay_s} lets the admin act at once",
                    hint=f"set MERIT_TIMELOCK_DELAY_S to at least {PRODUCTION_MIN_DELAY_S} "
                    "(the default is 2 days)",
                )
            if self.gold_secret is None:
                raise ConfigInvalid(
                    "MERIT_GOLD_SECRET is not set",
                    hint="set it to at least 16 random bytes in hex, e.g. "
                    "`python -c 'import secrets; print(secrets.token_hex(32))'`, "
                    "and keep it out of the repository and logs",
                )
            if self.node_allow_loopback:
                raise ConfigInvalid(
                    "MERIT_NODE_ALLOW_LOOPBACK lets nodes point the workers at their own host",
                    hint="unset MERIT_NODE_ALLOW_LOOPBACK: "
                    "production nodes serve at public addresses",
                )
            if DEV_API_KEY in self.api_keys:
                raise ConfigInvalid(
                    "MERIT_API_KEYS contains the public dev key",
                    hint='set MERIT_API_KEYS to a JSON list of your own keys, e.g. ["..."]',
                )
        return self

    def _refuse_shared_or_dev_role_accounts(self) -> None:
        """Production: no role account is one of anvil's public dev accounts, and no two roles
        (nor the deployer) share an account."""
        from services.chain.keys import dev_accounts

        dev = {a.address.lower(): a.name for a in dev_accounts()}
        held: dict[str, str] = {}  # address -> the setting that names it
        named = [
            ("MERIT_DEPLOYER_KEY", self._address_of_key("MERIT_DEPLOYER_KEY", self.deployer_key))
        ]
        for role in ROLES:
            address = self._configured_address(role)
            if address is not None:
                named.append((role_setting(role), address))
        for setting, address in named:
            if address.lower() in dev:
                raise ConfigInvalid(
                    f"{setting} is anvil's public dev account {dev[address.lower()]}",
                    hint=f"set {setting} to an account of your own",
                )
            if address.lower() in held:
                raise ConfigInvalid(
                    f"{setting} and {held[address.lower()]} name the same account {address}",
                    hint=f"set {setting} to an account of its own: every role is its own key",
                )
            held[address.lower()] = setting

    @staticmethod
    def _address_of_key(setting: str, key: SecretStr) -> str:
        from eth_account import Account

        try:
            return str(Account.from_key(key.get_secret_value().strip()).address)
        except (ValueError, TypeError) as exc:
            raise ConfigInvalid(
                f"{setting} is not a private key",
                hint=f"set {setting} to 32 bytes as 0x-prefixed hex",
            ) from exc

    def _configured_address(self, role: Role) -> str | None:
        """The address the settings name for ``role``; None when unset (no dev default)."""
        if role in SIGNING_ROLES:
            key: SecretStr | None = getattr(self, f"{role}_key")
            return None if key is None else self._address_of_key(role_setting(role), key)
        address: str | None = getattr(self, f"{role}_address")
        if address is None:
            return None
        from eth_utils.address import is_address, to_checksum_address

        if not is_address(address):
            raise ConfigInvalid(
                f"{role_setting(role)}={address!r} is not an address",
                hint=f"set {role_setting(role)} to a 0x-prefixed 20-byte address",
            )
        return str(to_checksum_address(address))

    # roles ---------------------------------------------------------------------------------
    @property
    def is_dev(self) -> bool:
        return self.env != "production"

    def role_key(self, role: SigningRole) -> str:
        """The private key this process signs with as ``role``: its setting, or in dev/test the
        role's dev account. ConfigInvalid naming the setting when this process has none."""
        key: SecretStr | None = getattr(self, f"{role}_key")
        if key is not None:
            return key.get_secret_value().strip()
        if self.is_dev:
            from services.chain.keys import dev_role_account

            return dev_role_account(role).private_key
        raise ConfigInvalid(
            f"{role_setting(role)} is not set: this process cannot act as the {role}",
            hint=f"set {role_setting(role)} to the {role}'s private key (its own account)",
        )

    @property
    def nodes_on_loopback(self) -> bool:
        """Whether node endpoints at 127.0.0.1 / ::1 are called (dev and test by default)."""
        return self.is_dev if self.node_allow_loopback is None else self.node_allow_loopback

    def has_role_key(self, role: SigningRole) -> bool:
        return self.is_dev or getattr(self, f"{role}_key") is not None

    def role_address(self, role: Role) -> str:
        """The account that holds ``role``: from its setting, or in dev/test the role's dev
        account. ConfigInvalid naming the setting when production leaves it unset."""
        address = self._configured_address(role)
        if address is not None:
            return address
        if self.is_dev:
            from services.chain.keys import dev_role_account

            return dev_role_account(role).address
        raise ConfigInvalid(
            f"{role_setting(role)} is not set: the contracts need a {role} of their own",
            hint=f"set {role_setting(role)} to the {role}'s "
            + ("private key" if role in SIGNING_ROLES else "address"),
        )

    # recovery ------------------------------------------------------------------------------
    @property
    def effective_task_stall_s(self) -> int:
        return self.task_stall_s or math.ceil(self.node_timeout_s) + STALL_MARGIN_S

    @property
    def judge_budget_s(self) -> float:
        """How long a judge step may go on starting node calls: its last call (at most
        ``node_timeout_s``) ends by the visibility timeout less the broker's restore sweep and a
        margin, so a running step is never delivered a second time."""
        return max(
            0.0,
            self.task_visibility_timeout_s - RESTORE_SWEEP_S - STEP_MARGIN_S - self.node_timeout_s,
        )

    # derived locations -------------------------------------------------------------------
    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def dev_records_dir(self) -> Path:
        """Where the dev chain's deployment record lives (records of public chains: deploy/)."""
        return self.resolved_data_dir / "deployments"

    @property
    def effective_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def effective_client_api_key(self) -> str:
        if self.client_api_key is not None:
            return self.client_api_key.get_secret_value()
        return self.api_keys[0] if self.api_keys else ""

    @property
    def effective_database_url(self) -> str:
        return self.database_url or (f"postgresql://merit@127.0.0.1:{self.postgres_port}/merit")

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def effective_chain_rpc_url(self) -> str:
        return self.chain_rpc_url or f"http://127.0.0.1:{self.anvil_port}"

    @property
    def effective_chain_state_file(self) -> Path | None:
        if self.chain_state_file is not None:
            return self.chain_state_file.expanduser().resolve()
        return (
            self.resolved_data_dir / "anvil" / "state.json" if self.chain_rpc_url is None else None
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

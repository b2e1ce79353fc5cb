"""Settings: one pydantic-settings class (env prefix ``MERIT_``), read through a cached getter.

Dev defaults (anvil's first account, a dev API key) are refused outside ``env=dev``/``test``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.errors import ConfigInvalid

# anvil's well-known dev account 0 (mnemonic "test test ... junk"); never valid outside dev.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_API_KEY = "dev-requester-key"


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
    content_backend: Literal["local", "ipfs"] = "local"
    ipfs_api_url: str = "/dns/127.0.0.1/tcp/5001/http"

    deployer_key: SecretStr = SecretStr(ANVIL_DEV_KEY)
    api_keys: list[str] = [DEV_API_KEY]
    api_url: str | None = None  # where the CLI finds the API; None: http://api_host:api_port
    client_api_key: SecretStr | None = None  # the CLI's key; None: the first of api_keys

    swarm_size: int = Field(4, ge=3, le=64)
    min_answers: int = Field(3, ge=3)  # a pair needs a third node to judge it
    node_timeout_s: float = Field(30.0, gt=0)
    # a task whose worker died unacknowledged is delivered again after this long (longer than any task)
    task_visibility_timeout_s: int = Field(900, ge=1)
    default_fee_wei: int = Field(10**16, ge=0)
    epoch_seconds: int = Field(0, ge=0)  # beat closes the open epoch this often; 0: only by hand
    epoch_emission_wei: int = Field(0, ge=0)  # minted into each epoch's pool on top of the fees
    gold_every: int = Field(10, ge=0)  # about 1 requester task in N brings a hidden gold task; 0: none
    # hex, >= 16 bytes: the secret gold and calibration questions are drawn from; None in dev/test:
    # made once at random in data_dir/gold.secret; required in production
    gold_secret: SecretStr | None = None
    gold_delay_s: float = Field(30.0, ge=0)  # a gold task comes up to this long after its requester task
    epoch_settle: bool = True  # a closed epoch is proved, proposed and finalized on chain

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> Settings:
        if self.env == "production":
            if self.deployer_key.get_secret_value() == ANVIL_DEV_KEY:
                raise ConfigInvalid(
                    "MERIT_DEPLOYER_KEY is anvil's public dev key",
                    hint="set MERIT_DEPLOYER_KEY to a private key of your own",
                )
            if self.gold_secret is None:
                raise ConfigInvalid(
                    "MERIT_GOLD_SECRET is not set",
                    hint="set it to at least 16 random bytes in hex, e.g. `python -c 'import secrets; "
                    "print(secrets.token_hex(32))'`, and keep it out of the repository and logs",
                )
            if DEV_API_KEY in self.api_keys:
                raise ConfigInvalid(
                    "MERIT_API_KEYS contains the public dev key",
                    hint='set MERIT_API_KEYS to a JSON list of your own keys, e.g. ["..."]',
                )
        return self

    # derived locations -------------------------------------------------------------------
    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

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
        return self.database_url or (
            f"postgresql://merit@127.0.0.1:{self.postgres_port}/merit"
        )

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def effective_chain_rpc_url(self) -> str:
        return self.chain_rpc_url or f"http://127.0.0.1:{self.anvil_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

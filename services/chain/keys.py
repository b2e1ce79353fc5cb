"""Signing keys: encrypted keystores in the data directory, and anvil's dev accounts by name.

A keystore is the standard encrypted JSON (``Account.encrypt``, scrypt) in
``<data_dir>/keystore/<name>.json``, readable by its owner only. The password comes from the
caller (a prompt, or ``MERIT_KEYSTORE_PASSWORD`` at the CLI edge); it is never stored or logged.
On the dev chain (31337) ``dev:N`` names anvil's well-known account N (mnemonic
"test test ... junk"); those keys are public, so they are refused on every other chain.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from services.chain.anvil import DEV_ACCOUNT_COUNT, DEV_CHAIN_ID
from services.core.errors import Conflict, Invalid, NotFound, Unauthorized

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = DEV_ACCOUNT_COUNT  # anvil's --accounts in `merit up`, the tests and compose
# the marketplace's role accounts on the dev chain, above every node and requester (dev:0..dev:9)
DEV_ROLES = {"settler": 10, "examiner": 11, "resolver": 12, "admin": 13, "treasury": 14}
DEV_PREFIX = "dev:"
DEV_REQUESTER = "dev:9"  # pays task fees on the dev chain (`merit up` funds it)
KEYSTORE_DIR = "keystore"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class DevAccount:
    index: int
    address: str
    private_key: str  # public knowledge: anvil prints it at start

    @property
    def name(self) -> str:
        return f"{DEV_PREFIX}{self.index}"


@cache
def _derive(index: int) -> DevAccount:
    Account.enable_unaudited_hdwallet_features()
    acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return DevAccount(index, acct.address, acct.key.to_0x_hex())


def dev_accounts(count: int = DEV_ACCOUNTS) -> tuple[DevAccount, ...]:
    """anvil's dev accounts 0..count-1 (account 0 deploys the contracts in `merit up`; 10.. hold
    the marketplace's roles, DEV_ROLES)."""
    return tuple(_derive(i) for i in range(count))


def dev_account(name: str) -> DevAccount:
    """``dev:N`` -> anvil's account N; Invalid for anything else."""
    index = name.removeprefix(DEV_PREFIX)
    if not index.isdigit() or int(index) >= DEV_ACCOUNTS:
        raise Invalid(
            f"{name!r} is not a dev account",
            hint=f"dev accounts are dev:0 .. dev:{DEV_ACCOUNTS - 1} (dev:0 deploys the contracts)",
        )
    return _derive(int(index))


def dev_role_account(role: str) -> DevAccount:
    """The dev account that holds ``role`` (a DEV_ROLES name) on the dev chain."""
    return _derive(DEV_ROLES[role])


@dataclass(frozen=True)
class KeyInfo:
    name: str
    address: str
    path: Path


class Keystore:
    """Encrypted key files under one directory (``<data_dir>/keystore``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Keystore:
        return cls(data_dir / KEYSTORE_DIR)

    def _path(self, name: str) -> Path:
        if not _NAME.match(name) or name.startswith(DEV_PREFIX):
            raise Invalid(
                f"{name!r} is not a key name",
                hint="use letters, digits, '.', '_' or '-' (up to 64), "
                "starting with a letter or digit",
            )
        return self.directory / f"{name}.json"

    def new(self, name: str, password: str) -> KeyInfo:
        """Create a fresh random key, stored encrypted under ``name``."""
        return self._store(name, Account.create(), password)

    def import_key(self, name: str, private_key: str, password: str) -> KeyInfo:
        try:
            account = Account.from_key(private_key.strip())
        except (ValueError, TypeError) as exc:
            raise Invalid(
                "that is not a private key", hint="give 32 bytes as 0x-prefixed hex"
            ) from exc
        return self._store(name, account, password)

    def _store(self, name: str, account: LocalAccount, password: str) -> KeyInfo:
        path = self._path(name)
        if not password:
            raise Invalid("the keystore password is empty", hint="choose a password")
        if path.exists():
            raise Conflict(f"a key named {name!r} already exists", hint="choose another name")
        for other in self.list():
            if other.address == account.address:
                raise Conflict(
                    f"{account.address} is already stored as {other.name!r}",
                    hint=f"use `--account {other.name}`",
                )
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        blob = Account.encrypt(account.key, password)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(blob, handle)
        tmp.replace(path)
        return KeyInfo(name, account.address, path)

    def list(self) -> list[KeyInfo]:
        """Stored keys by name (the addresses come from the files; nothing is decrypted)."""
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                address = to_checksum_address("0x" + json.loads(path.read_text())["address"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            out.append(KeyInfo(path.stem, address, path))
        return out

    def find(self, name_or_address: str) -> KeyInfo:
        for info in self.list():
            if name_or_address in (info.name, info.address) or (
                name_or_address.lower() == info.address.lower()
            ):
                return info
        raise NotFound(
            f"no key named {name_or_address!r} in {self.directory}",
            hint="see `merit key list`, or create one with `merit key new NAME`",
        )

    def load(self, name_or_address: str, password: str) -> LocalAccount:
        info = self.find(name_or_address)
        try:
            key = Account.decrypt(json.loads(info.path.read_text()), password)
        except ValueError as exc:
            raise Unauthorized(
                f"wrong password for key {info.name!r}",
                hint="give the keystore password (prompt, or MERIT_KEYSTORE_PASSWORD)",
            ) from exc
        account: LocalAccount = Account.from_key(key)
        return account


def resolve_account(
    spec: str, *, chain_id: int, keystore: Keystore, password: Callable[[], str]
) -> LocalAccount:
    """The signing account ``spec`` names: ``dev:N`` (chain 31337 only) or a stored key's name or
    address. ``password`` is asked only when a keystore has to be decrypted."""
    if spec.startswith(DEV_PREFIX):
        if chain_id != DEV_CHAIN_ID:
            raise Invalid(
                f"{spec} is one of anvil's public dev accounts, refused on chain {chain_id}",
                hint="use a key of your own: `merit key import NAME` or `merit key new NAME`",
            )
        dev: LocalAccount = Account.from_key(dev_account(spec).private_key)
        return dev
    return keystore.load(spec, password())

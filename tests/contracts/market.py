"""Helpers for the contract tests: accounts, faucet, registration, time travel, settlement."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxReceipt

from services.chain.client import ChainReverted, send
from services.core.merkle import (
    Reward,
    RewardTree,
    hash_verifier_proof,
    reputation_words,
)
from services.chain.keys import dev_role_account
from services.settings import ANVIL_DEV_KEY
from tests.fixtures.chain import Market

MRT = 10**18
DEPLOYER: LocalAccount = Account.from_key(ANVIL_DEV_KEY)  # deploys, then holds no role
# the marketplace's role accounts on the dev chain (anvil's dev:10 .. dev:14), each its own key
SETTLER: LocalAccount = Account.from_key(dev_role_account("settler").private_key)
EXAMINER: LocalAccount = Account.from_key(dev_role_account("examiner").private_key)
RESOLVER: LocalAccount = Account.from_key(dev_role_account("resolver").private_key)
ADMIN: LocalAccount = Account.from_key(dev_role_account("admin").private_key)
TREASURY: LocalAccount = Account.from_key(dev_role_account("treasury").private_key)
MODEL_HASH = Web3.keccak(text="tinyllama-1.1b-chat-q4")
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
EVIDENCE = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


def operator(i: int) -> LocalAccount:
    """A deterministic test account (not one of anvil's prefunded ones)."""
    return Account.from_key(Web3.keccak(text=f"meritswarm test operator {i}"))


def give_eth(w3: Web3, address: str) -> None:
    w3.provider.make_request("anvil_setBalance", [address, hex(10**20)])  # type: ignore[arg-type]


def now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def travel(w3: Web3, seconds: int) -> None:
    """Move the chain's clock forward and mine a block (anvil's evm_increaseTime)."""
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@contextmanager
def snapshot(w3: Web3) -> Iterator[None]:
    """Revert whatever the block does (for hypothesis examples inside one test)."""
    snap = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield
    finally:
        reply = w3.provider.make_request("evm_revert", [snap])  # type: ignore[arg-type]
        assert reply.get("result") is True, reply


@contextmanager
def reverts(error_name: str, *args: Any) -> Iterator[pytest.ExceptionInfo[ChainReverted]]:
    """The block must revert with custom error ``error_name`` (and ``args`` when given)."""
    with pytest.raises(ChainReverted) as caught:
        yield caught
    assert caught.value.error_name == error_name, caught.value.detail
    if args:
        assert caught.value.error_args == args, caught.value.detail


def tx(w3: Web3, account: LocalAccount, call: Any, what: str = "tx") -> TxReceipt:
    return send(w3, account, call, what=what)


def events(contract: Any, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    return [
        dict(e["args"])
        for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    ]


class Contracts:
    """The market's contracts bound to one Web3."""

    def __init__(self, w3: Web3, market: Market) -> None:
        self.w3 = w3
        self.market = market
        self.token = market.contract(w3, "MeritToken")
        self.registry = market.contract(w3, "NodeRegistry")
        self.settlement = market.contract(w3, "EpochSettlement")
        self.escrow = market.contract(w3, "TaskEscrow")

    def balance(self, address: str) -> int:
        return int(self.token.functions.balanceOf(address).call())

    def faucet(self, account: LocalAccount, amount: int, spender: str | None = None) -> None:
        give_eth(self.w3, account.address)
        tx(self.w3, account, self.token.functions.faucet(account.address, amount), "faucet")
        if spender is not None:
            tx(self.w3, account, self.token.functions.approve(spender, amount), "approve")

    def register(self, account: LocalAccount, amount: int | None = None, cid: str = CID) -> int:
        amount = amount or self.market.params.min_stake_wei
        self.faucet(account, amount, self.registry.address)
        tx(
            self.w3,
            account,
            self.registry.functions.register(MODEL_HASH, cid, amount),
            "register",
        )
        return int(self.registry.functions.nodeIdOf(account.address).call())

    def fund_epoch(self, epoch: int, amount: int) -> None:
        self.faucet(DEPLOYER, amount, self.settlement.address)
        tx(self.w3, DEPLOYER, self.settlement.functions.fund(epoch, amount), "fund")

    def proof_for(self, epoch: int, root: bytes, total: int) -> bytes:
        return hash_verifier_proof(self.market.verifier_key, epoch, root, total)

    def propose(
        self,
        epoch: int,
        tree: RewardTree,
        total: int,
        reputations: Mapping[int, int] | None = None,
        *,
        proof: bytes | None = None,
        account: LocalAccount = SETTLER,
    ) -> TxReceipt:
        first, words = reputation_words(reputations or {})
        proof = self.proof_for(epoch, tree.root, total) if proof is None else proof
        call = self.settlement.functions.propose(epoch, tree.root, total, CID, first, words, proof)
        return tx(self.w3, account, call, f"propose {epoch}")

    def finalize(self, epoch: int, reputations: Mapping[int, int] | None = None) -> TxReceipt:
        first, words = reputation_words(reputations or {})
        call = self.settlement.functions.finalize(epoch, first, words)
        return tx(self.w3, SETTLER, call, f"finalize {epoch}")

    def settle(
        self,
        epoch: int,
        tree: RewardTree,
        total: int,
        reputations: Mapping[int, int] | None = None,
    ) -> TxReceipt:
        """Propose, wait out the challenge window, finalize."""
        self.propose(epoch, tree, total, reputations)
        travel(self.w3, self.market.params.challenge_window_s)
        return self.finalize(epoch, reputations)

    def claim(
        self, tree: RewardTree, node_id: int, *, account: LocalAccount = DEPLOYER
    ) -> TxReceipt:
        entry = tree.entry(node_id)
        call = self.settlement.functions.claim(
            tree.epoch, node_id, entry.account, entry.cumulative_amount, tree.proof(node_id)
        )
        return tx(self.w3, account, call, f"claim {node_id}")


def tree_of(epoch: int, amounts: Mapping[int, tuple[str, int]]) -> RewardTree:
    """A reward tree from {node_id: (account, cumulative amount)}."""
    return RewardTree.build(
        epoch, [Reward(node_id, account, amount) for node_id, (account, amount) in amounts.items()]
    )


def accounts(n: int) -> Sequence[LocalAccount]:
    return [operator(i) for i in range(n)]

"""Gas of one epoch's settlement for 10, 100 and 1000 nodes, beside the schemes it replaces.

Everything is measured in one run on a fresh anvil (started on a free port, stopped at the end):

- this project: ``EpochSettlement.propose`` + ``finalize`` (rewards as one cumulative Merkle root,
  reputations as packed words of 16 nodes, emission minted), and one ``claim`` (a node's first, and
  a later one that covers every epoch since its last claim);
- (a) one ERC-20 transfer transaction per node reward;
- (b) Reliable-dRAG's scheme: one batched call writing each node's score (contracts/test/
  BatchScoreBaseline.sol; no nonce, one storage slot per node);
- the claim scheme not chosen: per-epoch leaves with a claimed bitmap (contracts/test/
  PerEpochClaims.sol), where a node that claims 10 epochs sends 10 claims.

"steady" means a second epoch over the same nodes (storage already written once), which is what
every epoch after the first costs; "first" is epoch 1 on fresh storage. The verifier is the
test-only HashVerifier (the Groth16 check adds about 0.24M gas per 32 nodes plus ~1k gas and ~170
calldata bytes per node: contracts/README.md, "Proof verification gas"). Run:
``python bench/settlement_gas.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.chain.anvil import start_anvil
from services.chain.compiler import repo_root
from services.chain.deploy import DEV_PARAMS, deploy_set, deploy_test_contract
from services.chain.rpc import connect, contract_at, send
from services.core.merkle import (
    Reward,
    RewardTree,
    hash_verifier_proof,
    reputation_words,
)
from services.ports_free import free_port
from services.settings import ANVIL_DEV_KEY

SIZES = (10, 100, 1000)
MRT = 10**18
KEY = Web3.keccak(text="settlement gas bench verifier key")
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
MODEL = Web3.keccak(text="bench-model")
PER_EPOCH_EPOCHS = 10
ROOT = repo_root()


class Bench:
    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.me: LocalAccount = Account.from_key(ANVIL_DEV_KEY)
        self.nonces: dict[str, int] = {}
        verifier = deploy_test_contract(w3, ANVIL_DEV_KEY, ROOT, "HashVerifier", KEY)
        deployed = deploy_set(w3, ANVIL_DEV_KEY, ROOT, verifier.address, DEV_PARAMS)
        self.token = contract_at(w3, ROOT, "MeritToken", deployed["MeritToken"].address)
        self.registry = contract_at(w3, ROOT, "NodeRegistry", deployed["NodeRegistry"].address)
        self.settlement = contract_at(
            w3, ROOT, "EpochSettlement", deployed["EpochSettlement"].address
        )
        scores = deploy_test_contract(
            w3, ANVIL_DEV_KEY, ROOT, "BatchScoreBaseline", self.me.address
        )
        per_epoch = deploy_test_contract(
            w3, ANVIL_DEV_KEY, ROOT, "PerEpochClaims", self.token.address
        )
        self.scores = self._test_contract("BatchScoreBaseline", scores.address)
        self.per_epoch = self._test_contract("PerEpochClaims", per_epoch.address)
        self.nodes: list[LocalAccount] = []

    def _test_contract(self, name: str, address: str) -> Any:
        from services.chain.compiler import TEST_ARTIFACTS_DIR, load_artifact

        abi = load_artifact(ROOT, name, TEST_ARTIFACTS_DIR)["abi"]
        return self.w3.eth.contract(address=address, abi=abi)

    # --- transactions -----------------------------------------------------------------------

    def fire(self, account: LocalAccount, call: Any, gas: int) -> bytes:
        """Sign and send without estimating or waiting (bulk setup and baselines)."""
        nonce = self.nonces.get(account.address)
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(account.address, "pending")
        self.nonces[account.address] = nonce + 1
        tx = call.build_transaction(
            {"from": account.address, "nonce": nonce, "gas": gas, "chainId": 31337}
        )
        signed = account.sign_transaction(tx)
        return bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))

    def gas_of(self, hashes: Sequence[bytes]) -> int:
        total = 0
        for h in hashes:
            receipt = self.w3.eth.wait_for_transaction_receipt(h)
            if receipt["status"] != 1:
                raise RuntimeError(f"bench transaction {h.hex()} reverted")
            total += int(receipt["gasUsed"])
        return total

    def send(self, call: Any, what: str) -> int:
        self.nonces.pop(self.me.address, None)
        return int(send(self.w3, self.me, call, ROOT, what=what)["gasUsed"])

    def rpc(self, method: str, params: list[Any]) -> Any:
        return self.w3.provider.make_request(method, params)  # type: ignore[arg-type]

    # --- setup ------------------------------------------------------------------------------

    def register_until(self, n: int) -> None:
        stake = DEV_PARAMS.min_stake_wei
        hashes: list[bytes] = []
        while len(self.nodes) < n:
            node = Account.from_key(Web3.keccak(text=f"bench node {len(self.nodes)}"))
            self.nodes.append(node)
            self.rpc("anvil_setBalance", [node.address, hex(10**20)])
            # operators keep 1 MRT in their wallets besides the stake
            faucet = self.token.functions.faucet(node.address, stake + MRT)
            hashes.append(self.fire(self.me, faucet, 90_000))
            hashes.append(
                self.fire(node, self.token.functions.approve(self.registry.address, stake), 60_000)
            )
            hashes.append(
                self.fire(node, self.registry.functions.register(MODEL, CID, stake), 400_000)
            )
        self.gas_of(hashes)
        assert self.registry.functions.nodeCount().call() == n

    def tree(self, epoch: int, n: int, per_node: int) -> RewardTree:
        return RewardTree.build(
            epoch,
            [Reward(i + 1, self.nodes[i].address, per_node * (1 + i % 7)) for i in range(n)],
        )

    # --- this project -----------------------------------------------------------------------

    def settle(
        self, epoch: int, n: int, cumulative_unit: int, *, fees: bool
    ) -> tuple[int, RewardTree]:
        """Gas of propose + finalize. With ``fees`` the pool is funded first (as TaskEscrow does,
        a transaction not counted here, like the funding of (a)); without, finalize mints it."""
        tree = self.tree(epoch, n, cumulative_unit)
        total = tree.cumulative_total - self._settled()
        if fees:
            self.send(self.token.functions.faucet(self.me.address, total), "faucet")
            self.send(self.token.functions.approve(self.settlement.address, total), "approve")
            self.send(self.settlement.functions.fund(epoch, total), "fund")
        reps = {i + 1: (1_000 + 37 * i + 500 * epoch) % 10_001 or 1 for i in range(n)}
        first, words = reputation_words(reps)
        proof = hash_verifier_proof(bytes(KEY), epoch, tree.root, total)
        gas = self.send(
            self.settlement.functions.propose(epoch, tree.root, total, CID, first, words, proof),
            f"propose {epoch}",
        )
        self.rpc("evm_increaseTime", [DEV_PARAMS.challenge_window_s])
        self.rpc("evm_mine", [])
        gas += self.send(
            self.settlement.functions.finalize(epoch, first, words), f"finalize {epoch}"
        )
        return gas, tree

    def _settled(self) -> int:
        return int(self.settlement.functions.totalSettled().call())

    def claim(self, tree: RewardTree, node_id: int) -> int:
        entry = tree.entry(node_id)
        call = self.settlement.functions.claim(
            tree.epoch, node_id, entry.account, entry.cumulative_amount, tree.proof(node_id)
        )
        return self.send(call, f"claim {node_id}")

    # --- peers ------------------------------------------------------------------------------

    def per_node_transfers(self, n: int) -> int:
        """(a): one transfer transaction per node reward; recipients already hold tokens."""
        amount = MRT
        self.send(self.token.functions.faucet(self.me.address, 2 * n * amount), "faucet")
        warmup = [
            self.fire(self.me, self.token.functions.transfer(node.address, amount), 80_000)
            for node in self.nodes[:n]
        ]
        self.gas_of(warmup)
        return self.gas_of(
            [
                self.fire(self.me, self.token.functions.transfer(node.address, amount), 80_000)
                for node in self.nodes[:n]
            ]
        )

    def batched_scores(self, n: int) -> tuple[int, int]:
        """(b): one batched score write per epoch; (first, steady)."""
        addresses = [node.address for node in self.nodes[:n]]
        first = self.send(
            self.scores.functions.updateScores(addresses, [5_000 + i for i in range(n)]), "scores"
        )
        steady = self.send(
            self.scores.functions.updateScores(addresses, [6_000 + i for i in range(n)]), "scores"
        )
        return first, steady

    def per_epoch_claims(self, n: int, epochs: int) -> tuple[int, int]:
        """The per-epoch leaf scheme: (one claim, one node claiming `epochs` epochs)."""
        claimer = n // 2 + 1
        gases: list[int] = []
        for epoch in range(1, epochs + 1):
            tree = self.tree(epoch, n, MRT)  # per-epoch amounts, not cumulative
            total = tree.cumulative_total
            self.send(self.token.functions.faucet(self.me.address, total), "faucet")
            self.send(self.token.functions.approve(self.per_epoch.address, total), "approve")
            self.send(self.per_epoch.functions.post(epoch, tree.root, total), "post")
            # another node claims first, as in any real epoch (the bitmap word is then warm-able)
            other = 1 if claimer != 1 else 2
            self._per_epoch_claim(tree, other)
            gases.append(self._per_epoch_claim(tree, claimer))
        return gases[0], sum(gases)

    def _per_epoch_claim(self, tree: RewardTree, node_id: int) -> int:
        entry = tree.entry(node_id)
        call = self.per_epoch.functions.claim(
            tree.epoch, node_id, entry.account, entry.cumulative_amount, tree.proof(node_id)
        )
        return self.send(call, "per-epoch claim")


def measure(bench: Bench, n: int) -> dict[str, int]:
    bench.register_until(n)
    snap = bench.rpc("evm_snapshot", [])["result"]
    try:
        claimer, other = n // 2 + 1, 1
        first_epoch, tree1 = bench.settle(1, n, MRT, fees=False)
        bench.claim(tree1, other)  # not the contract's first claim ever
        claim_first = bench.claim(tree1, claimer)
        bench.settle(2, n, 2 * MRT, fees=True)
        steady_fees, _ = bench.settle(3, n, 3 * MRT, fees=True)
        steady_minted, tree4 = bench.settle(4, n, 4 * MRT, fees=False)
        claim_later = bench.claim(tree4, claimer)  # covers epochs 2, 3 and 4
        transfers = bench.per_node_transfers(n)
        scores_first, scores_steady = bench.batched_scores(n)
        per_epoch_one, per_epoch_many = bench.per_epoch_claims(n, PER_EPOCH_EPOCHS)
    finally:
        assert bench.rpc("evm_revert", [snap])["result"] is True
        bench.nonces.clear()
    return {
        "first": first_epoch,
        "steady": steady_fees,
        "steady_minted": steady_minted,
        "claim_first": claim_first,
        "claim_later": claim_later,
        "transfers": transfers,
        "scores_first": scores_first,
        "scores_steady": scores_steady,
        "per_epoch_one": per_epoch_one,
        "per_epoch_many": per_epoch_many,
    }


def render(results: dict[int, dict[str, int]]) -> str:
    def k(gas: int) -> str:
        return f"{gas:,}"

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.1f}%"

    rows: list[tuple[str, list[str]]] = [
        (
            "this project: propose + finalize, steady epoch",
            [k(r["steady"]) for r in results.values()],
        ),
        ("  same, pool minted as emission", [k(r["steady_minted"]) for r in results.values()]),
        ("  same, first epoch (fresh storage, minted)", [k(r["first"]) for r in results.values()]),
        ("(a) one transfer tx per node reward", [k(r["transfers"]) for r in results.values()]),
        ("    this project / (a)", [pct(r["steady"], r["transfers"]) for r in results.values()]),
        (
            "(b) Reliable-dRAG batched scores, steady",
            [k(r["scores_steady"]) for r in results.values()],
        ),
        (
            "(b) Reliable-dRAG batched scores, first",
            [k(r["scores_first"]) for r in results.values()],
        ),
        (
            "    this project / (b), steady",
            [pct(r["steady"], r["scores_steady"]) for r in results.values()],
        ),
        (
            "claim (cumulative, ours): a node's first",
            [k(r["claim_first"]) for r in results.values()],
        ),
        (
            "claim (cumulative, ours): later, 3 epochs",
            [k(r["claim_later"]) for r in results.values()],
        ),
        (
            "claim (per-epoch leaf + bitmap): one epoch",
            [k(r["per_epoch_one"]) for r in results.values()],
        ),
        (
            f"claim {PER_EPOCH_EPOCHS} epochs: per-epoch ({PER_EPOCH_EPOCHS} txs)",
            [k(r["per_epoch_many"]) for r in results.values()],
        ),
        (
            f"claim {PER_EPOCH_EPOCHS} epochs: cumulative (1 tx) / per-epoch",
            [pct(r["claim_later"], r["per_epoch_many"]) for r in results.values()],
        ),
    ]
    width = max(len(label) for label, _ in rows)
    cols = [max(len(f"{n} nodes"), *(len(v[i]) for _, v in rows)) for i, n in enumerate(results)]
    head = " | ".join(f"{n} nodes".rjust(w) for n, w in zip(results, cols, strict=True))
    lines = [f"{'gas (anvil, same run)'.ljust(width)} | {head}"]
    lines.append("-" * len(lines[0]))
    for label, values in rows:
        cells = " | ".join(v.rjust(w) for v, w in zip(values, cols, strict=True))
        lines.append(f"{label.ljust(width)} | {cells}")
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        anvil = start_anvil(free_port(), None, Path(tmp) / "anvil.log")
        try:
            w3 = connect(anvil.rpc_url)
            bench = Bench(w3)
            results = {n: measure(bench, n) for n in SIZES}
        finally:
            anvil.stop()
    print(render(results))
    print(
        f"\n(measured in {time.monotonic() - started:.0f}s. steady: epoch 3, its pool funded by "
        "fees; every reward recipient already holds MRT; 'a node's first' claim allocates the "
        "node's claimed-amount slot once)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

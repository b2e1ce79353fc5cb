"""Gas of one epoch's settlement for 10, 100 and 1000 nodes, beside the schemes it replaces.

Everything is measured in one run on a fresh anvil (started on a free port, stopped at the end):

- this project on the test-only HashVerifier: ``EpochSettlement.propose`` + ``finalize`` (rewards
  as one cumulative Merkle root, reputations as packed words of 16 nodes, emission minted), and
  one ``claim`` (a node's first, and a later one that covers every epoch since its last claim);
- this project with real Groth16 proofs: a second contract set deployed by ``deploy_all``
  (RewardChunkVerifier, EpochRewardsVerifier over it, then the rest on it; the deployment record
  goes to the run's temporary directory), the same nodes registered in it, and each epoch proved
  by the project's own path: a synthetic audit bundle (per-task allocations, rewards from
  ``epoch_rewards``), the claim tree and entries from ``services.core.settlement.plan``, a
  ``ProofRequest``, ``zk.epoch_proof.make_proof`` with the warm snarkjs prover (one proof per 32
  nodes, 1-4 s each; progress on stderr), ``check_proof`` (the workers' check), then ``propose``
  with explicit gas (the verifier's ``verificationGas`` bound plus the calldata and a margin);
- (a) one ERC-20 transfer transaction per node reward;
- (b) Reliable-dRAG's scheme: one batched call writing each node's score (contracts/test/
  BatchScoreBaseline.sol; no nonce, one storage slot per node);
- the claim scheme not chosen: per-epoch leaves with a claimed bitmap (contracts/test/
  PerEpochClaims.sol), where a node that claims 10 epochs sends 10 claims.

"steady" is epoch 3 over the same nodes, its pool funded by fees: storage already written once,
which is what every later epoch costs (epoch 2 still writes the second slot of the proposal ring
afresh); "first" is epoch 1 on fresh storage, its pool minted. With real proofs the proposal
also carries each node's row and claim entry (~205 calldata bytes a node) and the verifier
rebuilds the previous and the new claim tree from them, so settlement grows by ~11.5k gas a node
(100 to 1000 nodes), 7.6k of it the 242k-gas Groth16 check per 32-node chunk (zk/README.md).
The run makes 111 chunk proofs (3 epochs x 1, 4 and 32 chunks): 10-20 min on 2 cores, most of it
proving. Run: ``python bench/settlement_gas.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.app.settlement import ProofRequest
from services.chain.anvil import start_anvil
from services.chain.deploy import (
    DEV_PARAMS,
    RoleAccounts,
    deploy_all,
    deploy_set,
    deploy_test_contract,
)
from services.chain.keys import dev_role_account
from services.chain.rpc import connect, contract_at
from services.chain.tx import send
from services.content.cid import cid_of
from services.core.merkle import (
    Reward,
    RewardTree,
    hash_verifier_proof,
    reputation_words,
)
from services.core.rewards import epoch_rewards
from services.core.settlement import OnChainReward, SettlementPlan, plan
from services.core.types import EpochId, NodeId, Wei
from services.ports_free import free_port
from services.resources import repo_root
from services.settings import ANVIL_DEV_KEY
from zk.encoding import CHUNK
from zk.epoch_proof import check_proof, make_proof
from zk.prover import VKEY, ProofResult, Prover
from zk.verifier import load_verifying_key

SIZES = (10, 100, 1000)
MRT = 10**18
KEY = Web3.keccak(text="settlement gas bench verifier key")
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
MODEL = Web3.keccak(text="bench-model")
PER_EPOCH_EPOCHS = 10
# propose's gas beyond the calldata and the verifier's allowance (bound + bound / 63): its checks,
# the proposal slot, the event, and the memory the proof is copied into for the verifier's two
# calls (quadratic in the proof's size); eth_estimateGas asked 29k, 38k and 267k of it at 10, 100
# and 1000 nodes
PROPOSE_MARGIN = 500_000
ROOT = repo_root()


class Bench:
    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        # the settler proposes and finalizes (the deployer keeps no role); the faucet is public
        self.me: LocalAccount = Account.from_key(dev_role_account("settler").private_key)
        self.nonces: dict[str, int] = {}
        verifier = deploy_test_contract(w3, ANVIL_DEV_KEY, "HashVerifier", KEY)
        deployed = deploy_set(
            w3, ANVIL_DEV_KEY, verifier.address, DEV_PARAMS, RoleAccounts.dev()
        )
        self.token = contract_at(w3, "MeritToken", deployed["MeritToken"].address)
        self.registry = contract_at(w3, "NodeRegistry", deployed["NodeRegistry"].address)
        self.settlement = contract_at(
            w3, "EpochSettlement", deployed["EpochSettlement"].address
        )
        self.post_bond(self.token, self.settlement)
        scores = deploy_test_contract(
            w3, ANVIL_DEV_KEY, "BatchScoreBaseline", self.me.address
        )
        per_epoch = deploy_test_contract(
            w3, ANVIL_DEV_KEY, "PerEpochClaims", self.token.address
        )
        self.scores = self._test_contract("BatchScoreBaseline", scores.address)
        self.per_epoch = self._test_contract("PerEpochClaims", per_epoch.address)
        self.nodes: list[LocalAccount] = []

    def _test_contract(self, name: str, address: str) -> Any:
        from services.chain.compiler import TEST_ARTIFACTS_DIR, load_artifact

        abi = load_artifact(name, ROOT / TEST_ARTIFACTS_DIR)["abi"]
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

    def send(self, call: Any, what: str, gas: int | None = None) -> int:
        self.nonces.pop(self.me.address, None)
        return int(send(self.w3, self.me, call, what=what, gas=gas)["gasUsed"])

    def post_bond(self, token: Any, settlement: Any) -> None:
        """The settler posts the bond a proposal locks (from the faucet), as `merit up` does."""
        bond = int(settlement.functions.settlerBond().call())
        self.send(token.functions.faucet(self.me.address, bond), "faucet bond")
        self.send(token.functions.approve(settlement.address, bond), "approve bond")
        self.send(settlement.functions.postBond(self.me.address, bond), "post bond")

    def rpc(self, method: str, params: list[Any]) -> Any:
        return self.w3.provider.make_request(method, params)  # type: ignore[arg-type]

    # --- setup ------------------------------------------------------------------------------

    def register_until(self, n: int) -> None:
        while len(self.nodes) < n:
            node = Account.from_key(Web3.keccak(text=f"bench node {len(self.nodes)}"))
            self.nodes.append(node)
            self.rpc("anvil_setBalance", [node.address, hex(10**20)])
        self.register(self.token, self.registry, n)

    def register(self, token: Any, registry: Any, n: int) -> None:
        """Register ``self.nodes[:n]`` in ``registry`` (those not yet in it): ids 1..n."""
        stake = DEV_PARAMS.min_stake_wei
        hashes: list[bytes] = []
        for node in self.nodes[registry.functions.nodeCount().call() : n]:
            # operators keep 1 MRT in their wallets besides the stake
            faucet = token.functions.faucet(node.address, stake + MRT)
            hashes.append(self.fire(self.me, faucet, 90_000))
            hashes.append(self.fire(node, token.functions.approve(registry.address, stake), 60_000))
            hashes.append(self.fire(node, registry.functions.register(MODEL, CID, stake), 400_000))
        self.gas_of(hashes)
        assert registry.functions.nodeCount().call() == n

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


class ProgressProver(Prover):
    """The project's warm snarkjs prover, saying on stderr which chunk it is proving."""

    def __init__(self) -> None:
        super().__init__()
        self.label = ""
        self.chunks = 0
        self.done = 0
        self.proofs = 0  # in the whole run
        self.ms = 0

    def prove(self, circuit_input: dict[str, Any]) -> ProofResult:
        result = super().prove(circuit_input)
        self.done += 1
        self.proofs += 1
        self.ms += result.ms
        print(
            f"  {self.label}: chunk {self.done}/{self.chunks} proved ({result.ms} ms)",
            file=sys.stderr,
            flush=True,
        )
        return result


@dataclass(frozen=True)
class ZkEpoch:
    plan: SettlementPlan
    propose: int  # gas used by propose
    finalize: int
    chunks: int
    proof_bytes: int


class ZkSettlement:
    """The production contract set, deployed by deploy_all (RewardChunkVerifier, then
    EpochRewardsVerifier over it, then deploy_set on it), settled with real Groth16 proofs made
    by zk.epoch_proof.make_proof from a synthetic audit bundle, checked by check_proof (the
    workers' check) before propose, as the zk worker does."""

    def __init__(self, bench: Bench, records: Path, prover: ProgressProver) -> None:
        self.bench = bench
        w3 = bench.w3
        deployment = deploy_all(w3, ANVIL_DEV_KEY, records, params=DEV_PARAMS)
        self.token = deployment.contract(w3, "MeritToken")
        self.registry = deployment.contract(w3, "NodeRegistry")
        self.settlement = deployment.contract(w3, "EpochSettlement")
        self.verifier = deployment.contract(w3, "EpochRewardsVerifier")
        assert self.settlement.functions.verifier().call() == self.verifier.address
        bench.post_bond(self.token, self.settlement)
        self.prover = prover
        self.vk = load_verifying_key(VKEY)

    def register_until(self, n: int) -> None:
        self.bench.register(self.token, self.registry, n)

    def bundle(self, epoch: int, n: int) -> dict[str, Any]:
        """An audit bundle as epochs.close_epoch writes it: per-task allocations over node ids
        1..n (the registry ids), the pool their sum, each node's reward the protocol's split."""
        allocations = [
            {
                NodeId(i + 1): Wei((1 + (7 * i + 3 * task + epoch) % 11) * MRT // 10)
                for i in range(n)
                if (i + task) % 3
            }
            for task in range(3)
        ]
        pool = sum(sum(a.values()) for a in allocations)
        split = epoch_rewards(EpochId(epoch), Wei(pool), allocations)
        return {
            "epoch": epoch,
            "pool_wei": str(pool),
            "tasks": [{"rewards_wei": {str(k): str(v) for k, v in a.items()}} for a in allocations],
            "clusters": [],
            "nodes": [
                {"node_id": k, "reward_wei": str(v), "withheld": False}
                for k, v in sorted(split.rewards.items())
            ],
        }

    def settle(self, epoch: int, n: int, before: SettlementPlan | None, *, fees: bool) -> ZkEpoch:
        """Prove, check, propose (explicit gas: the verifier's bound plus a margin) and finalize
        epoch ``epoch`` over nodes 1..n; ``before`` is the previous epoch's settlement."""
        bench, nodes = self.bench, self.bench.nodes
        doc = self.bundle(epoch, n)
        cid = cid_of(json.dumps(doc, sort_keys=True).encode())
        rewards = [
            OnChainReward(NodeId(int(line["node_id"])), int(line["node_id"]),
                          nodes[int(line["node_id"]) - 1].address, Wei(int(line["reward_wei"])))
            for line in doc["nodes"]
        ]  # fmt: skip
        reps = {i + 1: (1_000 + 37 * i + 500 * epoch) % 10_001 or 1 for i in range(n)}
        planned = plan(EpochId(epoch), rewards, before.entries if before else (), reps)
        request = ProofRequest(
            epoch=epoch,
            audit_cid=cid,
            previous_root=before.tree.root if before else bytes(32),
            root=planned.tree.root,
            total=int(planned.total_wei),
            entries=planned.entries,
            chain_id=int(self.settlement.w3.eth.chain_id),
            settlement=self.settlement.address,
        )
        self.prover.label = f"{n} nodes, epoch {epoch}"
        self.prover.chunks, self.prover.done = -(-n // CHUNK), 0
        made, _ = make_proof(request, {cid: doc}.__getitem__, self.prover)
        verdict = check_proof(request, made.proof, self.vk)
        if not verdict.ok:
            raise RuntimeError(f"epoch {epoch}: the workers' check refused the proof: {verdict}")
        total = request.total
        if fees:
            bench.send(self.token.functions.faucet(bench.me.address, total), "faucet")
            bench.send(self.token.functions.approve(self.settlement.address, total), "approve")
            bench.send(self.settlement.functions.fund(epoch, total), "fund")
        args = (
            epoch, planned.tree.root, total, cid, planned.rep_first_word,
            list(planned.rep_words), made.proof,
        )  # fmt: skip
        call = self.settlement.functions.propose(*args)
        bound = int(self.verifier.functions.verificationGas(made.proof).call())
        limit = propose_gas_limit(bound, self.settlement.encode_abi("propose", args=args))
        estimate = int(call.estimate_gas({"from": bench.me.address}))
        propose = bench.send(call, f"propose {epoch}", gas=limit)
        bench.rpc("evm_increaseTime", [DEV_PARAMS.challenge_window_s])
        bench.rpc("evm_mine", [])
        finalize = bench.send(
            self.settlement.functions.finalize(epoch, planned.rep_first_word, planned.rep_words),
            f"finalize {epoch}",
        )
        print(
            f"  {n} nodes, epoch {epoch}: propose {propose:,} gas (verificationGas {bound:,}, "
            f"limit given {limit:,}, eth_estimateGas {estimate:,}), finalize {finalize:,}",
            file=sys.stderr,
            flush=True,
        )
        return ZkEpoch(planned, propose, finalize, made.chunks, len(made.proof))


def propose_gas_limit(bound: int, calldata: str) -> int:
    """The gas a propose transaction is given: the verifier's ``verificationGas`` bound, the 1/64
    the EVM keeps from the call (EIP-150), the transaction's calldata (or the EIP-7623 floor) and
    PROPOSE_MARGIN for propose's own work."""
    data = bytes.fromhex(calldata.removeprefix("0x"))
    zeros = data.count(0)
    nonzero = len(data) - zeros
    standard = 21_000 + 4 * zeros + 16 * nonzero
    floor = 21_000 + 10 * (zeros + 4 * nonzero)
    return max(standard + bound + bound // 63 + PROPOSE_MARGIN, floor)


def measure(bench: Bench, zk: ZkSettlement, n: int) -> dict[str, int]:
    bench.register_until(n)
    zk.register_until(n)
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
        # the production set, real proofs: epoch 1 minted, epochs 2 and 3 funded by fees; epoch 3
        # is the steady one (epoch 2 still writes the proposal ring's second slot afresh)
        zk_first = zk.settle(1, n, None, fees=False)
        zk_second = zk.settle(2, n, zk_first.plan, fees=True)
        zk_steady = zk.settle(3, n, zk_second.plan, fees=True)
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
        "zk_first": zk_first.propose + zk_first.finalize,
        "zk_first_propose": zk_first.propose,
        "zk_steady": zk_steady.propose + zk_steady.finalize,
        "zk_steady_propose": zk_steady.propose,
        "zk_chunks": zk_steady.chunks,
        "zk_proof_bytes": zk_steady.proof_bytes,
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
            "this project, Groth16 proofs: propose + finalize, steady",
            [k(r["zk_steady"]) for r in results.values()],
        ),
        ("  of which propose", [k(r["zk_steady_propose"]) for r in results.values()]),
        (
            "  same, first epoch (fresh storage, minted)",
            [k(r["zk_first"]) for r in results.values()],
        ),
        ("  of which propose", [k(r["zk_first_propose"]) for r in results.values()]),
        (
            "  chunk proofs; proof bytes in propose",
            [f"{r['zk_chunks']}; {k(r['zk_proof_bytes'])}" for r in results.values()],
        ),
        (
            "    this project with Groth16 proofs / (a)",
            [pct(r["zk_steady"], r["transfers"]) for r in results.values()],
        ),
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
            with ProgressProver() as prover:
                zk = ZkSettlement(bench, Path(tmp) / "deployments", prover)
                results = {n: measure(bench, zk, n) for n in SIZES}
        finally:
            anvil.stop()
    print(render(results))
    print(
        f"\n(measured in {time.monotonic() - started:.0f}s, {prover.ms / 1000:.0f}s of it making "
        f"{prover.proofs} chunk proofs. steady: epoch 3, its pool funded by fees; every reward "
        "recipient already holds MRT; 'a node's first' claim allocates the node's claimed-amount "
        "slot once)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

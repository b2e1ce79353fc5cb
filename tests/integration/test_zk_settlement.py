"""Epochs settle with real Groth16 proofs on the real stack parts: the warm snarkjs prover, the
Python verifier, PostgreSQL, and anvil with the dev deployment (RewardChunkVerifier behind
EpochRewardsVerifier). A tampered proof is rejected by the workers' check with its reason and
nothing is sent; sent anyway, the contract reverts with a named error; a crashed prover is
restarted and the request retried."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_abi.abi import decode, encode
from web3 import Web3

from services.app.bundles import load_bundle, put_bundle
from services.app.settlement import (
    MadeProof,
    ProofRequest,
    finalize_epoch,
    intent_key,
    proof_request,
    settle_epoch,
)
from services.chain.deploy import Deployment
from services.chain.rpc import ChainReverted
from services.chain.tx import estimate
from services.content.local import LocalContentStore
from services.core.rewards import epoch_rewards
from services.core.settlement import ProofStatus, SettlementStatus
from services.core.types import EpochId, EpochNode, NewNode, NodeId, Wei
from services.store.db import PostgresStore
from tests.contracts.market import MRT, SETTLER, travel
from tests.fixtures.chain import Market
from tests.integration.test_settlement import OPERATORS, World, _claim, _world
from zk import encoding

DOMAIN = encoding.Domain(31337, "0x" + "5e" * 20)  # proofs checked off chain only
from zk.epoch_proof import EpochProver, audit_proof, check_proof, decode_proof
from zk.prover import Prover


@pytest.fixture(scope="session")
def warm_prover() -> Prover:
    prover = Prover()
    yield prover
    prover.close()


@dataclass
class ZkWorld:
    w: World
    content: LocalContentStore
    prover: EpochProver


@pytest.fixture
def zk_world(
    store: PostgresStore, postgres_url, chain: Web3, deployment: Deployment, market: Market,
    warm_prover: Prover, tmp_path: Path,
) -> ZkWorld:  # fmt: skip
    production = Market(market.verifier, deployment.contracts, deployment.params, b"")
    w = _world(store, postgres_url, chain, production)
    assert w.session.settlement.verifier() == deployment.address("EpochRewardsVerifier")
    content = LocalContentStore(tmp_path / "content")
    return ZkWorld(w, content, EpochProver(lambda cid: load_bundle(content, cid), warm_prover))


def _close(z: ZkWorld, allocations: list[dict[NodeId, int]], clusters=()) -> EpochId:
    """Close the open epoch the way epochs.close_epoch records it: per-task allocations in the
    bundle, the protocol's split of the pool over their sums in the database."""
    store = z.w.store
    ep = store.epochs.current()
    pool = sum(sum(a.values()) for a in allocations)
    split = epoch_rewards(ep.id, Wei(pool), allocations, (), clusters)
    doc = {
        "epoch": ep.id,
        "pool_wei": str(pool),
        "tasks": [{"rewards_wei": {str(n): str(v) for n, v in a.items()}} for a in allocations],
        "clusters": [sorted(c) for c in clusters],
        "nodes": [
            {"node_id": n, "reward_wei": str(r), "withheld": False}
            for n, r in sorted(split.rewards.items())
        ],
    }
    cid = put_bundle(z.content, doc)
    store.epochs.record_nodes(
        [EpochNode(ep.id, n, r, 5000, 5000, 5000, False) for n, r in split.rewards.items()]
    )
    store.epochs.close(ep.id, Wei(pool), cid)
    return ep.id


def _settle(z: ZkWorld, epoch: int):
    return settle_epoch(z.w.store, z.w.chain, epoch, prove=z.prover.prove, check=z.prover.check)


def test_two_epochs_settle_with_real_proofs_and_nodes_claim_cumulative_rewards(
    zk_world: ZkWorld,
) -> None:
    z, w = zk_world, zk_world.w
    a, b, off = w.nodes
    e1 = _close(z, [{a: 5 * MRT, b: 3 * MRT}, {a: 1 * MRT, off: 2 * MRT}])
    first = _settle(z, e1)
    s1 = first.settlement
    assert first.sent and s1.status is SettlementStatus.PROPOSED, first.message
    assert s1.proof_status is ProofStatus.VERIFIED and s1.proof_chunks == 1
    assert s1.total_wei == 9 * MRT and s1.left_out == (off,)
    receipt = w.session.w3.eth.get_transaction_receipt(first.tx_hash)
    assert receipt["status"] == 1

    travel(w.session.w3, w.session.settlement.challenge_window_s() + 1)
    assert finalize_epoch(w.store, w.chain, e1).sent
    assert _claim(w, OPERATORS[0]) == 6 * MRT

    # the second epoch's proof rebuilds the first epoch's tree from its entries
    e2 = _close(z, [{b: 4 * MRT, a: 4 * MRT}])
    second = _settle(z, e2)
    assert second.sent, second.message
    request = proof_request(w.store, second.settlement, w.chain.settlement_address)
    assert request.previous_root == bytes.fromhex(s1.root[2:])
    travel(w.session.w3, w.session.settlement.challenge_window_s() + 1)
    assert finalize_epoch(w.store, w.chain, e2).sent
    claims = {c.chain_node_id: c.cumulative_wei for c in w.store.settlements.claims(e2)}
    assert claims == {w.chain_ids[0]: 10 * MRT, w.chain_ids[1]: 7 * MRT}
    assert _claim(w, OPERATORS[0]) == 4 * MRT  # only what is new since its first claim
    assert _claim(w, OPERATORS[1]) == 7 * MRT


def test_the_audit_recomputes_the_proofs_commitments_from_the_bundle(zk_world: ZkWorld) -> None:
    z, w = zk_world, zk_world.w
    a, b, off = w.nodes
    e1 = _close(z, [{a: 5 * MRT, b: 3 * MRT, off: 1 * MRT}])
    assert _settle(z, e1).sent

    doc = load_bundle(z.content, w.store.epochs.get(e1).audit_cid)
    request = proof_request(w.store, w.store.settlements.get(e1), w.chain.settlement_address)
    proof = w.store.settlements.proof(e1)
    checks = audit_proof(doc, request, proof, z.prover.prover, z.prover.vk)
    assert [c for c in checks if c[1] != c[2]] == []
    assert any("score commitment" in what for what, _, _ in checks)

    # a bundle whose scores differ from what was proven is caught, even with the same rewards:
    # move one unit of score between the two paid nodes' tasks
    tampered = json.loads(json.dumps(doc))
    tampered["tasks"][0]["rewards_wei"][str(a)] = str(5 * MRT + 1)
    tampered["tasks"][0]["rewards_wei"][str(b)] = str(3 * MRT - 1)
    failing = [c for c in audit_proof(tampered, request, proof, z.prover.prover, z.prover.vk) if c[1] != c[2]]
    assert failing and (
        "split" in failing[0][0] or "score commitment" in failing[0][0]
    )


def test_an_epoch_of_many_nodes_is_proved_in_several_chunks(zk_world: ZkWorld) -> None:
    z, w = zk_world, zk_world.w
    a, b, _ = w.nodes
    extra = [
        w.store.nodes.add(NewNode(f"zk-off-{i}", f"http://127.0.0.1:{9100 + i}", "m")).id
        for i in range(38)
    ]
    allocation = {n: (i % 7 + 1) * MRT // 3 for i, n in enumerate([a, b, *extra])}
    e1 = _close(z, [allocation], clusters=[{extra[0], extra[1]}])
    result = _settle(z, e1)
    assert result.sent, result.message
    assert result.settlement.proof_chunks == 2  # 40 rows: 32 + 8


def test_a_tampered_proof_is_rejected_by_the_workers_and_by_the_contract(
    zk_world: ZkWorld,
) -> None:
    z, w = zk_world, zk_world.w
    a, b, _ = w.nodes
    e1 = _close(z, [{a: 2 * MRT, b: 1 * MRT}])
    good: list[bytes] = []

    def tampered(request: ProofRequest) -> MadeProof:
        made = z.prover.prove(request)
        good.append(made.proof)
        values = list(decode(list(encoding.PROOF_TYPES), made.proof))
        chunk = list(values[4][0])
        words = list(chunk[2])
        words[0], words[6] = words[6], words[0]  # swap A.x and C.x
        chunk[2] = words
        values[4] = [tuple(chunk)]
        return MadeProof(encode(list(encoding.PROOF_TYPES), values), made.chunks)

    nonce = w.session.w3.eth.get_transaction_count(SETTLER.address)
    result = settle_epoch(w.store, w.chain, e1, prove=tampered, check=z.prover.check)
    s = result.settlement
    assert not result.sent and s.proof_status is ProofStatus.REJECTED
    assert s.proof_detail and s.proof_detail.startswith("chunk 0:")
    assert "failed the workers' check" in result.message
    assert w.store.outbox.get_by_intent(intent_key(31337, e1, "propose")) is None
    assert w.session.w3.eth.get_transaction_count(SETTLER.address) == nonce
    again = settle_epoch(w.store, w.chain, e1)  # without a prover nothing unverified is sent
    assert not again.sent and again.settlement.proof_status is ProofStatus.REJECTED
    assert w.session.w3.eth.get_transaction_count(SETTLER.address) == nonce

    # sent anyway, the contract refuses it with a named error
    bad = w.store.settlements.proof(e1)
    assert bad is not None
    call = w.session.settlement.propose(
        e1, bytes.fromhex(s.root[2:]), int(s.total_wei), s.audit_cid, s.rep_first_word,
        list(s.rep_words), bad,
    )  # fmt: skip
    with pytest.raises(ChainReverted) as refused:
        estimate(w.session.w3, SETTLER.address, call)
    assert refused.value.error_name == "EpochRewardsVerifierChunkRejected"

    # the honest proof passes both checks
    request = proof_request(w.store, s, w.chain.settlement_address)
    assert check_proof(request, good[0], z.prover.vk).ok
    assert not check_proof(request, bad, z.prover.vk).ok
    assert decode_proof(good[0]).chunks[0].rows == decode_proof(bad).chunks[0].rows


def test_a_prover_killed_mid_proof_is_restarted_and_the_request_retried(
    warm_prover: Prover,
) -> None:
    rows = [encoding.Row(1, True, 3), encoding.Row(2, True, 5)]
    (commitment,) = warm_prover.outputs(encoding.chunk_inputs(7, 0, 1000, rows), count=1)
    _, circuit_input = encoding.bind(DOMAIN, 7, 0, 1000, rows, commitment)
    before = warm_prover.restarts
    killer = threading.Timer(1.0, warm_prover.kill)  # proving takes seconds: this lands mid-proof
    killer.start()
    result = warm_prover.prove(circuit_input)
    killer.join()
    assert warm_prover.restarts == before + 1
    assert list(result.public_signals) == encoding.public_signals(DOMAIN, 7, 0, 1000, rows, commitment)

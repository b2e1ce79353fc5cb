"""Settling closed epochs on the real anvil and the real PostgreSQL: propose through the outbox,
finalize after the challenge window, claim cumulative rewards by Merkle proof. These tests use
the test-only HashVerifier; tests/integration/test_zk_settlement.py settles with real proofs."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner
from web3 import Web3

from services.app.settlement import (
    MadeProof,
    ProofCheck,
    ProofRequest,
    ProofVerdict,
    Prover,
    finalize_epoch,
    intent_key,
    settle_epoch,
)
from services.chain.contracts import ChainSession
from services.chain.deploy import Deployment, artifacts_source_hash, write_record
from services.chain.keys import dev_account
from services.chain.outbox import OutboxSender, PostgresSenderLock
from services.chain.settlement import ChainSettlement
from services.chain.tx import DirectSender
from services.cli.main import app
from services.content.cid import cid_of
from services.core.errors import Conflict
from services.core.merkle import hash_verifier_proof, leaf, verify
from services.core.settlement import SettlementStatus
from services.core.types import EpochId, EpochNode, NewNode, NodeId, Wei
from services.settings import get_settings
from services.store.db import PostgresStore
from tests.contracts.market import DEPLOYER, MRT, SETTLER, Contracts, give_eth, operator, travel
from tests.fixtures.chain import Market

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
# the CLI's deployment record must name the production verifiers: the HashVerifier stands in
_VERIFIERS = ("RewardChunkVerifier", "EpochRewardsVerifier")
OPERATORS: list[LocalAccount] = [operator(40 + i) for i in range(3)]


def operator_metadata(account: LocalAccount) -> bytes:
    """The metadata document an operator registers its node with: no signer named, so the
    operator's own key signs its work."""
    doc = {"version": 1, "model": "m", "endpoint": "https://node.example/v1", "operator": account.address}
    return json.dumps(doc).encode()


@dataclass
class World:
    store: PostgresStore
    session: ChainSession
    chain: ChainSettlement
    contracts: Contracts
    nodes: list[NodeId]  # off-chain ids: 0 and 1 registered on chain, 2 not
    chain_ids: list[int]
    prove: Prover
    check: ProofCheck


def _session(w3: Web3, contracts: dict, params) -> ChainSession:
    deployment = Deployment(31337, DEPLOYER.address, "", params, dict(contracts))
    return ChainSession(w3, deployment)


def _hash_proofs(market: Market) -> tuple[Prover, ProofCheck]:
    """The test verifier's proof (HashVerifier) and a check that recomputes it."""

    def prove(req: ProofRequest) -> MadeProof:
        return MadeProof(hash_verifier_proof(market.verifier_key, req.epoch, req.root, req.total), 0)

    def check(req: ProofRequest, proof: bytes) -> ProofVerdict:
        return ProofVerdict(proof == prove(req).proof, "not the test verifier's hash")

    return prove, check


def _world(
    store, postgres_url, w3: Web3, market: Market, operators: list[LocalAccount] = OPERATORS
) -> World:
    contracts = Contracts(w3, market)
    session = _session(w3, market.contracts, market.params)
    chain_ids = [contracts.register(a, cid=cid_of(operator_metadata(a))) for a in operators[:2]]
    nodes = [
        store.nodes.add(
            NewNode(f"settle-node-{i}", f"http://127.0.0.1:{9000 + i}", "m", address=a.address)
        ).id
        for i, a in enumerate(operators)
    ]
    sender = OutboxSender(
        w3, SETTLER, store.outbox, PostgresSenderLock(postgres_url),
        decoder=session.events,
    )  # fmt: skip
    return World(
        store, session, ChainSettlement(session, {"settler": sender}, store.outbox), contracts, nodes, chain_ids,
        *_hash_proofs(market),
    )  # fmt: skip


def _close(store: PostgresStore, rewards: dict[NodeId, int], reps: dict[NodeId, int]) -> EpochId:
    ep = store.epochs.current()
    store.epochs.record_nodes(
        [
            EpochNode(ep.id, n, Wei(r), 5000, reps.get(n, 5000), 5000, False)
            for n, r in rewards.items()
        ]
    )
    store.epochs.close(ep.id, Wei(sum(rewards.values())), CID)
    return ep.id


def _claim(w: World, account: LocalAccount, epoch: int | None = None) -> int:
    entry = w.store.settlements.claim_of(account=account.address, epoch_id=epoch)
    assert entry is not None
    give_eth(w.session.w3, account.address)
    before = w.session.token.balance_of(account.address)
    call = w.session.settlement.claim_entry(entry)
    DirectSender(w.session.w3, account).send(call)
    return w.session.token.balance_of(account.address) - before


@pytest.fixture
def market_world(store, postgres_url, chain: Web3, market: Market) -> World:
    return _world(store, postgres_url, chain, market)


def test_an_epoch_settles_finalizes_and_each_node_claims_its_cumulative_reward(
    market_world: World,
) -> None:
    w = market_world
    a, b, off = w.nodes
    e1 = _close(w.store, {a: 6 * MRT, b: 4 * MRT, off: 1 * MRT}, {a: 9000, b: 5500, off: 7000})

    result = settle_epoch(w.store, w.chain, e1, prove=w.prove, check=w.check)
    s = result.settlement
    assert result.sent and s.status is SettlementStatus.PROPOSED
    assert s.total_wei == 10 * MRT and s.left_out == (off,)  # `off` has no on-chain identity
    assert "no on-chain identity" in result.message
    assert w.session.settlement.proposal_of(e1).rewards_root == s.root
    leaves = w.store.settlements.claims(e1)
    assert [(c.chain_node_id, c.cumulative_wei) for c in leaves] == [
        (w.chain_ids[0], 6 * MRT), (w.chain_ids[1], 4 * MRT),
    ]  # fmt: skip
    for c in leaves:
        assert verify(
            [bytes.fromhex(p[2:]) for p in c.proof],
            bytes.fromhex(s.root[2:]),
            leaf(e1, c.chain_node_id, c.account, c.cumulative_wei),
        )

    # a retry sends nothing new
    nonce = w.session.w3.eth.get_transaction_count(SETTLER.address)
    again = settle_epoch(w.store, w.chain, e1, prove=w.prove, check=w.check)
    assert not again.sent and again.settlement.root == s.root
    assert w.session.w3.eth.get_transaction_count(SETTLER.address) == nonce
    # even when the record lost its status, the outbox answers from the receipt
    w.store.settlements.set_status(e1, SettlementStatus.RECORDED)
    resent = settle_epoch(w.store, w.chain, e1, prove=w.prove, check=w.check)
    assert resent.tx_hash == w.store.outbox.get_by_intent(intent_key(31337, e1, "propose")).tx_hash
    assert w.session.w3.eth.get_transaction_count(SETTLER.address) == nonce

    early = finalize_epoch(w.store, w.chain, e1)
    assert not early.sent and early.message.startswith("not yet")
    assert w.store.outbox.get_by_intent(intent_key(31337, e1, "finalize")) is None

    travel(w.session.w3, w.session.settlement.challenge_window_s() + 1)
    done = finalize_epoch(w.store, w.chain, e1)
    assert done.sent and done.settlement.status is SettlementStatus.FINALIZED
    assert w.session.settlement.last_finalized_epoch() == e1
    assert w.session.registry.reputation_bp(w.chain_ids[0]) == 9000
    assert w.session.registry.reputation_bp(w.chain_ids[1]) == 5500
    assert not finalize_epoch(w.store, w.chain, e1).sent

    assert _claim(w, OPERATORS[0]) == 6 * MRT

    # epoch 2: only `a` earns; `b` keeps its cumulative leaf and claims both epochs at once
    e2 = _close(w.store, {a: 3 * MRT, b: 0}, {a: 9100, b: 5400})
    s2 = settle_epoch(w.store, w.chain, e2, prove=w.prove, check=w.check).settlement
    assert s2.total_wei == 3 * MRT and s2.status is SettlementStatus.PROPOSED
    travel(w.session.w3, w.session.settlement.challenge_window_s() + 1)
    assert finalize_epoch(w.store, w.chain, e2).sent
    assert [(c.chain_node_id, c.cumulative_wei) for c in w.store.settlements.claims(e2)] == [
        (w.chain_ids[0], 9 * MRT), (w.chain_ids[1], 4 * MRT),
    ]  # fmt: skip
    assert _claim(w, OPERATORS[0]) == 3 * MRT  # only what is new since its first claim
    assert _claim(w, OPERATORS[1]) == 4 * MRT
    assert w.session.settlement.claimed_of(w.chain_ids[0]) == 9 * MRT


def test_epochs_settle_in_order_and_an_open_epoch_not_at_all(market_world: World) -> None:
    w = market_world
    a, b, _ = w.nodes
    with pytest.raises(Conflict, match="still open"):
        settle_epoch(w.store, w.chain, w.store.epochs.current().id, prove=w.prove, check=w.check)
    _close(w.store, {a: MRT}, {})
    e2 = _close(w.store, {b: MRT}, {})
    with pytest.raises(Conflict, match="epochs settle in order"):
        settle_epoch(w.store, w.chain, e2, prove=w.prove, check=w.check)


# --- the commands -------------------------------------------------------------------------------


def test_the_commands_settle_finalize_and_claim(
    store, postgres_url, chain: Web3, market: Market, anvil, tmp_path, monkeypatch
) -> None:
    operators = [Account.from_key(dev_account(n).private_key) for n in ("dev:7", "dev:8")] + [
        OPERATORS[2]
    ]

    w = _world(store, postgres_url, chain, market, operators)
    a, b, _ = w.nodes
    e1 = _close(w.store, {a: 6 * MRT, b: 4 * MRT}, {a: 8000})

    # the CLI reads the market set as this chain's deployment
    data_dir = tmp_path / "data"
    record = Deployment(
        31337, DEPLOYER.address, artifacts_source_hash(), market.params,
        {**market.contracts, **{n: replace(market.verifier, name=n) for n in _VERIFIERS}},
    )  # fmt: skip
    write_record(data_dir / "deployments", record)
    monkeypatch.setenv("MERIT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MERIT_CHAIN_RPC_URL", anvil.rpc_url)
    monkeypatch.setenv("MERIT_DATABASE_URL", postgres_url)
    monkeypatch.delenv("MERIT_ACCOUNT", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        settle_epoch(w.store, w.chain, e1, prove=w.prove, check=w.check)  # with the test verifier's proof
        early = runner.invoke(app, ["epoch", "finalize", str(e1), "--json"])
        assert early.exit_code == 0 and json.loads(early.stdout)["status"] == "proposed"
        travel(chain, w.session.settlement.challenge_window_s() + 1)
        done = runner.invoke(app, ["epoch", "finalize", str(e1), "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["status"] == "finalized"

        me = operators[0].address
        before = w.session.token.balance_of(me)
        nonce = chain.eth.get_transaction_count(me)
        dry = runner.invoke(app, ["claim", "--account", "dev:7", "--dry-run", "--json"])
        assert dry.exit_code == 0, dry.output
        assert json.loads(dry.stdout)["calls"][0]["call"].startswith("EpochSettlement.claim(")
        assert chain.eth.get_transaction_count(me) == nonce

        paid = runner.invoke(app, ["claim", "--account", "dev:7"])
        assert paid.exit_code == 0, paid.output
        assert w.session.token.balance_of(me) - before == 6 * MRT
        assert "claimed 6 MRT" in paid.stdout

        again = runner.invoke(app, ["claim", "--account", "dev:7"])
        assert again.exit_code != 0
        (line,) = again.stderr.strip().splitlines()
        assert f"nothing to claim: node {w.chain_ids[0]} has claimed 6 MRT of 6 MRT" in line

        nobody = runner.invoke(app, ["claim", "--account", "dev:9"])
        assert nobody.exit_code != 0 and "nothing to claim" in nobody.stderr

        # bonds and challenges: anyone reads them, an account posts and withdraws its own bond
        bond = json.loads(runner.invoke(app, ["bond", "show", "--of", SETTLER.address, "--json"]).stdout)
        assert int(bond["bond_wei"]) == int(bond["settler_bond_wei"]) and bond["locked_wei"] == "0"
        assert json.loads(runner.invoke(app, ["challenge", "show", str(e1), "--json"]).stdout) is None
        posted = runner.invoke(app, ["bond", "post", "2", "--account", "dev:7"])
        assert posted.exit_code == 0, posted.output
        assert w.session.settlement.bond_of(me) == (2 * MRT, 0)
        assert runner.invoke(app, ["bond", "withdraw", "2", "--account", "dev:7"]).exit_code == 0
        assert w.session.token.balance_of(me) - before == 6 * MRT
        ruled = runner.invoke(app, ["challenge", "resolve", str(e1), "--upheld", "--account", "dev:12"])
        assert ruled.exit_code != 0 and len(ruled.stderr.strip().splitlines()) == 1
        wrong = runner.invoke(app, ["challenge", "resolve", str(e1), "--rejected", "--account", "dev:7"])
        assert wrong.exit_code != 0 and len(wrong.stderr.strip().splitlines()) == 1
    finally:
        get_settings.cache_clear()


def test_a_proposal_cancelled_by_an_upheld_challenge_is_proposed_again_and_finalizes(
    market_world: World,
) -> None:
    from services.app.recovery import finalize_due
    from services.chain.challenges import ChainChallenges, ensure_settler_bond
    from tests.contracts.market import RESOLVER

    w = market_world
    a, b, _ = w.nodes
    settlement = w.session.settlement
    epoch = _close(w.store, {a: 2 * MRT, b: MRT}, {})
    first = settle_epoch(w.store, w.chain, epoch, prove=w.prove, check=w.check)
    assert first.sent and not w.chain.proposal_cancelled(epoch)

    griefer = operator(60)  # anyone may challenge; here the resolver (wrongly) upholds
    w.contracts.faucet(griefer, int(settlement.challenge_bond()), settlement.address)
    ChainChallenges(w.session, griefer).challenge(epoch, CID)
    assert not w.chain.proposal_cancelled(epoch)  # open, not yet ruled on
    ChainChallenges(w.session, RESOLVER).resolve(epoch, True)
    assert w.chain.proposal_cancelled(epoch)

    # the settler's bond was slashed: proposing again needs it posted again, and says so; the
    # reconciler tries at each run and goes on once it is posted
    with pytest.raises(Conflict, match="bond"):
        settle_epoch(w.store, w.chain, epoch, prove=w.prove, check=w.check)
    assert finalize_due(w.store, w.chain) == []
    ensure_settler_bond(w.session, DEPLOYER, SETTLER.address)
    (again,) = finalize_due(w.store, w.chain)
    assert again.sent and again.tx_hash != first.tx_hash
    assert again.settlement.status is SettlementStatus.PROPOSED
    assert again.settlement.propose_intent == intent_key(31337, epoch, "propose:2")
    assert not w.chain.proposal_cancelled(epoch)
    assert not settle_epoch(w.store, w.chain, epoch, prove=w.prove, check=w.check).sent  # once

    travel(w.session.w3, settlement.challenge_window_s() + 1)
    assert finalize_epoch(w.store, w.chain, epoch).sent
    assert settlement.last_finalized_epoch() == epoch
    assert _claim(w, OPERATORS[0]) == 2 * MRT

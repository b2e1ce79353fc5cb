"""`merit watch` against the real chain, prover and content store: an honest epoch passes and
finalizes untouched; a settler who pays other rewards than the epoch's judgments imply (a bundle
whose allocations were edited, proven with the real prover) is challenged inside the window, the
resolver upholds, the settler's bond goes to the watcher, the false epoch pays nothing, and the
corrected proposal finalizes."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from services.app.bundles import load_bundle, put_bundle
from services.app.epochs import bundle
from services.app.settlement import ProofRequest, finalize_epoch, settle_epoch
from services.app.watch import WatchState, watch_once
from services.chain.challenges import ChainChallenges, ensure_settler_bond
from services.chain.contracts import ChallengeStatus
from services.chain.tx import DirectSender
from services.core import epoch as core_epoch
from services.core import settlement as core_settlement
from services.core.reputation import Reputation
from services.core.settlement import OnChainReward
from services.core.types import (
    EpochId, EpochNode, Wei,
)  # fmt: skip
from tests.contracts.market import DEPLOYER, MRT, RESOLVER, SETTLER, give_eth, operator, travel
from services.core.work import SigningDomain
from tests.integration.test_settlement import OPERATORS, operator_metadata
from tests.unit.test_watch import paid_tasks, signed_work
from tests.integration.test_zk_settlement import ZkWorld, warm_prover, zk_world  # noqa: F401
from zk.epoch_proof import EpochProver, make_proof

WATCHER: LocalAccount = operator(90)


def _close(z: ZkWorld) -> tuple[EpochId, dict, core_epoch.EpochResult]:
    """Close the open epoch as close_epoch does: the core's close over the tasks, its bundle
    (with each node's operator) in the content store, the rewards in the database."""
    store = z.w.store
    a, b, off = z.w.nodes
    ep = store.epochs.current()
    before = {n: Reputation(5000, 5000) for n in (a, b, off)}
    for account in OPERATORS[:2]:  # the registry nodes' metadata documents, by the CIDs registered
        z.content.put(operator_metadata(account))
    keys = {n: bytes(OPERATORS[i].key) for i, n in enumerate((a, b, off))}  # each signs its work
    domain = SigningDomain(31337, z.w.session.registry.address)
    tasks, answers = signed_work(paid_tasks(a, b, off), keys, domain)
    result = core_epoch.close(ep.id, tasks, before)
    addresses = {n: OPERATORS[i].address for i, n in enumerate((a, b, off))}
    doc = bundle(ep.id, tasks, result, {}, None, addresses, answers, addresses)
    cid = put_bundle(z.content, doc)
    store.epochs.record_nodes([
        EpochNode(ep.id, n.node_id, n.reward, n.before.score_bp, n.after.score_bp, n.after.anchor_bp,
                  n.withheld)
        for n in result.nodes
    ])  # fmt: skip
    store.epochs.close(ep.id, result.pool, cid)
    return ep.id, load_bundle(z.content, cid), result


def _watcher(z: ZkWorld, tmp_path: Path) -> tuple[ChainChallenges, WatchState]:
    session = z.w.session
    give_eth(session.w3, WATCHER.address)
    bond = int(session.settlement.challenge_bond())
    DirectSender(session.w3, WATCHER).send(session.token.faucet(WATCHER.address, bond))
    return ChainChallenges(session, WATCHER), WatchState.load(tmp_path / "watch.json")


def _prover(z: ZkWorld) -> EpochProver:
    return EpochProver(lambda cid: load_bundle(z.content, cid), z.prover.prover)


def test_an_honest_epoch_passes_and_finalizes_untouched(zk_world: ZkWorld, tmp_path: Path) -> None:
    z, w = zk_world, zk_world.w
    epoch, _, result = _close(z)
    prover = _prover(z)
    assert settle_epoch(w.store, w.chain, epoch, prove=prover.prove, check=prover.check).sent
    chain, state = _watcher(z, tmp_path)

    (verdict,) = watch_once(chain, z.content, state)

    assert verdict.line() == f"epoch {epoch} PASS"
    assert w.session.settlement.challenge_of(epoch) is None
    assert watch_once(chain, z.content, WatchState.load(tmp_path / "watch.json")) == []  # cursor
    travel(w.session.w3, w.session.settlement.challenge_window_s() + 1)
    assert finalize_epoch(w.store, w.chain, epoch).sent


def test_a_settler_paying_other_rewards_than_the_judgments_is_challenged_and_slashed(
    zk_world: ZkWorld, tmp_path: Path
) -> None:
    z, w = zk_world, zk_world.w
    session, settlement = w.session, w.session.settlement
    a, b, _ = w.nodes
    epoch, doc, result = _close(z)
    honest = {n.node_id: int(n.reward) for n in result.nodes}

    # the settler moves 1 MRT of b's allocation to a, in the tasks and the nodes of its bundle,
    # and proves the split of those scores: the proof holds, the judgments do not say so
    false = copy.deepcopy(doc)
    task = false["tasks"][0]["rewards_wei"]
    task[str(a)], task[str(b)] = str(int(task[str(a)]) + MRT), str(int(task[str(b)]) - MRT)
    for n in false["nodes"]:
        shift = {a: MRT, b: -MRT}.get(n["node_id"], 0)
        n["reward_wei"] = str(int(n["reward_wei"]) + shift)
    false_cid = put_bundle(z.content, false)
    paid = {a: honest[a] + MRT, b: honest[b] - MRT}
    chain_ids = dict(zip((a, b), w.chain_ids, strict=True))
    rewards = [OnChainReward(n, chain_ids[n], OPERATORS[i].address, Wei(paid[n])) for i, n in enumerate((a, b))]
    reps = {chain_ids[n.node_id]: n.after.score_bp for n in result.nodes if n.node_id in chain_ids}
    plan = core_settlement.plan(epoch, rewards, [], reps)
    request = ProofRequest(epoch, false_cid, bytes(32), plan.tree.root, int(plan.total_wei), plan.entries)
    request = replace(request, chain_id=31337, settlement=settlement.address)  # bound to this deployment
    made, _ = make_proof(request, lambda cid: load_bundle(z.content, cid), z.prover.prover)
    sender = DirectSender(session.w3, SETTLER)
    sender.send(settlement.propose(
        epoch, plan.tree.root, int(plan.total_wei), false_cid, plan.rep_first_word,
        list(plan.rep_words), made.proof,
    ))  # fmt: skip

    chain, state = _watcher(z, tmp_path)
    (verdict,) = watch_once(chain, z.content, state)

    assert verdict.status == "CHALLENGED" and verdict.evidence_cid
    assert verdict.line() == f"epoch {epoch} CHALLENGED {verdict.evidence_cid}"
    evidence = json.loads(z.content.get(verdict.evidence_cid))
    whats = {d["what"]: d for d in evidence["differences"]}
    assert whats[f"row of node {a} reward"] == {
        "what": f"row of node {a} reward", "expected": str(honest[a]), "found": str(paid[a])
    }
    assert f"task {doc['tasks'][0]['task_id'][:8]} allocation" in whats
    held = settlement.challenge_of(epoch)
    assert held and held.status is ChallengeStatus.OPEN and held.challenger == WATCHER.address
    assert held.evidence_cid == verdict.evidence_cid
    travel(session.w3, settlement.challenge_window_s() + 1)
    with pytest.raises(Exception, match="open challenge"):
        sender.send(settlement.finalize(epoch, plan.rep_first_word, list(plan.rep_words)))

    # the resolver upholds: the proposal is gone, the settler's bond is the watcher's
    bond, challenge_bond = int(settlement.settler_bond()), int(settlement.challenge_bond())
    ChainChallenges(session, RESOLVER).resolve(epoch, True)
    assert session.token.balance_of(WATCHER.address) == bond + challenge_bond
    assert settlement.bond_of(SETTLER.address) == (0, 0)
    assert settlement.last_finalized_epoch() == 0 and settlement.proposal_of(epoch) is None
    assert settlement.contract.functions.totalSettled().call() == 0  # the false epoch pays nothing

    # the settler bonds again and proposes the epoch from the honest bundle: it passes
    ensure_settler_bond(session, DEPLOYER, SETTLER.address)
    prover = _prover(z)
    assert settle_epoch(w.store, w.chain, epoch, prove=prover.prove, check=prover.check).sent
    (again,) = watch_once(chain, z.content, state)
    assert again.line() == f"epoch {epoch} PASS"
    travel(session.w3, settlement.challenge_window_s() + 1)
    assert finalize_epoch(w.store, w.chain, epoch).sent
    assert settlement.contract.functions.totalSettled().call() == honest[a] + honest[b]

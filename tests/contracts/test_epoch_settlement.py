"""EpochSettlement on a real anvil with the test-only HashVerifier: propose, challenge, finalize,
cumulative claims, and every way a settlement must refuse."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractCustomError

from services.chain.client import ChainReverted, decode_revert
from services.chain.compiler import TEST_ARTIFACTS_DIR, load_artifact
from services.chain.deploy import DEV_PARAMS, _deploy_one
from services.chain.rpc import account_from_key
from services.core.merkle import hash_verifier_proof, leaf, reputation_hash, reputation_words
from services.settings import ANVIL_DEV_KEY
from tests.contracts.market import (
    ADMIN,
    CID,
    DEPLOYER,
    EVIDENCE,
    MRT,
    RESOLVER,
    SETTLER,
    TREASURY,
    Contracts,
    events,
    give_eth,
    now,
    operator,
    reverts,
    travel,
    tree_of,
    tx,
)
from tests.fixtures.chain import REPO_ROOT, Market, bond_settler

NODES: list[LocalAccount] = [operator(20 + i) for i in range(3)]


@pytest.fixture
def c(chain: Web3, market: Market) -> Contracts:
    return Contracts(chain, market)


@pytest.fixture
def ids(c: Contracts) -> list[int]:
    """Three registered nodes."""
    return [c.register(account) for account in NODES]


def _epoch1(ids: list[int]):
    return tree_of(1, {ids[0]: (NODES[0].address, 6 * MRT), ids[1]: (NODES[1].address, 4 * MRT)})


def _window(c: Contracts) -> int:
    return int(c.settlement.functions.challengeWindow().call())


# --- the happy path ---------------------------------------------------------------------------


def test_an_epoch_settles_and_every_node_pulls_its_reward(c: Contracts, ids: list[int]) -> None:
    fees, total = 4 * MRT, 10 * MRT
    c.fund_epoch(1, fees)
    tree = _epoch1(ids)
    reps = {ids[0]: 9_000, ids[1]: 5_500, ids[2]: 1_000}
    first, words = reputation_words(reps)

    receipt = c.propose(1, tree, total, reps)

    assert events(c.settlement, "EpochProposed", receipt) == [
        {
            "epoch": 1,
            "rewardsRoot": tree.root,
            "total": total,
            "auditCid": CID,
            "reputationHash": reputation_hash(first, words),
            "proposer": SETTLER.address,
        }
    ]
    assert c.settlement.functions.statusOf(1).call() == 1  # Proposed
    ends = now(c.w3) + _window(c)
    assert c.settlement.functions.challengeEndsAt(1).call() == ends
    with reverts("EpochSettlementChallengeWindowOpen", 1, ends):
        c.finalize(1, reps)
    with reverts("EpochSettlementEpochNotClaimable", 1):
        c.claim(tree, ids[0])

    travel(c.w3, _window(c))
    receipt = c.finalize(1, reps)

    assert events(c.settlement, "EpochFinalized", receipt) == [
        {"epoch": 1, "total": total, "emission": total - fees, "carry": 0}
    ]
    assert c.settlement.functions.statusOf(1).call() == 2  # Finalized
    assert [c.registry.functions.reputationOf(i).call() for i in ids] == [9_000, 5_500, 1_000]
    assert c.registry.functions.reputationEpoch().call() == 1
    assert c.balance(c.settlement.address) == total + DEV_PARAMS.settler_bond_wei  # + the bond
    assert c.settlement.functions.totalSettled().call() == total

    receipt = c.claim(tree, ids[0], account=NODES[2])  # anyone may submit; the leaf names the payee
    assert events(c.settlement, "RewardClaimed", receipt) == [
        {
            "epoch": 1,
            "nodeId": ids[0],
            "account": NODES[0].address,
            "amount": 6 * MRT,
            "cumulativeAmount": 6 * MRT,
        }
    ]
    c.claim(tree, ids[1])
    assert c.balance(NODES[0].address) == 6 * MRT
    assert c.balance(NODES[1].address) == 4 * MRT
    assert c.settlement.functions.totalClaimed().call() == total
    assert c.balance(c.settlement.address) == DEV_PARAMS.settler_bond_wei


def test_one_claim_covers_every_epoch_since_the_last(c: Contracts, ids: list[int]) -> None:
    a, b = ids[0], ids[1]
    first = _epoch1(ids)
    c.settle(1, first, 10 * MRT)
    c.claim(first, a)  # a claims epoch 1; b waits
    second = tree_of(2, {a: (NODES[0].address, 9 * MRT), b: (NODES[1].address, 11 * MRT)})
    c.settle(2, second, 10 * MRT)

    receipt = c.claim(second, a)
    (paid,) = events(c.settlement, "RewardClaimed", receipt)
    assert (paid["amount"], paid["cumulativeAmount"]) == (3 * MRT, 9 * MRT)
    receipt = c.claim(second, b)
    (paid,) = events(c.settlement, "RewardClaimed", receipt)
    assert (paid["amount"], paid["cumulativeAmount"]) == (11 * MRT, 11 * MRT)

    assert c.balance(NODES[0].address) == 9 * MRT
    assert c.balance(NODES[1].address) == 11 * MRT
    assert c.settlement.functions.totalClaimed().call() == 20 * MRT
    with reverts("EpochSettlementNothingToClaim", a, 6 * MRT, 9 * MRT):
        c.claim(first, a)  # an older, smaller leaf pays nothing


def test_a_pool_larger_than_the_total_carries_into_the_next_epoch(
    c: Contracts, ids: list[int]
) -> None:
    c.fund_epoch(1, 15 * MRT)
    receipt = c.settle(1, _epoch1(ids), 10 * MRT)
    assert events(c.settlement, "EpochFinalized", receipt)[0]["carry"] == 5 * MRT
    assert c.settlement.functions.carry().call() == 5 * MRT

    c.fund_epoch(2, 1 * MRT)
    second = tree_of(2, {ids[0]: (NODES[0].address, 16 * MRT)})
    receipt = c.settle(2, second, 6 * MRT)

    assert events(c.settlement, "EpochFinalized", receipt)[0] == {
        "epoch": 2,
        "total": 6 * MRT,
        "emission": 0,
        "carry": 0,
    }


# --- claims that must fail --------------------------------------------------------------------


def test_a_claim_is_paid_once(c: Contracts, ids: list[int]) -> None:
    tree = _epoch1(ids)
    c.settle(1, tree, 10 * MRT)
    c.claim(tree, ids[0])
    with reverts("EpochSettlementNothingToClaim", ids[0], 6 * MRT, 6 * MRT):
        c.claim(tree, ids[0])
    assert c.balance(NODES[0].address) == 6 * MRT


def test_a_wrong_proof_or_a_changed_leaf_is_refused(c: Contracts, ids: list[int]) -> None:
    tree = _epoch1(ids)
    c.settle(1, tree, 10 * MRT)
    a, b = ids[0], ids[1]
    claim = c.settlement.functions.claim
    with reverts("EpochSettlementInvalidProof", 1, a):
        tx(c.w3, DEPLOYER, claim(1, a, NODES[0].address, 6 * MRT, tree.proof(b)))
    with reverts("EpochSettlementInvalidProof", 1, a):
        tx(c.w3, DEPLOYER, claim(1, a, NODES[0].address, 7 * MRT, tree.proof(a)))
    with reverts("EpochSettlementInvalidProof", 1, a):
        tx(c.w3, DEPLOYER, claim(1, a, NODES[2].address, 6 * MRT, tree.proof(a)))
    with reverts("EpochSettlementInvalidProof", 1, b):
        tx(c.w3, DEPLOYER, claim(1, b, NODES[0].address, 6 * MRT, tree.proof(a)))
    assert c.settlement.functions.totalClaimed().call() == 0


def test_claims_never_exceed_what_was_settled(c: Contracts, ids: list[int]) -> None:
    """Even a root whose entries sum above the total (a bad proposal that got through) cannot pay
    out more than the settled total."""
    greedy = tree_of(1, {ids[0]: (NODES[0].address, 8 * MRT), ids[1]: (NODES[1].address, 8 * MRT)})
    c.settle(1, greedy, 10 * MRT)
    c.claim(greedy, ids[0])
    with reverts("EpochSettlementPoolExceeded", 8 * MRT, 2 * MRT):
        c.claim(greedy, ids[1])


def test_only_the_latest_finalized_epochs_are_claimable(c: Contracts, ids: list[int]) -> None:
    first = _epoch1(ids)
    c.settle(1, first, 10 * MRT)
    second = tree_of(2, {ids[0]: (NODES[0].address, 7 * MRT), ids[1]: (NODES[1].address, 4 * MRT)})
    c.settle(2, second, 1 * MRT)
    c.claim(first, ids[1])  # epoch 1 still held: nothing newer is proposed
    third = tree_of(3, {ids[0]: (NODES[0].address, 8 * MRT), ids[1]: (NODES[1].address, 4 * MRT)})
    c.propose(3, third, 1 * MRT)

    with reverts("EpochSettlementEpochNotClaimable", 1):
        c.claim(first, ids[0])
    with reverts("EpochSettlementEpochNotClaimable", 3):
        c.claim(third, ids[0])
    c.claim(second, ids[0])
    assert c.balance(NODES[0].address) == 7 * MRT


# --- proposals that must fail -----------------------------------------------------------------


def test_epochs_are_proposed_once_and_in_order(c: Contracts, ids: list[int]) -> None:
    tree = _epoch1(ids)
    with reverts("EpochSettlementOutOfOrder", 2, 1):
        c.propose(2, tree, MRT)
    with reverts("EpochSettlementOutOfOrder", 0, 1):
        c.propose(0, tree, MRT)
    c.propose(1, tree, 10 * MRT)
    with reverts("EpochSettlementAlreadyProposed", 1):
        c.propose(1, tree, 10 * MRT)
    with reverts("EpochSettlementEpochPending", 1):
        c.propose(2, tree, MRT)
    travel(c.w3, _window(c))
    c.finalize(1)
    with reverts("EpochSettlementOutOfOrder", 1, 2):
        c.propose(1, tree, 10 * MRT)  # a replayed proposal
    with reverts("EpochSettlementNotPending", 1):
        c.finalize(1)


def test_a_proof_the_verifier_rejects_reverts(c: Contracts, ids: list[int]) -> None:
    tree = _epoch1(ids)
    wrong_total = c.proof_for(1, tree.root, 11 * MRT)
    with reverts("EpochSettlementProofRejected", 1):
        c.propose(1, tree, 10 * MRT, proof=wrong_total)
    with reverts("EpochSettlementProofRejected", 1):
        c.propose(1, tree, 10 * MRT, proof=b"")
    assert c.settlement.functions.lastProposedEpoch().call() == 0


HASH_VERIFIER_GAS = 50_000  # contracts/test/HashVerifier.sol: GAS


def _needed(gas: int, proof: bytes) -> int:
    """What EpochSettlement requires left before the verifier call (EpochSettlement._verify)."""
    words = len(proof) // 32 + 8
    return gas + gas // 63 + 10_000 + 6 * words + words * words // 512


def test_the_verifier_gets_the_gas_it_asks_for_or_nothing_runs(
    c: Contracts, ids: list[int]
) -> None:
    tree = _epoch1(ids)
    proof = c.proof_for(1, tree.root, 10 * MRT)
    abi = load_artifact("HashVerifier", REPO_ROOT / TEST_ARTIFACTS_DIR)["abi"]
    verifier = c.w3.eth.contract(address=c.market.address("HashVerifier"), abi=abi)
    assert verifier.functions.verificationGas(proof).call() == HASH_VERIFIER_GAS
    call = c.settlement.functions.propose(1, tree.root, 10 * MRT, CID, 0, [], proof)
    with pytest.raises(ContractCustomError) as caught:
        call.call({"from": SETTLER.address, "gas": 70_000})
    name, args = decode_revert(caught.value.data)  # type: ignore[arg-type]
    assert name == "EpochSettlementVerifierGasTooLow"
    assert args[1] == _needed(HASH_VERIFIER_GAS, proof)
    # what the verifier asks for, not the cap, is what the proposal needs
    assert call.estimate_gas({"from": SETTLER.address}) < DEV_PARAMS.verifier_gas


def test_a_proof_needing_more_than_the_cap_is_refused(
    chain: Web3, market: Market, ids: list[int]
) -> None:
    me = account_from_key(ANVIL_DEV_KEY)
    capped = _deploy_one(
        chain, me, "EpochSettlement", market.address("MeritToken"),
        market.address("NodeRegistry"), market.address("HashVerifier"), me.address, 60,
        DEV_PARAMS.max_emission_per_epoch_wei, HASH_VERIFIER_GAS - 1, MRT, MRT,
    )  # fmt: skip
    settlement = chain.eth.contract(
        address=capped.address, abi=market.contract(chain, "EpochSettlement").abi
    )
    tx(
        chain,
        DEPLOYER,
        settlement.functions.grantRole(settlement.functions.SETTLER_ROLE().call(), me.address),
    )
    bond_settler(chain, capped.address, me.address)
    tree = _epoch1(ids)
    proof = hash_verifier_proof(market.verifier_key, 1, tree.root, 10 * MRT)
    with reverts("EpochSettlementVerifierGasAboveCap", HASH_VERIFIER_GAS, HASH_VERIFIER_GAS - 1):
        tx(chain, DEPLOYER, settlement.functions.propose(1, tree.root, 10 * MRT, CID, 0, [], proof))


def test_propose_refuses_strangers_and_empty_input(c: Contracts, ids: list[int]) -> None:
    tree = _epoch1(ids)
    with reverts("AccessControlUnauthorizedAccount"):
        c.propose(1, tree, 10 * MRT, account=NODES[0])
    proof = c.proof_for(1, b"\0" * 32, MRT)
    with reverts("EpochSettlementInvalidInput"):
        tx(c.w3, SETTLER, c.settlement.functions.propose(1, b"\0" * 32, MRT, CID, 0, [], proof))
    with reverts("EpochSettlementInvalidInput"):
        tx(c.w3, SETTLER, c.settlement.functions.propose(1, tree.root, MRT, "", 0, [], proof))


def test_the_total_is_bounded_by_pool_and_emission_cap(c: Contracts, ids: list[int]) -> None:
    cap = c.settlement.functions.maxEmissionPerEpoch().call()
    c.fund_epoch(1, 3 * MRT)
    with reverts("EpochSettlementTotalExceedsPool", cap + 3 * MRT + 1, cap + 3 * MRT):
        c.propose(1, _epoch1(ids), cap + 3 * MRT + 1)


def test_finalize_needs_the_committed_reputation_words(c: Contracts, ids: list[int]) -> None:
    reps = {ids[0]: 9_000, ids[1]: 5_000}
    c.propose(1, _epoch1(ids), 10 * MRT, reps)
    travel(c.w3, _window(c))
    with reverts("EpochSettlementReputationMismatch", 1):
        c.finalize(1, {ids[0]: 9_000, ids[1]: 5_001})
    with reverts("EpochSettlementNotPending", 2):
        c.finalize(2, reps)
    c.finalize(1, reps)


def test_finalize_refuses_reputation_of_nodes_that_do_not_exist(
    c: Contracts, ids: list[int]
) -> None:
    reps = {ids[2] + 1: 5_000}
    c.propose(1, _epoch1(ids), 10 * MRT, reps)
    travel(c.w3, _window(c))
    with reverts("NodeRegistryInvalidReputation", ids[2] + 1, 5_000):
        c.finalize(1, reps)


# --- challenges -------------------------------------------------------------------------------


def _challenger(c: Contracts, i: int = 0) -> LocalAccount:
    """A watcher with the challenge bond approved (any account may challenge)."""
    account = operator(60 + i)
    c.faucet(account, int(c.settlement.functions.challengeBond().call()), c.settlement.address)
    return account


def _challenge(c: Contracts, who: LocalAccount, epoch: int = 1, evidence: str = EVIDENCE):
    return tx(c.w3, who, c.settlement.functions.challenge(epoch, evidence), "challenge")


def _resolve(c: Contracts, epoch: int, upheld: bool, who: LocalAccount = RESOLVER):
    give_eth(c.w3, who.address)
    return tx(c.w3, who, c.settlement.functions.resolve(epoch, upheld), "resolve")


def _bonds(c: Contracts) -> tuple[int, int]:
    return (
        int(c.settlement.functions.settlerBond().call()),
        int(c.settlement.functions.challengeBond().call()),
    )


def test_anyone_may_challenge_with_a_bond_and_the_epoch_waits_for_the_resolver(
    c: Contracts, ids: list[int]
) -> None:
    settler_bond, challenge_bond = _bonds(c)
    assert (settler_bond, challenge_bond) == (DEV_PARAMS.settler_bond_wei, DEV_PARAMS.challenge_bond_wei)
    c.propose(1, _epoch1(ids), 10 * MRT)
    watcher = _challenger(c)
    held = c.balance(c.settlement.address)

    receipt = _challenge(c, watcher)

    assert events(c.settlement, "EpochChallenged", receipt) == [
        {"epoch": 1, "challenger": watcher.address, "evidenceCid": EVIDENCE}
    ]
    assert c.balance(watcher.address) == 0
    assert c.balance(c.settlement.address) == held + challenge_bond
    challenger, status, proposed_at, challenged_at, evidence = c.settlement.functions.challengeOf(1).call()
    assert (challenger, status, evidence) == (watcher.address, 1, EVIDENCE)  # Open
    assert proposed_at == c.settlement.functions.proposalOf(1).call()[4] <= challenged_at
    assert c.settlement.functions.statusOf(1).call() == 1  # still proposed
    with reverts("EpochSettlementUnderChallenge", 1, watcher.address):
        _challenge(c, _challenger(c, 1))  # one open challenge per epoch
    travel(c.w3, _window(c))
    with reverts("EpochSettlementUnderChallenge", 1, watcher.address):
        c.finalize(1)  # not even after the window: the resolver rules first


def test_a_challenge_needs_evidence_its_bond_and_an_open_window(c: Contracts, ids: list[int]) -> None:
    c.propose(1, _epoch1(ids), 10 * MRT)
    watcher = _challenger(c)
    with reverts("EpochSettlementInvalidInput"):
        _challenge(c, watcher, evidence="")
    with reverts("EpochSettlementNotPending", 2):
        _challenge(c, watcher, 2)
    broke = operator(70)
    give_eth(c.w3, broke.address)
    with reverts("ERC20InsufficientAllowance"):
        _challenge(c, broke)
    ends = c.settlement.functions.challengeEndsAt(1).call()
    travel(c.w3, _window(c))
    with reverts("EpochSettlementChallengeWindowClosed", 1, ends):
        _challenge(c, watcher)
    c.finalize(1)
    with reverts("EpochSettlementNotPending", 1):
        _challenge(c, watcher)


def test_an_upheld_challenge_cancels_the_epoch_and_pays_the_challenger_the_settlers_bond(
    c: Contracts, ids: list[int], market: Market
) -> None:
    settler_bond, challenge_bond = _bonds(c)
    bad = tree_of(1, {ids[0]: (NODES[0].address, 10 * MRT)})
    c.propose(1, bad, 10 * MRT)
    assert c.settlement.functions.bondOf(SETTLER.address).call() == [settler_bond, settler_bond]
    watcher = _challenger(c)
    _challenge(c, watcher)
    supply = c.token.functions.totalSupply().call()
    held = c.balance(c.settlement.address)

    receipt = _resolve(c, 1, True)

    assert events(c.settlement, "ChallengeUpheld", receipt) == [{
        "epoch": 1, "challenger": watcher.address, "settler": SETTLER.address,
        "slashed": settler_bond, "paid": challenge_bond + settler_bond,
    }]  # fmt: skip
    assert c.balance(watcher.address) == challenge_bond + settler_bond
    assert c.balance(c.settlement.address) == held - challenge_bond - settler_bond
    assert c.token.functions.totalSupply().call() == supply  # moved, never minted
    assert c.settlement.functions.bondOf(SETTLER.address).call() == [0, 0]
    assert c.settlement.functions.challengeOf(1).call()[1] == 2  # Upheld
    assert c.settlement.functions.statusOf(1).call() == 0  # cancelled
    assert c.settlement.functions.proposalOf(1).call()[3] == 0
    with reverts("EpochSettlementNotPending", 1):
        c.finalize(1)
    with reverts("EpochSettlementNoOpenChallenge", 1):
        _resolve(c, 1, False)

    # the slashed settler proposes again only with a new bond, and the corrected epoch settles
    good = _epoch1(ids)
    with reverts("EpochSettlementBondTooLow", SETTLER.address, 0, settler_bond):
        c.propose(1, good, 10 * MRT)
    bond_settler(c.w3, c.settlement.address, SETTLER.address)
    c.settle(1, good, 10 * MRT)
    assert c.settlement.functions.challengeOf(1).call()[1] == 2  # the old proposal's ruling
    c.claim(good, ids[1])
    with reverts("EpochSettlementInvalidProof", 1, ids[0]):
        c.claim(bad, ids[0])


def test_a_rejected_challenge_forfeits_its_bond_to_the_treasury_and_the_epoch_finalizes(
    c: Contracts, ids: list[int]
) -> None:
    settler_bond, challenge_bond = _bonds(c)
    tree = _epoch1(ids)
    c.propose(1, tree, 10 * MRT)
    watcher = _challenger(c)
    _challenge(c, watcher)
    treasury = c.balance(TREASURY.address)

    receipt = _resolve(c, 1, False)

    assert events(c.settlement, "ChallengeRejected", receipt) == [{
        "epoch": 1, "challenger": watcher.address, "forfeited": challenge_bond,
        "treasury": TREASURY.address,
    }]  # fmt: skip
    assert c.balance(TREASURY.address) == treasury + challenge_bond
    assert c.balance(watcher.address) == 0
    assert c.settlement.functions.challengeOf(1).call()[1] == 3  # Rejected
    assert c.settlement.functions.bondOf(SETTLER.address).call() == [settler_bond, settler_bond]
    ends = c.settlement.functions.challengeEndsAt(1).call()
    with reverts("EpochSettlementChallengeWindowOpen", 1, ends):
        c.finalize(1)  # the original window still runs
    other = _challenger(c, 1)
    _challenge(c, other)  # a new challenge inside the window, once the first is ruled on
    _resolve(c, 1, False)
    travel(c.w3, _window(c))
    c.finalize(1)
    assert c.settlement.functions.bondOf(SETTLER.address).call() == [settler_bond, 0]
    c.claim(tree, ids[0])


def test_only_the_resolver_rules_on_challenges(c: Contracts, ids: list[int]) -> None:
    c.propose(1, _epoch1(ids), 10 * MRT)
    with reverts("EpochSettlementNoOpenChallenge", 1):
        _resolve(c, 1, True)
    watcher = _challenger(c)
    _challenge(c, watcher)
    for who in (watcher, SETTLER, DEPLOYER, ADMIN):
        with reverts("AccessControlUnauthorizedAccount"):
            _resolve(c, 1, True, who)
    _resolve(c, 1, True)


def test_a_settler_without_a_free_bond_cannot_propose(c: Contracts, ids: list[int]) -> None:
    settler_bond, _ = _bonds(c)
    newcomer = operator(71)
    give_eth(c.w3, newcomer.address)
    give_eth(c.w3, ADMIN.address)
    role = c.settlement.functions.SETTLER_ROLE().call()
    tx(c.w3, ADMIN, c.settlement.functions.grantRole(role, newcomer.address), "grant")
    with reverts("EpochSettlementBondTooLow", newcomer.address, 0, settler_bond):
        c.propose(1, _epoch1(ids), 10 * MRT, account=newcomer)
    c.faucet(newcomer, settler_bond - 1, c.settlement.address)
    tx(c.w3, newcomer, c.settlement.functions.postBond(newcomer.address, settler_bond - 1), "bond")
    with reverts("EpochSettlementBondTooLow", newcomer.address, settler_bond - 1, settler_bond):
        c.propose(1, _epoch1(ids), 10 * MRT, account=newcomer)


def test_only_the_unlocked_bond_can_be_withdrawn_and_only_by_its_owner(
    c: Contracts, ids: list[int]
) -> None:
    settler_bond, _ = _bonds(c)
    give_eth(c.w3, SETTLER.address)
    c.faucet(DEPLOYER, MRT, c.settlement.address)
    receipt = tx(c.w3, DEPLOYER, c.settlement.functions.postBond(SETTLER.address, MRT), "bond")
    assert events(c.settlement, "BondPosted", receipt) == [
        {"account": SETTLER.address, "from": DEPLOYER.address, "amount": MRT,
         "bond": settler_bond + MRT}
    ]  # fmt: skip
    c.propose(1, _epoch1(ids), 10 * MRT)
    assert c.settlement.functions.bondOf(SETTLER.address).call() == [settler_bond + MRT, settler_bond]
    withdraw = c.settlement.functions.withdrawBond
    with reverts("EpochSettlementBondLocked", SETTLER.address, settler_bond, MRT):
        tx(c.w3, SETTLER, withdraw(settler_bond), "withdraw")
    with reverts("EpochSettlementBondLocked", DEPLOYER.address, MRT, 0):
        tx(c.w3, DEPLOYER, withdraw(MRT), "withdraw")  # who paid in does not own it
    with reverts("EpochSettlementInvalidInput"):
        tx(c.w3, SETTLER, withdraw(0), "withdraw")
    before = c.balance(SETTLER.address)
    receipt = tx(c.w3, SETTLER, withdraw(MRT), "withdraw")  # the free part
    assert events(c.settlement, "BondWithdrawn", receipt) == [
        {"account": SETTLER.address, "amount": MRT, "bond": settler_bond}
    ]
    travel(c.w3, _window(c))
    c.finalize(1)  # releases the lock
    tx(c.w3, SETTLER, withdraw(settler_bond), "withdraw")
    assert c.balance(SETTLER.address) == before + MRT + settler_bond
    assert c.settlement.functions.bondOf(SETTLER.address).call() == [0, 0]


def test_challenges_and_bonds_conserve_every_token(c: Contracts, ids: list[int]) -> None:
    """Token balances only move between the parties and the contract; the contract always holds
    the pools, every bond and the open challenge's bond."""
    settler_bond, challenge_bond = _bonds(c)
    c.fund_epoch(1, 4 * MRT)
    watchers = [_challenger(c, i) for i in range(3)]
    parties = [SETTLER, TREASURY, DEPLOYER, *watchers]
    supply = c.token.functions.totalSupply().call()

    def total() -> int:
        held = c.balance(c.settlement.address) + c.balance(c.registry.address)  # + stakes
        return sum(c.balance(p.address) for p in parties) + held

    def check(open_challenges: int) -> None:
        assert total() == supply == c.token.functions.totalSupply().call()
        bond = c.settlement.functions.bondOf(SETTLER.address).call()[0]
        assert c.balance(c.settlement.address) == 4 * MRT + bond + open_challenges * challenge_bond

    check(0)
    c.propose(1, tree_of(1, {ids[0]: (NODES[0].address, 10 * MRT)}), 10 * MRT)
    _challenge(c, watchers[0])
    check(1)
    _resolve(c, 1, True)
    check(0)
    bond_settler(c.w3, c.settlement.address, SETTLER.address)  # minted to the deployer first
    supply = c.token.functions.totalSupply().call()
    check(0)
    c.propose(1, _epoch1(ids), 4 * MRT)
    _challenge(c, watchers[1])
    check(1)
    _resolve(c, 1, False)
    check(0)
    travel(c.w3, _window(c))
    c.finalize(1)
    check(0)


# --- pools ------------------------------------------------------------------------------------


def test_fees_go_only_to_open_epochs(c: Contracts, ids: list[int]) -> None:
    c.settle(1, _epoch1(ids), 10 * MRT)
    c.faucet(DEPLOYER, MRT, c.settlement.address)
    with reverts("EpochSettlementEpochClosed", 1):
        tx(c.w3, DEPLOYER, c.settlement.functions.fund(1, MRT))
    with reverts("EpochSettlementInvalidInput"):
        tx(c.w3, DEPLOYER, c.settlement.functions.fund(2, 0))
    receipt = tx(c.w3, DEPLOYER, c.settlement.functions.fund(2, MRT))
    assert events(c.settlement, "PoolFunded", receipt) == [
        {"epoch": 2, "from": DEPLOYER.address, "amount": MRT, "pool": MRT}
    ]
    assert c.settlement.functions.poolOf(2).call() == MRT


# --- construction -----------------------------------------------------------------------------


def test_the_leaf_layout_matches_the_python_reference(c: Contracts) -> None:
    account = NODES[0].address
    assert c.settlement.functions.leafOf(7, 3, account, 5 * MRT).call() == leaf(
        7, 3, account, 5 * MRT
    )


def test_settlement_refuses_a_registry_that_unbonds_faster_than_the_window(
    chain: Web3, market: Market
) -> None:
    token = market.address("MeritToken")
    me = account_from_key(ANVIL_DEV_KEY)
    quick = _deploy_one(
        chain, me, "NodeRegistry", token, MRT, 59, me.address, me.address
    )
    with pytest.raises(ChainReverted) as caught:
        _deploy_one(
            chain,
            me,
            "EpochSettlement",
            token,
            quick.address,
            market.address("HashVerifier"),
            me.address,
            60,
            0,
            500_000,
            MRT,
            MRT,
        )
    assert caught.value.error_name == "EpochSettlementUnbondingShorterThanWindow"
    assert caught.value.error_args == (59, 60)
    with pytest.raises(ChainReverted) as caught:
        _deploy_one(
            chain, me, "EpochSettlement", token, quick.address, me.address, me.address,
            30, 0, 500_000, MRT, MRT,
        )  # fmt: skip
    assert caught.value.error_name == "EpochSettlementVerifierNotContract"
    for bonds in ((0, MRT), (MRT, 0)):  # a challenge must cost something, and so must a lie
        with pytest.raises(ChainReverted) as caught:
            _deploy_one(
                chain, me, "EpochSettlement", token, market.address("NodeRegistry"),
                market.address("HashVerifier"), me.address, 60, 0, 500_000, *bonds,
            )  # fmt: skip
        assert caught.value.error_name == "EpochSettlementInvalidConfig"

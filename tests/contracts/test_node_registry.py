"""NodeRegistry on a real anvil: register, stake, unbonding, withdraw, slash, attest, reputation."""

from __future__ import annotations

import pytest
from web3 import Web3

from services.chain.client import call_view
from tests.contracts.market import (
    CID,
    ADMIN,
    DEPLOYER,
    EXAMINER,
    SETTLER,
    EVIDENCE,
    MODEL_HASH,
    MRT,
    Contracts,
    events,
    now,
    operator,
    reverts,
    travel,
    tx,
)
from tests.fixtures.chain import Market

ALICE = operator(1)
BOB = operator(2)


@pytest.fixture
def c(chain: Web3, market: Market) -> Contracts:
    return Contracts(chain, market)


def _min(c: Contracts) -> int:
    return int(c.registry.functions.minStake().call())


# --- register and stake -----------------------------------------------------------------------


def test_register_with_more_than_the_minimum_stakes_it_all(c: Contracts) -> None:
    amount = 3 * _min(c)
    c.faucet(ALICE, amount, c.registry.address)

    receipt = tx(c.w3, ALICE, c.registry.functions.register(MODEL_HASH, CID, amount))

    (registered,) = events(c.registry, "NodeRegistered", receipt)
    (staked,) = events(c.registry, "Staked", receipt)
    assert registered == {
        "nodeId": 1,
        "operator": ALICE.address,
        "modelHash": MODEL_HASH,
        "metadataCid": CID,
    }
    assert staked == {"nodeId": 1, "operator": ALICE.address, "amount": amount, "total": amount}
    node = c.registry.functions.getNode(1).call()
    assert node[0] == ALICE.address and node[4:] == (amount, 0, 0)
    assert c.registry.functions.isActive(1).call()
    assert c.registry.functions.totalStaked().call() == amount
    assert c.balance(c.registry.address) == amount


def test_register_below_the_minimum_names_offer_and_minimum(c: Contracts) -> None:
    need = _min(c)
    c.faucet(ALICE, need, c.registry.address)
    with reverts("NodeRegistryInsufficientStake", ALICE.address, need - 1, need):
        tx(c.w3, ALICE, c.registry.functions.register(MODEL_HASH, CID, need - 1))


@pytest.mark.parametrize(
    ("model_hash", "cid"), [(b"\0" * 32, CID), (MODEL_HASH, "")], ids=["zero-hash", "empty-cid"]
)
def test_register_refuses_empty_identity(c: Contracts, model_hash: bytes, cid: str) -> None:
    need = _min(c)
    c.faucet(ALICE, need, c.registry.address)
    with reverts("NodeRegistryInvalidInput"):
        tx(c.w3, ALICE, c.registry.functions.register(model_hash, cid, need))


def test_stake_needs_a_node_an_amount_and_an_allowance(c: Contracts) -> None:
    with reverts("NodeRegistryNotRegistered", BOB.address):
        c.faucet(BOB, MRT, c.registry.address)
        tx(c.w3, BOB, c.registry.functions.stake(MRT))
    c.register(ALICE)
    with reverts("NodeRegistryInvalidInput"):
        tx(c.w3, ALICE, c.registry.functions.stake(0))
    with reverts("NodeRegistryInsufficientStake", ALICE.address, 0, MRT):
        tx(c.w3, ALICE, c.registry.functions.stake(MRT))


# --- unbonding --------------------------------------------------------------------------------


def test_unstake_waits_out_the_unbonding_period_then_withdraws(c: Contracts) -> None:
    need = _min(c)
    node = c.register(ALICE, 3 * need)
    period = c.registry.functions.unbondingPeriod().call()

    receipt = tx(c.w3, ALICE, c.registry.functions.requestUnstake(2 * need))

    ends = now(c.w3) + period
    (event,) = events(c.registry, "UnstakeRequested", receipt)
    assert event == {
        "nodeId": node,
        "operator": ALICE.address,
        "amount": 2 * need,
        "unbonding": 2 * need,
        "unbondingEnds": ends,
    }
    assert c.registry.functions.unbondingOf(node).call() == [2 * need, ends]
    assert c.registry.functions.stakeOf(node).call() == need
    assert c.registry.functions.totalUnbonding().call() == 2 * need
    with reverts("NodeRegistryStillUnbonding", node, ends):
        tx(c.w3, ALICE, c.registry.functions.withdraw())

    travel(c.w3, period - 10)
    with reverts("NodeRegistryStillUnbonding", node, ends):
        tx(c.w3, ALICE, c.registry.functions.withdraw())
    travel(c.w3, 10)
    receipt = tx(c.w3, ALICE, c.registry.functions.withdraw())

    assert events(c.registry, "Withdrawn", receipt) == [
        {"nodeId": node, "operator": ALICE.address, "amount": 2 * need}
    ]
    assert c.balance(ALICE.address) == 2 * need
    assert c.registry.functions.unbondingOf(node).call() == [0, 0]
    assert c.registry.functions.totalUnbonding().call() == 0
    with reverts("NodeRegistryNothingToWithdraw", node):
        tx(c.w3, ALICE, c.registry.functions.withdraw())


def test_a_second_unstake_restarts_the_timer(c: Contracts) -> None:
    need = _min(c)
    node = c.register(ALICE, 3 * need)
    period = c.registry.functions.unbondingPeriod().call()
    tx(c.w3, ALICE, c.registry.functions.requestUnstake(need))
    travel(c.w3, period - 5)
    tx(c.w3, ALICE, c.registry.functions.requestUnstake(need))
    ends = now(c.w3) + period
    travel(c.w3, 10)

    with reverts("NodeRegistryStillUnbonding", node, ends):
        tx(c.w3, ALICE, c.registry.functions.withdraw())


def test_unstake_keeps_the_minimum_or_nothing(c: Contracts) -> None:
    need = _min(c)
    node = c.register(ALICE, 2 * need)
    with reverts("NodeRegistryStakeBelowMinimum", need - 1, need):
        tx(c.w3, ALICE, c.registry.functions.requestUnstake(need + 1))
    with reverts("NodeRegistryUnstakeExceedsStake", node, 2 * need + 1, 2 * need):
        tx(c.w3, ALICE, c.registry.functions.requestUnstake(2 * need + 1))
    with reverts("NodeRegistryInvalidInput"):
        tx(c.w3, ALICE, c.registry.functions.requestUnstake(0))
    with reverts("NodeRegistryNotRegistered", BOB.address):
        tx(c.w3, BOB, c.registry.functions.requestUnstake(1))

    tx(c.w3, ALICE, c.registry.functions.requestUnstake(2 * need))

    assert not c.registry.functions.isActive(node).call()
    assert c.registry.functions.stakeOf(node).call() == 0


# --- slashing ---------------------------------------------------------------------------------


def test_slash_takes_active_stake_first_and_pays_the_treasury(c: Contracts) -> None:
    need = _min(c)
    node = c.register(ALICE, 2 * need)
    treasury = c.registry.functions.treasury().call()
    before = c.balance(treasury)

    receipt = tx(c.w3, SETTLER, c.registry.functions.slash(node, need // 2, EVIDENCE))

    assert events(c.registry, "Slashed", receipt) == [
        {
            "nodeId": node,
            "amount": need // 2,
            "fromStake": need // 2,
            "fromUnbonding": 0,
            "evidenceCid": EVIDENCE,
            "slasher": SETTLER.address,
        }
    ]
    assert c.balance(treasury) - before == need // 2
    assert c.registry.functions.stakeOf(node).call() == 2 * need - need // 2
    assert c.registry.functions.totalStaked().call() == 2 * need - need // 2


def test_slash_reaches_stake_that_is_unbonding(c: Contracts) -> None:
    need = _min(c)
    node = c.register(ALICE, 2 * need)
    tx(c.w3, ALICE, c.registry.functions.requestUnstake(need))  # need active, need unbonding

    receipt = tx(c.w3, SETTLER, c.registry.functions.slash(node, need + need // 4, EVIDENCE))

    (slashed,) = events(c.registry, "Slashed", receipt)
    assert (slashed["fromStake"], slashed["fromUnbonding"]) == (need, need // 4)
    assert c.registry.functions.stakeOf(node).call() == 0
    remaining = need - need // 4
    assert c.registry.functions.unbondingOf(node).call()[0] == remaining
    travel(c.w3, c.registry.functions.unbondingPeriod().call())
    tx(c.w3, ALICE, c.registry.functions.withdraw())
    assert c.balance(ALICE.address) == remaining  # the slashed part never comes back

    with reverts("NodeRegistrySlashExceedsStake", node, 1, 0):
        tx(c.w3, SETTLER, c.registry.functions.slash(node, 1, EVIDENCE))


def test_slash_needs_the_settler_role_evidence_and_a_node(c: Contracts) -> None:
    need = _min(c)
    node = c.register(ALICE, need)
    with reverts("AccessControlUnauthorizedAccount"):
        tx(c.w3, BOB, c.registry.functions.slash(node, 1, EVIDENCE))
    with reverts("NodeRegistryInvalidInput"):
        tx(c.w3, SETTLER, c.registry.functions.slash(node, 1, ""))
    with reverts("NodeRegistryInvalidInput"):
        tx(c.w3, SETTLER, c.registry.functions.slash(node, 0, EVIDENCE))
    with reverts("NodeRegistryUnknownNode", 9):
        tx(c.w3, SETTLER, c.registry.functions.slash(9, 1, EVIDENCE))
    with reverts("NodeRegistrySlashExceedsStake", node, need + 1, need):
        tx(c.w3, SETTLER, c.registry.functions.slash(node, need + 1, EVIDENCE))


# --- attestations -----------------------------------------------------------------------------


def test_attestation_counts_until_it_expires(c: Contracts) -> None:
    node = c.register(ALICE)
    until = now(c.w3) + 100
    assert not c.registry.functions.isAttested(node).call()

    receipt = tx(c.w3, EXAMINER, c.registry.functions.attest(node, 8_750, until))

    assert events(c.registry, "CapabilityAttested", receipt) == [
        {"nodeId": node, "attester": EXAMINER.address, "scoreBps": 8_750, "validUntil": until}
    ]
    score, valid_until, attester, attested_at = c.registry.functions.attestationOf(node).call()
    assert (score, valid_until, attester) == (8_750, until, EXAMINER.address)
    assert attested_at == now(c.w3)
    assert c.registry.functions.isAttested(node).call()
    travel(c.w3, 101)
    assert not c.registry.functions.isAttested(node).call()


def test_attest_refuses_bad_scores_past_expiry_and_strangers(c: Contracts) -> None:
    node = c.register(ALICE)
    later = now(c.w3) + 100
    with reverts("NodeRegistryInvalidAttestation", 10_001, later):
        tx(c.w3, EXAMINER, c.registry.functions.attest(node, 10_001, later))
    past = now(c.w3)
    with reverts("NodeRegistryInvalidAttestation", 5_000, past):
        tx(c.w3, EXAMINER, c.registry.functions.attest(node, 5_000, past))
    with reverts("NodeRegistryUnknownNode", 2):
        tx(c.w3, EXAMINER, c.registry.functions.attest(2, 5_000, later))
    with reverts("AccessControlUnauthorizedAccount"):
        tx(c.w3, ALICE, c.registry.functions.attest(node, 5_000, later))


# --- reputation -------------------------------------------------------------------------------


def test_only_settlement_writes_reputation(c: Contracts) -> None:
    c.register(ALICE)
    writer = c.registry.functions.REPUTATION_WRITER_ROLE().call()
    assert c.registry.functions.hasRole(writer, c.settlement.address).call()
    with reverts("AccessControlUnauthorizedAccount", DEPLOYER.address, writer):
        tx(c.w3, DEPLOYER, c.registry.functions.writeReputations(1, 0, [5_000 << 16]))


def test_reputation_words_carry_the_epoch_as_a_nonce_and_are_checked(c: Contracts) -> None:
    """With the writer role granted to the admin for this test only (snapshot reverts it)."""
    for i in range(3):
        c.register(operator(10 + i))
    writer = c.registry.functions.REPUTATION_WRITER_ROLE().call()
    tx(c.w3, ADMIN, c.registry.functions.grantRole(writer, ADMIN.address))
    word = (7_000 << 16) | (6_000 << 32) | (10_000 << 48)  # nodes 1, 2, 3

    receipt = tx(c.w3, ADMIN, c.registry.functions.writeReputations(4, 0, [word]))

    assert events(c.registry, "ReputationsWritten", receipt) == [
        {"epoch": 4, "firstWord": 0, "words": [word]}
    ]
    assert [c.registry.functions.reputationOf(i).call() for i in (1, 2, 3)] == [
        7_000,
        6_000,
        10_000,
    ]
    assert c.registry.functions.reputationEpoch().call() == 4
    for epoch in (4, 3):  # replay and reorder
        with reverts("NodeRegistryStaleReputationEpoch", epoch, 4):
            tx(c.w3, ADMIN, c.registry.functions.writeReputations(epoch, 0, [word]))
    with reverts("NodeRegistryInvalidReputation", 2, 10_001):
        tx(c.w3, ADMIN, c.registry.functions.writeReputations(5, 0, [10_001 << 32]))
    with reverts("NodeRegistryInvalidReputation", 4, 1):
        tx(c.w3, ADMIN, c.registry.functions.writeReputations(5, 0, [1 << 64]))  # no node 4
    with reverts("NodeRegistryInvalidReputation", 0, 1):
        tx(c.w3, ADMIN, c.registry.functions.writeReputations(5, 0, [1]))  # node id 0
    with reverts("NodeRegistryInvalidReputation", 16, 1):
        tx(c.w3, ADMIN, c.registry.functions.writeReputations(5, 1, [1]))


def test_views_of_an_unknown_node_revert_by_name(c: Contracts) -> None:
    for view in ("getNode", "stakeOf", "unbondingOf", "isActive", "attestationOf", "reputationOf"):
        with reverts("NodeRegistryUnknownNode", 0):
            call_view(getattr(c.registry.functions, view)(0), what=view)

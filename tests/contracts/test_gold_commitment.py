"""EpochSettlement's gold commitments on a real anvil: the Merkle root of an epoch's hidden gold
set is committed once, by the examiner, before the epoch is proposed, and read back with the time
it was committed (commit-then-reveal)."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from tests.contracts.market import (
    ADMIN,
    DEPLOYER,
    EXAMINER,
    EVIDENCE,
    MRT,
    RESOLVER,
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
from tests.fixtures.chain import Market

STRANGER: LocalAccount = operator(60)
EXAMINER_ROLE = Web3.keccak(text="EXAMINER_ROLE")
ROOT = Web3.keccak(text="gold set of epoch 1")
OTHER_ROOT = Web3.keccak(text="another gold set")
ZERO = b"\0" * 32


@pytest.fixture
def c(chain: Web3, market: Market) -> Contracts:
    return Contracts(chain, market)


def _commit(c: Contracts, epoch: int, root: bytes, account: LocalAccount = EXAMINER) -> TxReceipt:
    return tx(c.w3, account, c.settlement.functions.commitGold(epoch, root), f"commit gold {epoch}")


def _commitment(c: Contracts, epoch: int) -> tuple[bytes, int]:
    root, committed_at = c.settlement.functions.goldCommitmentOf(epoch).call()
    return bytes(root), int(committed_at)


def _propose(c: Contracts, epoch: int) -> None:
    c.propose(epoch, tree_of(epoch, {1: (DEPLOYER.address, MRT)}), MRT)


def test_a_gold_root_is_committed_with_its_time_and_an_event(c: Contracts) -> None:
    assert _commitment(c, 1) == (ZERO, 0)

    receipt = _commit(c, 1, ROOT)

    at = now(c.w3)
    assert events(c.settlement, "GoldCommitted", receipt) == [
        {"epoch": 1, "root": ROOT, "committedAt": at}
    ]
    assert _commitment(c, 1) == (ROOT, at)
    assert _commitment(c, 2) == (ZERO, 0)  # one epoch's commitment is not another's
    print(f"commitGold gas: {receipt['gasUsed']:,}")
    assert receipt["gasUsed"] < 80_000  # two fresh storage words and one event


def test_an_epoch_is_committed_once(c: Contracts) -> None:
    _commit(c, 1, ROOT)
    committed = _commitment(c, 1)
    travel(c.w3, 5)
    with reverts("EpochSettlementGoldAlreadyCommitted", 1):
        _commit(c, 1, OTHER_ROOT)
    with reverts("EpochSettlementGoldAlreadyCommitted", 1):
        _commit(c, 1, ROOT)  # not even re-stamped with a later time
    assert _commitment(c, 1) == committed
    _commit(c, 2, OTHER_ROOT)
    assert _commitment(c, 2)[0] == OTHER_ROOT


def test_a_zero_root_is_refused(c: Contracts) -> None:
    with reverts("EpochSettlementInvalidGoldRoot"):
        _commit(c, 1, ZERO)
    assert _commitment(c, 1) == (ZERO, 0)


def test_only_the_examiner_commits(c: Contracts) -> None:
    give_eth(c.w3, STRANGER.address)
    with reverts("AccessControlUnauthorizedAccount", STRANGER.address, EXAMINER_ROLE):
        _commit(c, 1, ROOT, STRANGER)

    # the role, not the settler's or challenger's, is what commitGold asks for
    tx(c.w3, ADMIN, c.settlement.functions.revokeRole(EXAMINER_ROLE, EXAMINER.address))
    with reverts("AccessControlUnauthorizedAccount"):
        _commit(c, 1, ROOT)
    tx(c.w3, ADMIN, c.settlement.functions.grantRole(EXAMINER_ROLE, STRANGER.address))
    _commit(c, 1, ROOT, STRANGER)
    assert _commitment(c, 1)[0] == ROOT


def test_gold_comes_too_late_once_the_epoch_is_proposed(c: Contracts) -> None:
    with reverts("EpochSettlementGoldTooLate", 0):
        _commit(c, 0, ROOT)  # epoch 0 never runs
    _propose(c, 1)
    with reverts("EpochSettlementGoldTooLate", 1):
        _commit(c, 1, ROOT)
    _commit(c, 2, ROOT)  # the next epoch may commit while this one is pending
    travel(c.w3, c.market.params.challenge_window_s)
    c.finalize(1)
    with reverts("EpochSettlementGoldTooLate", 1):
        _commit(c, 1, ROOT)
    _propose(c, 2)
    with reverts("EpochSettlementGoldAlreadyCommitted", 2):  # checked before the proposal
        _commit(c, 2, OTHER_ROOT)
    assert _commitment(c, 1) == (ZERO, 0)


def test_an_epoch_cancelled_by_an_upheld_challenge_is_no_longer_proposed(c: Contracts) -> None:
    """As documented: an upheld challenge reopens its epoch (lastProposedEpoch goes back)."""
    _propose(c, 1)
    watcher = operator(61)
    c.faucet(watcher, int(c.settlement.functions.challengeBond().call()), c.settlement.address)
    tx(c.w3, watcher, c.settlement.functions.challenge(1, EVIDENCE))
    with reverts("EpochSettlementGoldTooLate", 1):  # challenged, still proposed
        _commit(c, 1, ROOT)
    give_eth(c.w3, RESOLVER.address)
    tx(c.w3, RESOLVER, c.settlement.functions.resolve(1, True))
    _commit(c, 1, ROOT)
    assert _commitment(c, 1)[0] == ROOT

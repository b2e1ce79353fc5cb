"""Property tests on a real anvil: random sequences of operations never break conservation.

- Stake: the registry's token balance always equals active plus unbonding stake, each node's
  numbers follow a plain Python model, and the treasury receives exactly what was slashed.
- Rewards: over random epochs, fees and claims (repeated, stale and greedy ones included), the
  sum claimed never exceeds the sum settled, no node is ever paid beyond its cumulative
  entitlement, and the settlement's balance is exactly open pools + carry + settled - claimed.

Each example runs inside its own evm snapshot, reverted afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from web3 import Web3

from services.chain.client import ChainReverted
from tests.contracts.market import (
    ADMIN,
    DEPLOYER,
    SETTLER,
    EVIDENCE,
    MRT,
    Contracts,
    operator,
    snapshot,
    travel,
    tree_of,
    tx,
)
from tests.fixtures.chain import Market

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OPERATORS = [operator(60 + i) for i in range(3)]


@pytest.fixture
def c(chain: Web3, market: Market) -> Contracts:
    return Contracts(chain, market)


# --- stake ------------------------------------------------------------------------------------

stake_ops = st.lists(
    st.one_of(
        st.tuples(st.just("stake"), st.integers(0, 2), st.integers(1, 300)),
        st.tuples(st.just("unstake"), st.integers(0, 2), st.integers(1, 300)),
        st.tuples(st.just("withdraw"), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("slash"), st.integers(0, 2), st.integers(1, 400)),
        st.tuples(st.just("wait"), st.just(0), st.integers(1, 200)),
    ),
    min_size=1,
    max_size=10,
)


@dataclass
class StakeModel:
    stake: list[int] = field(default_factory=lambda: [0, 0, 0])
    unbonding: list[int] = field(default_factory=lambda: [0, 0, 0])
    ends: list[int] = field(default_factory=lambda: [0, 0, 0])
    slashed: int = 0


def _now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


@SETTINGS
@given(ops=stake_ops)
def test_stake_accounting_balances(c: Contracts, ops: list[tuple[str, int, int]]) -> None:
    reg = c.registry
    unit = c.market.params.min_stake_wei // 100
    minimum = c.market.params.min_stake_wei
    period = c.market.params.unbonding_period_s
    with snapshot(c.w3):
        treasury = reg.functions.treasury().call()
        treasury_before = c.balance(treasury)
        ids = [c.register(account, 2 * minimum) for account in OPERATORS]
        model = StakeModel(stake=[2 * minimum] * 3)
        for op, i, n in ops:
            amount = n * unit
            who, node = OPERATORS[i], ids[i]
            try:
                if op == "stake":
                    c.faucet(who, amount, reg.address)
                    tx(c.w3, who, reg.functions.stake(amount))
                    model.stake[i] += amount
                elif op == "unstake":
                    tx(c.w3, who, reg.functions.requestUnstake(amount))
                    model.stake[i] -= amount
                    model.unbonding[i] += amount
                    model.ends[i] = _now(c.w3) + period
                elif op == "withdraw":
                    tx(c.w3, who, reg.functions.withdraw())
                    assert _now(c.w3) >= model.ends[i] and model.unbonding[i] > 0
                    model.unbonding[i], model.ends[i] = 0, 0
                elif op == "slash":
                    tx(c.w3, SETTLER, reg.functions.slash(node, amount, EVIDENCE))
                    from_stake = min(amount, model.stake[i])
                    model.stake[i] -= from_stake
                    model.unbonding[i] -= amount - from_stake
                    if model.unbonding[i] == 0:
                        model.ends[i] = 0
                    model.slashed += amount
                else:
                    travel(c.w3, n)
            except ChainReverted as refused:
                # a refusal is fine only when the model agrees it had to be refused
                expected = {
                    "unstake": amount > model.stake[i] or 0 < model.stake[i] - amount < minimum,
                    "withdraw": model.unbonding[i] == 0 or _now(c.w3) < model.ends[i],
                    "slash": amount > model.stake[i] + model.unbonding[i],
                }
                assert expected.get(op, False), f"{op} refused unexpectedly: {refused}"

            staked = reg.functions.totalStaked().call()
            unbonding = reg.functions.totalUnbonding().call()
            assert c.balance(reg.address) == staked + unbonding
            assert staked == sum(model.stake) and unbonding == sum(model.unbonding)
            for j, nid in enumerate(ids):
                assert reg.functions.stakeOf(nid).call() == model.stake[j]
                assert reg.functions.unbondingOf(nid).call() == [model.unbonding[j], model.ends[j]]
            assert c.balance(treasury) - treasury_before == model.slashed


# --- rewards ----------------------------------------------------------------------------------

epoch_plans = st.lists(
    st.tuples(
        st.lists(st.integers(0, 50), min_size=3, max_size=3),  # increments per node, in MRT
        st.integers(0, 80),  # fees into the epoch's pool, in MRT
        st.lists(st.integers(0, 2), max_size=5),  # claims after finalize (repeats allowed)
        st.booleans(),  # one greedy claim (amount above the leaf) attempted
    ),
    min_size=1,
    max_size=3,
)


@SETTINGS
@given(plan=epoch_plans)
def test_claims_never_exceed_the_settled_pool(
    c: Contracts, plan: list[tuple[list[int], int, list[int], bool]]
) -> None:
    st_ = c.settlement
    with snapshot(c.w3):
        ids = [c.register(account) for account in OPERATORS]
        earned = [0, 0, 0]
        received = [0, 0, 0]
        settled = 0
        for epoch, (increments, fees, claims, greedy) in enumerate(plan, start=1):
            if fees:
                c.fund_epoch(epoch, fees * MRT)
            earned = [e + inc * MRT for e, inc in zip(earned, increments, strict=True)]
            total = sum(increments) * MRT
            tree = tree_of(epoch, {ids[j]: (OPERATORS[j].address, earned[j]) for j in range(3)})
            c.settle(epoch, tree, total)
            settled += total
            for j in claims:
                before = c.balance(OPERATORS[j].address)
                try:
                    c.claim(tree, ids[j])
                except ChainReverted as refused:
                    assert refused.error_name == "EpochSettlementNothingToClaim"
                    assert received[j] == earned[j]
                    continue
                received[j] += c.balance(OPERATORS[j].address) - before
                assert received[j] == earned[j]
            if greedy:
                call = st_.functions.claim(
                    epoch, ids[0], OPERATORS[0].address, earned[0] + MRT, tree.proof(ids[0])
                )
                try:
                    tx(c.w3, DEPLOYER, call)
                    raise AssertionError("a claim above the leaf was paid")
                except ChainReverted as refused:
                    assert refused.error_name == "EpochSettlementInvalidProof"

            claimed = st_.functions.totalClaimed().call()
            assert claimed == sum(received) <= st_.functions.totalSettled().call() == settled
            for j in range(3):
                assert received[j] <= earned[j]
                assert st_.functions.claimedOf(ids[j]).call() == received[j]
            open_pools = st_.functions.poolOf(epoch + 1).call()  # fees only reach open epochs
            bond = st_.functions.bondOf(SETTLER.address).call()[0]  # the settler's bond
            assert c.balance(st_.address) == (
                open_pools + st_.functions.carry().call() + settled - claimed + bond
            )


# --- reputation words -------------------------------------------------------------------------

lane_values = st.one_of(st.integers(0, 10_000), st.integers(10_001, 0xFFFF), st.just(0))


@SETTINGS
@example(index=0, lanes=[0] + [10_000] * 15, count=15)  # the last lane of the last word
@example(index=1, lanes=[5] + [0] * 15, count=16)
@example(index=1, lanes=[0, 7] + [0] * 14, count=16)  # node 17 does not exist
@example(index=0, lanes=[0, 10_001] + [0] * 14, count=1)
@given(
    index=st.integers(0, 2),
    lanes=st.lists(lane_values, min_size=16, max_size=16),
    count=st.integers(1, 40),
)
def test_reputation_word_check_matches_the_per_lane_rule(
    c: Contracts, index: int, lanes: list[int], count: int
) -> None:
    """The registry checks all 16 lanes at once; it must agree with the plain per-lane rule."""
    word = sum(v << (16 * lane) for lane, v in enumerate(lanes))
    bad = [
        (16 * index + lane, v)
        for lane, v in enumerate(lanes)
        if v > 10_000 or (v != 0 and not 1 <= 16 * index + lane <= count)
    ]
    with snapshot(c.w3):
        reg = c.registry
        writer = reg.functions.REPUTATION_WRITER_ROLE().call()
        tx(c.w3, ADMIN, reg.functions.grantRole(writer, ADMIN.address))
        # node ids 1..count exist: stand them up cheaply through the real register path
        for i in range(count):
            c.register(operator(100 + i))
        call = reg.functions.writeReputations(1, index, [word])
        if bad:
            with pytest.raises(ChainReverted) as caught:
                tx(c.w3, ADMIN, call)
            assert caught.value.error_name == "NodeRegistryInvalidReputation"
            assert caught.value.error_args == bad[0]
        else:
            tx(c.w3, ADMIN, call)
            assert reg.functions.reputationWord(index).call() == word

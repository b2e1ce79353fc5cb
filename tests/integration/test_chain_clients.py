"""Typed contract clients, domain events and named reverts on the session's real anvil (and the
chain writer's outbox on the session's real PostgreSQL)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from services.app.ports import FeeRange, MovedFees, OutboxRepository, RegisteredNode
from services.chain.contracts import (
    ChainSession,
    EscrowStatus,
    model_hash,
    task_key,
    task_uuid,
)
from services.chain.deploy import DEV_PARAMS, Deployment
from services.chain.events import (
    Approval,
    FaucetDripped,
    GoldCommitted,
    NodeRegistered,
    Staked,
    TaskFunded,
    TaskRefunded,
    Transfer,
    of_type,
)
from services.chain.keys import (
    DEV_ACCOUNTS,
    Keystore,
    dev_account,
    dev_accounts,
    dev_role_account,
    resolve_account,
)
from services.chain.outbox import OutboxSender, PostgresSenderLock
from services.chain.reverts import (
    ChainInvalid,
    ChainNotFound,
    ChainUnauthorized,
    EscrowNotExpired,
    GoldAlreadyCommitted,
    GoldTooLate,
    format_mrt,
    parse_mrt,
)
from services.chain.rpc import ChainReverted
from services.chain.settlement import ChainSettlement
from services.chain.tx import DirectSender, simulate
from services.core.errors import Conflict, Invalid, NotFound, Unauthorized
from services.core.types import OutboxEntry, OutboxStatus
from services.settings import ANVIL_DEV_KEY
from services.store.db import PostgresStore
from tests.contracts.market import travel
from tests.fixtures.chain import DEV_KEYS

MRT = 10**18
OPERATOR = Account.from_key(DEV_KEYS[0])  # dev:1
OTHER = Account.from_key(DEV_KEYS[1])  # dev:2
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


@pytest.fixture
def session(chain: Web3, deployment: Deployment) -> ChainSession:
    return ChainSession(chain, deployment)


def _register(session: ChainSession, account=OPERATOR, *, funds: int = 500 * MRT):
    sender = DirectSender(session.w3, account, session.events)
    minimum = session.registry.min_stake()
    sender.send(session.token.faucet(account.address, funds))
    sender.send(session.token.approve(session.registry.address, minimum))
    return sender, sender.send(session.registry.register(model_hash("tiny-model"), CID))


# --- views and writes ---------------------------------------------------------------------------


def test_register_returns_domain_values_and_events(session: ChainSession) -> None:
    minimum = session.registry.min_stake()
    assert minimum == 100 * MRT and isinstance(minimum, int)
    assert session.registry.node_id_of(OPERATOR.address) is None

    _, result = _register(session)

    node_id = session.registry.node_id_of(OPERATOR.address)
    assert node_id == session.registry.node_count() >= 1
    node = session.registry.node(node_id)
    assert isinstance(node, RegisteredNode)
    assert node.operator == OPERATOR.address
    assert node.model_hash == Web3.keccak(text="tiny-model").to_0x_hex()
    assert node.metadata_cid == CID
    assert node.stake_wei == minimum == session.registry.stake_of(node_id)
    assert session.registry.node_of(OPERATOR.address) == node
    assert node in session.registry.nodes()

    (registered,) = of_type(result.events, NodeRegistered)
    assert registered.node_id == node_id
    assert registered.operator == OPERATOR.address
    assert registered.metadata_cid == CID
    assert registered.tx_hash == result.tx_hash
    (staked,) = of_type(result.events, Staked)
    assert (staked.node_id, staked.amount, staked.total) == (node_id, minimum, minimum)
    transfers = of_type(result.events, Transfer)
    assert [(t.from_, t.to, t.value) for t in transfers] == [
        (OPERATOR.address, session.registry.address, minimum)
    ]


def test_stake_adds_to_the_node(session: ChainSession) -> None:
    sender, _ = _register(session)
    node_id = session.registry.node_id_of(OPERATOR.address)
    before = session.registry.stake_of(node_id)
    sender.send(session.token.approve(session.registry.address, 90 * MRT))
    result = sender.send(session.registry.stake(90 * MRT))
    assert session.registry.stake_of(node_id) == before + 90 * MRT
    (staked,) = of_type(result.events, Staked)
    assert staked.amount == 90 * MRT and staked.total == before + 90 * MRT


def test_faucet_and_approve_events(session: ChainSession) -> None:
    sender = DirectSender(session.w3, OTHER, session.events)
    start = session.token.balance_of(OTHER.address)
    result = sender.send(session.token.faucet(OTHER.address, 7 * MRT))
    assert session.token.balance_of(OTHER.address) == start + 7 * MRT
    (drip,) = of_type(result.events, FaucetDripped)
    assert (drip.to, drip.amount) == (OTHER.address, 7 * MRT)
    approved = sender.send(session.token.approve(session.escrow.address, 3 * MRT))
    (approval,) = of_type(approved.events, Approval)
    assert (approval.owner, approval.spender, approval.value) == (
        OTHER.address, session.escrow.address, 3 * MRT,
    )  # fmt: skip
    assert session.token.allowance(OTHER.address, session.escrow.address) == 3 * MRT
    assert approved.nonce == result.nonce + 1


def test_escrow_fund_by_task_id(session: ChainSession) -> None:
    task = uuid.uuid4()
    sender = DirectSender(session.w3, OTHER, session.events)
    sender.send(session.token.faucet(OTHER.address, 5 * MRT))
    sender.send(session.token.approve(session.escrow.address, 5 * MRT))
    held = session.escrow.held_total()
    result = sender.send(session.escrow.fund(task, 2 * MRT))
    escrow = session.escrow.escrow_of(OTHER.address, task)
    at = session.w3.eth.get_block(result.block_number)["timestamp"]
    assert escrow.amount_wei == escrow.held_wei == 2 * MRT
    assert escrow.funded_at == datetime.fromtimestamp(at, UTC)
    assert escrow.status is EscrowStatus.FUNDED
    assert session.escrow.escrow_of(OPERATOR.address, task).status is EscrowStatus.NONE
    assert session.escrow.escrow_of(OPERATOR.address, task).funded_at is None
    assert session.escrow.held_total() == held + 2 * MRT
    assert session.escrow.fee_range() == (DEV_PARAMS.min_fee_wei, DEV_PARAMS.max_fee_wei)
    assert session.escrow.expiry_s() == DEV_PARAMS.escrow_expiry_s
    (funded,) = of_type(result.events, TaskFunded)
    assert (funded.payer, funded.amount) == (OTHER.address, 2 * MRT)
    assert funded.task_id == "0x" + task_key(task).hex()
    assert task_uuid(funded.task_id) == task
    with pytest.raises(Invalid):
        task_uuid(Web3.keccak(text="not a padded uuid"))


def test_events_fetch_only_the_deployments_logs(session: ChainSession) -> None:
    _register(session)
    events = session.events.fetch(session.w3, types=(NodeRegistered,))
    assert [e.operator for e in events][-1] == OPERATOR.address
    assert all(isinstance(e, NodeRegistered) for e in events)
    assert session.events.decode_log({**_any_log(session), "address": OTHER.address}) is None


def _any_log(session: ChainSession) -> dict:
    logs = session.w3.eth.get_logs({"address": session.token.address, "fromBlock": 0})
    return dict(logs[0])


def test_settlement_has_no_proposal_for_an_unproposed_epoch(session: ChainSession) -> None:
    assert session.settlement.proposal_of(987_654) is None
    assert Web3.is_address(session.settlement.verifier())


# --- gold commitments through the chain writer's outbox -------------------------------------------

GOLD_ROOT = bytes(Web3.keccak(text="hidden gold set"))


def _writer(
    session: ChainSession, store: PostgresStore, postgres_url: str, account=None
) -> ChainSettlement:
    """The marketplace's chain as the service builds it; gold comes from the examiner's key."""
    sender = OutboxSender(
        session.w3, account or Account.from_key(dev_role_account("examiner").private_key), store.outbox,
        PostgresSenderLock(postgres_url), decoder=session.events,
    )  # fmt: skip
    return ChainSettlement(session, {"examiner": sender}, store.outbox)


def test_gold_is_committed_once_through_the_outbox_and_read_back(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    chain = _writer(session, store, postgres_url)
    epoch = session.settlement.last_proposed_epoch() + 1
    assert chain.gold_commitment(epoch) is None

    tx_hash = chain.commit_gold("gold:1", epoch, GOLD_ROOT)

    receipt = session.w3.eth.get_transaction_receipt(tx_hash)
    at = int(session.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    assert chain.gold_commitment(epoch) == (GOLD_ROOT, at)
    assert chain.gold_commitment(epoch + 1) is None
    assert chain.sent("gold:1") == tx_hash
    entry = store.outbox.get_by_intent("gold:1")
    assert entry is not None and entry.status is OutboxStatus.MINED
    (event,) = of_type(session.events.decode_receipt(receipt), GoldCommitted)
    assert (event.epoch, event.root, event.committed_at) == (epoch, "0x" + GOLD_ROOT.hex(), at)

    writer = chain.sender("examiner").address
    nonce = session.w3.eth.get_transaction_count(writer)
    assert chain.commit_gold("gold:1", epoch, GOLD_ROOT) == tx_hash  # a retry sends nothing
    assert session.w3.eth.get_transaction_count(writer) == nonce

    other = bytes(Web3.keccak(text="another gold set"))
    with pytest.raises(GoldAlreadyCommitted) as caught:
        chain.commit_gold("gold:1-again", epoch, other)
    assert isinstance(caught.value, Conflict) and caught.value.epoch == epoch
    assert caught.value.one_line().startswith(f"the gold set of epoch {epoch} is already committed")
    assert store.outbox.get_by_intent("gold:1-again") is None  # refused before it was queued
    assert chain.gold_commitment(epoch) == (GOLD_ROOT, at)


def test_gold_refusals_are_typed_errors(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    chain = _writer(session, store, postgres_url)
    epoch = session.settlement.last_proposed_epoch() + 1
    with pytest.raises(ChainInvalid) as invalid:
        chain.commit_gold("gold:zero", epoch, bytes(32))
    assert isinstance(invalid.value, Invalid)
    assert invalid.value.error_name == "EpochSettlementInvalidGoldRoot"
    with pytest.raises(GoldTooLate) as late:
        chain.commit_gold("gold:0", 0, GOLD_ROOT)  # epoch 0 counts as proposed: it never runs
    assert late.value.epoch == 0 and "already proposed" in late.value.one_line()
    with pytest.raises(Invalid):
        chain.commit_gold("gold:short", epoch, GOLD_ROOT[:31])  # not 32 bytes: never encoded

    stranger = _writer(session, store, postgres_url, OTHER)
    with pytest.raises(ChainUnauthorized) as denied:
        stranger.commit_gold("gold:stranger", epoch, GOLD_ROOT)
    assert denied.value.error_fields["neededRole"] == Web3.keccak(text="EXAMINER_ROLE")
    assert denied.value.one_line().startswith(f"{OTHER.address} lacks EXAMINER_ROLE for commitGold")
    assert chain.gold_commitment(epoch) is None
    for key in ("gold:zero", "gold:0", "gold:short", "gold:stranger"):
        assert store.outbox.get_by_intent(key) is None


# --- task fees through the Escrow port (the settler's outbox) ------------------------------------


def _settler(session: ChainSession, outbox: OutboxRepository, postgres_url: str) -> ChainSettlement:
    sender = OutboxSender(
        session.w3, Account.from_key(dev_role_account("settler").private_key), outbox,
        PostgresSenderLock(postgres_url), decoder=session.events,
    )  # fmt: skip
    return ChainSettlement(session, {"settler": sender}, outbox)


def _pay(session: ChainSession, account: Any, fees: dict[uuid.UUID, int]) -> None:
    sender = DirectSender(session.w3, account, session.events)
    sender.send(session.token.faucet(account.address, sum(fees.values())))
    sender.send(session.token.approve(session.escrow.address, sum(fees.values())))
    for task, fee in fees.items():
        sender.send(session.escrow.fund(task, fee))


class _HashOnlyOutbox:
    """The store's outbox, as one that keeps a mined entry's tx hash but not its receipt."""

    def __init__(self, inner: OutboxRepository) -> None:
        self.inner = inner

    def get_by_intent(self, intent_key: str) -> OutboxEntry | None:
        entry = self.inner.get_by_intent(intent_key)
        return None if entry is None else replace(entry, receipt=None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_escrow_port_refunds_and_moves_fees_once_per_intent(
    session: ChainSession, store: PostgresStore, postgres_url: str
) -> None:
    chain = _settler(session, store.outbox, postgres_url)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    _pay(session, OTHER, {a: 2 * MRT, b: 3 * MRT})
    _pay(session, OPERATOR, {c: 4 * MRT})  # OTHER never pays for c
    assert chain.address == session.escrow.address
    assert chain.fee_range() == FeeRange(DEV_PARAMS.min_fee_wei, DEV_PARAMS.max_fee_wei)
    assert chain.fee_range() is chain.fee_range()  # read once
    assert chain.held_wei(OTHER.address, str(a)) == 2 * MRT
    assert chain.held_wei(OPERATOR.address, str(a)) == 0  # another payer's deposit does not count
    assert chain.held_wei(OTHER.address, str(c)) == 0

    settler = chain.sender("settler").address
    refund = chain.refund("refund:a", OTHER.address, str(a))
    nonce = session.w3.eth.get_transaction_count(settler)
    assert chain.refund("refund:a", OTHER.address, str(a)) == refund  # a retry sends nothing
    assert session.w3.eth.get_transaction_count(settler) == nonce
    (refunded,) = of_type(
        session.events.decode_receipt(session.w3.eth.get_transaction_receipt(refund)), TaskRefunded
    )
    assert (refunded.payer, task_uuid(refunded.task_id)) == (OTHER.address, a)
    assert refunded.amount == 2 * MRT
    assert chain.held_wei(OTHER.address, str(a)) == 0
    with pytest.raises(ChainNotFound) as gone:
        chain.refund("refund:a-again", OTHER.address, str(a))
    assert gone.value.one_line().startswith(f"{OTHER.address} holds no fee in escrow for task {a}")
    assert store.outbox.get_by_intent("refund:a-again") is None  # refused before it was queued

    epoch = session.settlement.last_finalized_epoch() + 1
    pool = session.settlement.pool_of(epoch)
    items = [(OTHER.address, str(a)), (OTHER.address, str(b)), (OTHER.address, str(c))]
    moved = chain.move_fees("fees:1", epoch, items)

    assert moved.epoch == epoch and moved.tx_hash is not None
    assert dict(moved.moved) == {str(b): 3 * MRT} and moved.amount_wei == 3 * MRT
    assert moved.missing == (str(a), str(c))  # refunded; never paid by OTHER
    assert session.settlement.pool_of(epoch) == pool + 3 * MRT
    assert chain.held_wei(OPERATOR.address, str(c)) == 4 * MRT  # OPERATOR's fee stays held
    nonce = session.w3.eth.get_transaction_count(settler)
    assert chain.move_fees("fees:1", epoch, items) == moved  # read from the stored receipt
    outbox: Any = _HashOnlyOutbox(store.outbox)
    hash_only = ChainSettlement(session, chain.senders, outbox)
    assert hash_only.move_fees("fees:1", epoch, items) == moved  # the receipt from the chain
    assert session.w3.eth.get_transaction_count(settler) == nonce
    assert session.settlement.pool_of(epoch) == pool + 3 * MRT

    nothing = chain.move_fees("fees:2", epoch, [(OTHER.address, str(b))])  # already moved
    assert (dict(nothing.moved), nothing.missing) == ({}, (str(b),))
    assert nothing.tx_hash is not None and session.settlement.pool_of(epoch) == pool + 3 * MRT
    assert chain.move_fees("fees:3", epoch, []) == MovedFees(epoch, {}, (), None)
    assert store.outbox.get_by_intent("fees:3") is None


def test_escrow_refusals_say_the_range_and_when_to_reclaim(session: ChainSession) -> None:
    sender = DirectSender(session.w3, OTHER, session.events)
    sender.send(session.token.faucet(OTHER.address, 5 * MRT))
    sender.send(session.token.approve(session.escrow.address, 5 * MRT))
    task = uuid.uuid4()
    with pytest.raises(ChainInvalid) as low:
        sender.send(session.escrow.fund(task, 10**14))
    assert low.value.error_name == "TaskEscrowFeeOutOfRange"
    assert low.value.one_line() == (
        "a task fee of 0.0001 MRT is outside the accepted 0.001 MRT to 1000 MRT; "
        "give a fee from 0.001 MRT to 1000 MRT"
    )

    result = sender.send(session.escrow.fund(task, MRT))
    with pytest.raises(ChainReverted) as again:
        sender.send(session.escrow.fund(task, MRT))
    assert again.value.one_line().startswith(f"{OTHER.address} already funded task {task}")
    funded_at = session.w3.eth.get_block(result.block_number)["timestamp"]
    with pytest.raises(EscrowNotExpired) as early:
        sender.send(session.escrow.reclaim(task))
    expires = funded_at + DEV_PARAMS.escrow_expiry_s
    assert isinstance(early.value, Conflict) and early.value.expires_at == expires
    when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert early.value.one_line().startswith(
        f"{OTHER.address}'s fee for task {task} can be reclaimed from {when}"
    )

    travel(session.w3, DEV_PARAMS.escrow_expiry_s)
    before = session.token.balance_of(OTHER.address)
    sender.send(session.escrow.reclaim(task))
    assert session.token.balance_of(OTHER.address) == before + MRT
    assert session.escrow.escrow_of(OTHER.address, task).status is EscrowStatus.RECLAIMED
    with pytest.raises(ChainNotFound):
        sender.send(session.escrow.reclaim(task))


# --- named reverts --------------------------------------------------------------------------------


def test_register_without_funds_names_the_error_and_its_arguments(session: ChainSession) -> None:
    sender = DirectSender(session.w3, OTHER, session.events)
    nonce = session.w3.eth.get_transaction_count(OTHER.address)
    with pytest.raises(ChainReverted) as caught:
        sender.send(session.registry.register(model_hash("m"), CID))
    err = caught.value
    assert err.error_name in ("NodeRegistryInsufficientStake", "ERC20InsufficientAllowance")
    if err.error_name == "NodeRegistryInsufficientStake":
        assert err.error_fields == {"node": OTHER.address, "have": 0, "need": 100 * MRT}
        assert err.error_args == (OTHER.address, 0, 100 * MRT)
        assert "below the minimum stake 100 MRT" in err.one_line()
        assert "merit faucet" in err.one_line()
    assert session.w3.eth.get_transaction_count(OTHER.address) == nonce  # nothing was sent


def test_unauthorized_mint_is_a_named_unauthorized_error(session: ChainSession) -> None:
    sender = DirectSender(session.w3, OTHER, session.events)
    call = session.token._call("mint", OTHER.address, 1)
    with pytest.raises(ChainUnauthorized) as caught:
        sender.send(call)
    err = caught.value
    assert isinstance(err, Unauthorized) and isinstance(err, ChainReverted)
    assert err.error_name == "AccessControlUnauthorizedAccount"
    assert err.error_fields["account"] == OTHER.address
    assert err.error_fields["neededRole"] == Web3.keccak(text="MINTER_ROLE")
    assert err.one_line().startswith(f"{OTHER.address} lacks MINTER_ROLE for mint")
    assert err.exit_code == 3


def test_unknown_node_view_is_not_found(session: ChainSession) -> None:
    with pytest.raises(ChainNotFound) as caught:
        session.registry.node(10_000)
    assert isinstance(caught.value, NotFound)
    assert caught.value.error_fields == {"nodeId": 10_000}
    assert caught.value.one_line().startswith("no node 10000 is registered")


def test_second_registration_is_refused_with_the_existing_id(session: ChainSession) -> None:
    sender, _ = _register(session)
    node_id = session.registry.node_id_of(OPERATOR.address)
    sender.send(session.token.approve(session.registry.address, 100 * MRT))
    with pytest.raises(ChainReverted) as caught:
        sender.send(session.registry.register(model_hash("again"), CID))
    assert caught.value.error_name == "NodeRegistryAlreadyRegistered"
    assert caught.value.error_fields == {"node": OPERATOR.address, "nodeId": node_id}
    assert f"already operates node {node_id}" in caught.value.one_line()


def test_faucet_over_the_limit_is_invalid(session: ChainSession) -> None:
    sender = DirectSender(session.w3, OTHER)
    limit = session.token.faucet_limit()
    with pytest.raises(ChainInvalid) as caught:
        sender.send(session.token.faucet(OTHER.address, limit + 1))
    assert caught.value.error_fields == {"amount": limit + 1, "max": limit}
    assert caught.value.one_line() == (
        "the faucet gives at most 1000000 MRT a call, not 1000000.000000000000000001 MRT; "
        "ask for at most 1000000"
    )


def test_simulate_catches_a_revert_at_the_second_step(session: ChainSession) -> None:
    too_little = 1 * MRT
    calls = [
        session.token.faucet(OTHER.address, 500 * MRT),
        session.token.approve(session.registry.address, too_little),
        session.registry.register(model_hash("m"), CID),
    ]
    nonce = session.w3.eth.get_transaction_count(OTHER.address)
    with pytest.raises(ChainReverted) as caught:
        simulate(session.w3, OTHER.address, calls)
    assert caught.value.error_name in (
        "NodeRegistryInsufficientStake",
        "ERC20InsufficientAllowance",
    )
    assert session.w3.eth.get_transaction_count(OTHER.address) == nonce
    good = simulate(session.w3, OTHER.address, calls[:1] + [
        session.token.approve(session.registry.address, 100 * MRT), calls[2]])  # fmt: skip
    assert good is not None and all(e.gas > 21_000 for e in good)
    assert session.w3.eth.get_transaction_count(OTHER.address) == nonce  # simulating sends nothing


# --- amounts, keys ---------------------------------------------------------------------------------


def test_mrt_amounts_are_exact() -> None:
    assert parse_mrt("90") == 90 * MRT
    assert parse_mrt("0.5 MRT") == MRT // 2
    assert format_mrt(10 * MRT) == "10 MRT"
    assert format_mrt(MRT // 4) == "0.25 MRT"
    for bad in ("-1", "abc", "1e-19", "nan", ""):
        with pytest.raises(Invalid):
            parse_mrt(bad)


def test_dev_accounts_are_anvils() -> None:
    accounts = dev_accounts()
    assert len(accounts) == DEV_ACCOUNTS
    assert accounts[0].private_key == ANVIL_DEV_KEY
    assert [a.private_key for a in accounts[1:4]] == list(DEV_KEYS)
    assert dev_account("dev:1").address == OPERATOR.address
    assert dev_account("dev:10").address == dev_role_account("settler").address
    with pytest.raises(Invalid):
        dev_account(f"dev:{DEV_ACCOUNTS}")


def test_dev_accounts_are_refused_off_the_dev_chain(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    assert resolve_account("dev:1", chain_id=31337, keystore=store, password=str).address == (
        OPERATOR.address
    )
    with pytest.raises(Invalid, match="refused on chain 1"):
        resolve_account("dev:1", chain_id=1, keystore=store, password=str)


def test_keystore_round_trip(tmp_path: Path) -> None:
    store = Keystore(tmp_path / "keystore")
    made = store.new("node-a", "pw-1")
    imported = store.import_key("node-b", DEV_KEYS[2], "pw-2")
    assert [k.name for k in store.list()] == ["node-a", "node-b"]
    assert (made.path.stat().st_mode & 0o777) == 0o600
    assert DEV_KEYS[2][2:] not in imported.path.read_text()  # encrypted at rest
    asked: list[str] = []

    def password() -> str:
        asked.append("asked")
        return "pw-2"

    account = resolve_account("node-b", chain_id=1, keystore=store, password=password)
    assert account.key.to_0x_hex() == DEV_KEYS[2] and asked == ["asked"]
    assert store.load(made.address, "pw-1").address == made.address
    with pytest.raises(Unauthorized):
        store.load("node-a", "wrong")
    with pytest.raises(Conflict):
        store.new("node-a", "x")
    with pytest.raises(Conflict):
        store.import_key("node-c", DEV_KEYS[2], "x")  # same address twice
    with pytest.raises(NotFound):
        store.load("nobody", "x")
    with pytest.raises(Invalid):
        store.new("../escape", "x")

"""The chain is the node registry, on the real anvil and the real PostgreSQL: an operator key the
marketplace has never seen registers on chain with a metadata document, and the marketplace finds
the node through the registry's events alone (fresh database), checks its metadata, examines it
against a real test node and attests the result on chain. Stake changes follow; refused metadata
is recorded with its reason; blocks too young are not read; a reorganisation is undone."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from web3 import Web3

from services.app.calibration import COOLDOWN
from services.app import registry as registry_module
from services.app.registry import CURSOR, LOW_STAKE, PENDING, WAITING, examine_node, follow_registry, requeue_failed
from services.chain.contracts import ChainSession, model_hash
from services.chain.deploy import Deployment
from services.chain.outbox import OutboxSender, PostgresSenderLock
from services.chain.operators import metadata_document
from services.chain.registry_log import ChainRegistryLog
from services.chain.settlement import ChainSettlement
from services.content.local import LocalContentStore
from services.core.errors import ContentUnavailable
from services.core.types import NodeKind, NodeStatus
from services.devstack import start_test_node
from services.nodes.egress import check_endpoint
from services.nodes.mmlu import MmluBank
from services.nodes.testnode import TEST_MODEL
from services.ports_free import free_port
from tests.fixtures.signing import TEST_REGISTRY, dev_address, dev_signer
from tests.contracts.market import DEPLOYER, EXAMINER, MRT, Contracts, operator, tx

OPERATOR = operator(80)  # a key the marketplace's database has never seen
ANOTHER = operator(81)


class Registry:
    """One deployment's registry, its operators' side (the chain) and the marketplace's side
    (the product's follower over a fresh database)."""

    def __init__(self, store, postgres_url: str, w3: Web3, market, tmp_path) -> None:
        self.w3, self.store = w3, store
        self.contracts = Contracts(w3, market)
        deployment = Deployment(31337, DEPLOYER.address, "", market.params, dict(market.contracts))
        self.session = ChainSession(w3, deployment)
        self.content = LocalContentStore(tmp_path / "content")
        self.log = ChainRegistryLog(self.session)
        examiner = OutboxSender(w3, EXAMINER, store.outbox, PostgresSenderLock(postgres_url), decoder=self.session.events)
        self.writer = ChainSettlement(self.session, {"examiner": examiner}, store.outbox)

    def register(self, who, doc: bytes | None = None, *, model: str = TEST_MODEL, endpoint: str = "http://127.0.0.1:9/v1",
                 stake: int | None = None, cid: str | None = None) -> int:  # fmt: skip
        """``who`` registers on chain with ``doc`` (default: a valid document) put in the content store."""
        doc = doc if doc is not None else metadata_document(model, endpoint, who.address)
        cid = cid or self.content.put(doc)
        amount = stake or self.contracts.market.params.min_stake_wei
        self.contracts.faucet(who, amount, self.contracts.registry.address)
        tx(self.w3, who, self.contracts.registry.functions.register(model_hash(model), cid, amount), "register")
        return int(self.contracts.registry.functions.nodeIdOf(who.address).call())

    def follow(self, *, confirmations: int = 0, loopback: bool = True, test_nodes: bool = True):
        check = partial(check_endpoint, allow_loopback=loopback)
        return follow_registry(self.store, self.log, self.content, check, confirmations=confirmations,
                               admit_test_nodes=test_nodes)  # fmt: skip

    def mine(self, blocks: int) -> None:
        for _ in range(blocks):
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@pytest.fixture
def reg(store, postgres_url, chain, market, tmp_path) -> Registry:
    return Registry(store, postgres_url, chain, market, tmp_path)


def test_a_new_operator_joins_through_chain_events_alone_and_is_examined_and_attested(reg: Registry, gateway, tmp_path):
    # the node signs its work with a key of its own, named in the metadata as its signer
    node_proc = start_test_node("joiner", free_port(), 0, tmp_path / "joiner.log", oracle=True,
                                signer=dev_signer(3), registry=TEST_REGISTRY,
                                env={"MERIT_DATA_DIR": str(tmp_path / "joiner")})  # its own journal  # fmt: skip
    try:
        assert reg.store.nodes.list() == []  # a fresh marketplace
        doc = metadata_document(TEST_MODEL, node_proc.url, OPERATOR.address, signer=dev_address(3))
        chain_id = reg.register(OPERATOR, doc)
        found = reg.follow()
        assert len(found.admitted) == 1 and not found.refused
        node = reg.store.nodes.get(found.admitted[0])
        assert (node.chain_node_id, node.address, node.signer) == (chain_id, OPERATOR.address, dev_address(3))
        assert node.status is NodeStatus.INACTIVE and node.status_note == WAITING
        assert node.kind is NodeKind.TEST and node.endpoint_url == node_proc.url.rstrip("/")
        assert node.stake_wei == reg.contracts.market.params.min_stake_wei  # the chain's, as indexed

        result = examine_node(reg.store, gateway, reg.writer, node.id, bank=MmluBank(), questions=20)
    finally:
        node_proc.stop()
    assert result is not None and result.passed
    after = reg.store.nodes.get(node.id)
    assert after.status is NodeStatus.ACTIVE and after.status_note.startswith("calibration passed")
    score, until = reg.session.registry.attestation_of(chain_id)
    assert score == 10_000 and until is not None  # 20 of 20, attested by the examiner on chain
    # the message delivered again examines nothing twice
    assert examine_node(reg.store, gateway, reg.writer, node.id, bank=MmluBank()) is None
    assert reg.store.nodes.get(node.id).calibration_attempts == 1


def test_stake_changes_follow_the_chain_and_a_second_pass_changes_nothing(reg: Registry) -> None:
    chain_id = reg.register(OPERATOR)
    node_id = reg.follow().admitted[0]
    registry = reg.contracts.registry
    reg.contracts.faucet(OPERATOR, 5 * MRT, registry.address)
    tx(reg.w3, OPERATOR, registry.functions.stake(5 * MRT), "stake")
    minimum = reg.contracts.market.params.min_stake_wei
    tx(reg.w3, OPERATOR, registry.functions.requestUnstake(5 * MRT), "unstake")
    done = reg.follow()
    assert done.updated == 1 and not done.admitted
    node = reg.store.nodes.get(node_id)
    assert (node.stake_wei, node.unbonding_wei) == (minimum, 5 * MRT)
    assert node.stake_wei == reg.session.registry.node(chain_id).stake_wei
    assert node.synced_block == reg.w3.eth.block_number
    again = reg.follow()
    assert again.updated == 0 and again.last < again.first  # nothing new to read
    assert reg.store.nodes.get(node_id) == node


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("metadata endpoint", "169.254.169.254"),
        ("private endpoint", "10.0.0.8"),
        ("model", "not the model hashed on chain"),
        ("operator", "names operator"),
        ("not json", "not JSON"),
        ("missing", "could not be fetched"),
        ("test node on a production chain", "dev chain only"),
    ],
)
def test_refused_metadata_is_recorded_with_its_reason_and_never_examined(reg: Registry, case: str, why: str) -> None:
    doc, cid, loopback, test_nodes = None, None, False, True
    if case == "metadata endpoint":
        doc = metadata_document(TEST_MODEL, "http://169.254.169.254/latest/meta-data", OPERATOR.address)
    elif case == "private endpoint":
        doc = metadata_document(TEST_MODEL, "http://10.0.0.8:8000/v1", OPERATOR.address)
    elif case == "model":
        doc = metadata_document("another-model", "http://8.8.8.8/v1", OPERATOR.address)
    elif case == "operator":
        doc = metadata_document(TEST_MODEL, "http://8.8.8.8/v1", ANOTHER.address)
    elif case == "not json":
        doc = b"<html>not a document</html>"
    elif case == "missing":
        cid = LocalContentStore(reg.content.root.parent / "elsewhere").put(b"never published here")
    else:
        doc, test_nodes = metadata_document(TEST_MODEL, "http://8.8.8.8/v1", OPERATOR.address), False
    reg.register(OPERATOR, doc, cid=cid)
    check = partial(check_endpoint, allow_loopback=loopback, resolve=lambda host, port: [host])
    found = follow_registry(reg.store, reg.log, reg.content, check, confirmations=0, admit_test_nodes=test_nodes)
    assert not found.admitted and len(found.refused) == 1
    node = reg.store.nodes.get(found.refused[0])
    assert node.status is NodeStatus.INACTIVE and node.status_note.startswith("metadata refused")
    assert why in node.status_note
    assert examine_node(reg.store, None, None, node.id, bank=MmluBank()) is None  # never asked


def test_blocks_younger_than_the_confirmations_are_not_read(reg: Registry) -> None:
    reg.register(OPERATOR)
    assert reg.follow(confirmations=3).admitted == []
    reg.mine(3)
    assert len(reg.follow(confirmations=3).admitted) == 1


def test_a_reorganisation_under_the_cursor_is_read_again_and_a_vanished_node_leaves(reg: Registry) -> None:
    kept = reg.follow()  # the cursor stands at the head before the fork
    fork = reg.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    reg.register(OPERATOR)
    node_id = reg.follow().admitted[0]
    reg.store.nodes.set_status(node_id, NodeStatus.ACTIVE, note="as if examined")
    assert reg.w3.provider.make_request("evm_revert", [fork])["result"] is True  # type: ignore[arg-type]
    reg.mine(3)  # the other branch grows past the old height: the cursor's block has another hash now
    done = reg.follow()
    assert done.reorganised and done.first <= kept.last + 1
    gone = reg.store.nodes.get(node_id)
    assert gone.status is NodeStatus.INACTIVE and "reorganised" in gone.status_note
    cursor = reg.store.cursors.get(CURSOR)
    assert cursor is not None and cursor.block_hash == reg.log.block_hash(cursor.block_number)


def test_a_node_that_takes_its_whole_stake_out_leaves_and_is_examined_again_once_staked(reg: Registry) -> None:
    registry, minimum = reg.contracts.registry, reg.contracts.market.params.min_stake_wei
    reg.register(OPERATOR)
    node_id = reg.follow().admitted[0]
    reg.store.nodes.set_status(node_id, NodeStatus.ACTIVE, note="as if examined")
    tx(reg.w3, OPERATOR, registry.functions.requestUnstake(minimum), "unstake all")
    assert reg.follow().admitted == []
    left = reg.store.nodes.get(node_id)
    assert left.status is NodeStatus.INACTIVE and left.status_note.startswith(LOW_STAKE)
    assert (left.stake_wei, left.unbonding_wei) == (0, minimum)  # still slashable while it unbonds
    reg.contracts.faucet(OPERATOR, minimum, registry.address)
    tx(reg.w3, OPERATOR, registry.functions.stake(minimum), "stake again")
    assert reg.follow().admitted == [node_id]  # back to the examiner, not straight back in
    assert reg.store.nodes.get(node_id).status_note == WAITING


def test_a_failed_node_waits_for_the_examiner_again_an_hour_after_its_attempt(reg: Registry) -> None:
    reg.register(OPERATOR)
    node_id = reg.follow().admitted[0]
    attempt = reg.store.nodes.record_calibration_attempt(node_id).last_calibration_at
    reg.store.nodes.set_status(node_id, NodeStatus.INACTIVE, note="calibration failed: 3/40 correct")
    assert requeue_failed(reg.store, now=attempt + COOLDOWN - timedelta(seconds=1)) == []
    assert requeue_failed(reg.store, now=attempt + COOLDOWN) == [node_id]
    assert reg.store.nodes.get(node_id).status_note == WAITING
    assert requeue_failed(reg.store, now=attempt + 2 * COOLDOWN) == []  # sent once


class FlakyContent:
    """The content store, not answering while ``down`` (an IPFS node that times out)."""

    def __init__(self, inner: LocalContentStore) -> None:
        self.inner, self.down = inner, True

    def get(self, cid: str) -> bytes:
        if self.down:
            raise ContentUnavailable("the content store did not answer in 30 s")
        return self.inner.get(cid)

    def put(self, data: bytes) -> str:
        return self.inner.put(data)

    def has(self, cid: str) -> bool:
        return self.inner.has(cid)


def test_metadata_the_content_store_cannot_give_yet_is_tried_again_without_holding_the_registry_up(
    reg: Registry, monkeypatch
) -> None:
    flaky = FlakyContent(reg.content)
    check = partial(check_endpoint, allow_loopback=True)
    follow = partial(follow_registry, reg.store, reg.log, flaky, check, confirmations=0, admit_test_nodes=True)
    first = reg.register(OPERATOR)
    done = follow()
    assert done.admitted == [] and done.refused == []
    node = reg.store.nodes.get_by_chain_id(first)
    assert node.status_note.startswith(PENDING) and node.endpoint_url == ""
    second = reg.register(ANOTHER)  # the cursor went on: later registrations are read meanwhile
    flaky.down = False
    admitted = follow().admitted
    assert {reg.store.nodes.get(n).chain_node_id for n in admitted} == {first, second}
    late = reg.store.nodes.get_by_chain_id(first)
    assert late.status_note == WAITING and late.signer == OPERATOR.address and late.model == TEST_MODEL

    third = reg.register(operator(82))  # and one whose document never comes
    flaky.down = True
    follow()
    monkeypatch.setattr(registry_module, "METADATA_WAIT", timedelta(0))
    assert len(follow().refused) == 1
    assert reg.store.nodes.get_by_chain_id(third).status_note.startswith("metadata refused: metadata")

"""Slashing on signed evidence, on anvil: a node's two different signed answers to one task take
its stake through NodeRegistry.slash with the evidence's CID; forged evidence, evidence of an
honest repeat, evidence from another deployment, and a verdict the marketplace's own schedule
asked of a node on its own answer are refused before anything is sent."""

from __future__ import annotations

import json

import pytest

from services.app.evidence import EQUIVOCATION, SELF_JUDGMENT, EvidenceInvalid, slash_with_evidence
from services.content.local import LocalContentStore
from services.core.types import NewNode, Wei
from services.core.work import (
    SigningDomain,
    Work,
    WorkKind,
    Signed,
    hash_bytes,
    sign,
    text_hash,
)
from tests.contracts.market import MRT, SETTLER
from tests.integration.test_settlement import OPERATORS, World, market_world  # noqa: F401 - the fixture

TASK = 0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0


def _signed(key: bytes, domain: SigningDomain, work: Work) -> dict[str, object]:
    return Signed(work, sign(key, domain, work), None).fields()


def _answer(reply: bytes, request: bytes = b'{"q":"2+2"}') -> Work:
    return Work(WorkKind.ANSWER, TASK, 1, bytes(32), bytes(32), hash_bytes(request), hash_bytes(reply))


@pytest.fixture
def accused(market_world: World):
    """Operator 0's node, in the marketplace's store with its registry id and its signer."""
    w = market_world
    account = OPERATORS[0]
    node = w.store.nodes.add(
        NewNode("accused", "http://127.0.0.1:9100", "m", chain_node_id=w.chain_ids[0], signer=account.address,
                stake_wei=Wei(w.session.registry.node(w.chain_ids[0]).stake_wei))  # fmt: skip
    )
    domain = SigningDomain(31337, w.session.registry.address)
    return w, node, bytes(account.key), domain


def _evidence(domain: SigningDomain, chain_node_id: int, kind: str, *signed: dict, **extra: object) -> dict:
    return {"kind": kind, "chain_id": domain.chain_id, "registry": domain.registry,
            "chain_node_id": chain_node_id, "signed": list(signed), **extra}  # fmt: skip


def test_two_different_signed_answers_to_one_task_slash_the_node_once(accused, tmp_path) -> None:
    w, node, key, domain = accused
    content = LocalContentStore(tmp_path / "content")
    before = w.session.registry.node(node.chain_node_id).stake_wei
    doc = _evidence(domain, node.chain_node_id, EQUIVOCATION,
                    _signed(key, domain, _answer(b'{"answer":"4"}')), _signed(key, domain, _answer(b'{"answer":"5"}')))  # fmt: skip
    done = slash_with_evidence(w.store, content, w.chain, domain, doc, amount_wei=MRT)
    assert done.proven.signer == OPERATORS[0].address and done.proven.kind == EQUIVOCATION
    assert w.session.registry.node(node.chain_node_id).stake_wei == before - MRT
    assert json.loads(content.get(done.evidence_cid)) == doc  # the evidence is public, by its CID
    nonce = w.session.w3.eth.get_transaction_count(SETTLER.address)
    again = slash_with_evidence(w.store, content, w.chain, domain, doc, amount_wei=MRT)  # the same evidence
    assert again.tx_hash == done.tx_hash
    assert w.session.w3.eth.get_transaction_count(SETTLER.address) == nonce
    assert w.session.registry.node(node.chain_node_id).stake_wei == before - MRT


def test_a_verdict_the_schedule_asked_of_a_node_on_its_own_answer_slashes_nothing(accused, tmp_path) -> None:
    """Nodes 1 and 2 give the same answer (one candidate, node 1 stands for it); with no neutral
    judge left, the product's schedule has node 2 judge that candidate. Its signed answer and its
    signed verdict would read as a verdict on its own answer: a slasher offering them is refused,
    and nothing is sent."""
    from services.core.schedule import plan
    from services.core.types import Candidate, NodeId

    pairs = plan([Candidate(NodeId(1), (NodeId(1), NodeId(2))), Candidate(NodeId(3), (NodeId(3),))],
                 {NodeId(1): 1, NodeId(2): 1, NodeId(3): 1})  # fmt: skip
    assert any(p.judge_id == 2 and 1 in (p.left_id, p.right_id) for p in pairs)  # asked by the schedule

    w, node, key, domain = accused
    before = w.session.registry.node(node.chain_node_id).stake_wei
    nonce = w.session.w3.eth.get_transaction_count(SETTLER.address)
    body = '{"choices":[{"message":{"role":"assistant","content":" The answer is 4. "}}]}'
    answer = _answer(body.encode())
    verdict = Work(WorkKind.JUDGMENT, TASK, 1, text_hash("The answer is 4."), text_hash("The answer is 5."),
                   hash_bytes(b"judge request"), hash_bytes(b"1"))  # fmt: skip
    doc = _evidence(domain, node.chain_node_id, SELF_JUDGMENT, _signed(key, domain, answer),
                    _signed(key, domain, verdict), reply_body=body)  # fmt: skip
    with pytest.raises(EvidenceInvalid, match="proves only that the marketplace asked for it"):
        slash_with_evidence(w.store, LocalContentStore(tmp_path / "c"), w.chain, domain, doc, amount_wei=MRT)
    assert w.session.w3.eth.get_transaction_count(SETTLER.address) == nonce
    assert w.session.registry.node(node.chain_node_id).stake_wei == before


def test_forged_repeated_and_foreign_evidence_is_refused_and_nothing_is_sent(accused, tmp_path) -> None:
    w, node, key, domain = accused
    content = LocalContentStore(tmp_path / "content")
    before = w.session.registry.node(node.chain_node_id).stake_wei
    nonce = w.session.w3.eth.get_transaction_count(SETTLER.address)
    forger = bytes(OPERATORS[2].key)
    cases = {
        "forged": (_signed(key, domain, _answer(b"4")), _signed(forger, domain, _answer(b"5"))),
        "an honest repeat": (_signed(key, domain, _answer(b"4")), _signed(key, domain, _answer(b"4"))),
        "two different requests": (_signed(key, domain, _answer(b"4", b"q1")), _signed(key, domain, _answer(b"5", b"q2"))),
    }
    for what, pair in cases.items():
        with pytest.raises(EvidenceInvalid):
            slash_with_evidence(w.store, content, w.chain, domain,
                                _evidence(domain, node.chain_node_id, EQUIVOCATION, *pair), amount_wei=MRT)  # fmt: skip
    other = SigningDomain(31337, "0x" + "42" * 20)  # signed for another deployment
    doc = _evidence(other, node.chain_node_id, EQUIVOCATION,
                    _signed(key, other, _answer(b"4")), _signed(key, other, _answer(b"5")))  # fmt: skip
    with pytest.raises(EvidenceInvalid, match="not this deployment"):
        slash_with_evidence(w.store, content, w.chain, domain, doc, amount_wei=MRT)
    assert w.session.w3.eth.get_transaction_count(SETTLER.address) == nonce
    assert w.session.registry.node(node.chain_node_id).stake_wei == before

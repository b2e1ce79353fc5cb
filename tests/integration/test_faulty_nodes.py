"""Nodes that misbehave are recorded as no-shows and earn nothing; the round goes on without them.

Each faulty node is a real test-node process serving the chat API badly: an empty reply, another
model's name, a body that is not JSON, an answer slower than the timeout, or a process killed
before the round.
"""

from __future__ import annotations

import time

import pytest

from services.app import rounds
from services.app.epochs import close_epoch
from services.content.local import LocalContentStore
from services.core.types import AnswerStatus, TaskStatus
from services.devstack import start_test_node
from tests.fixtures.stack import register_test_node
from services.nodes.client import HttpNodeGateway
from services.ports_free import free_port
from tests.fixtures.fees import escrow_of
from tests.fixtures.signing import TEST_DOMAIN, TEST_REGISTRY, key_file
from tests.integration.test_rounds import new_task, run_round

FAULTS = ("empty", "wrong-model", "garbage", "slow")


@pytest.fixture(scope="module")
def faulty_procs(tmp_path_factory):
    root = tmp_path_factory.mktemp("faulty")
    children = [
        start_test_node(f"faulty-{f}", free_port(), 0, root / f"{f}.log", fault=f,
                        signer=key_file(root, f"faulty-{f}"), registry=TEST_REGISTRY)  # fmt: skip
        for f in FAULTS
    ]
    yield children
    for c in children:
        c.stop()


def test_faulty_nodes_are_no_shows_and_unpaid(store, registered_nodes, faulty_procs, tmp_path):
    for child in faulty_procs:
        register_test_node(store, child.name, child.url)
    gateway = HttpNodeGateway(timeout_s=2, allow_loopback=True, domain=TEST_DOMAIN)
    try:
        task = new_task(store, swarm_size=8)
        started = time.monotonic()
        rnd = run_round(store, gateway, task.id)
        elapsed = time.monotonic() - started
    finally:
        gateway.close()
    names = {n.id: n.name for n in store.nodes.list()}
    answers = {names[a.node_id]: a for a in store.answers.list_for_task(task.id)}
    for fault in FAULTS:
        assert answers[f"faulty-{fault}"].status is AnswerStatus.NO_SHOW, fault
    assert "empty reply" in answers["faulty-empty"].raw["error"]
    assert "some-other-model" in answers["faulty-wrong-model"].raw["error"]
    assert "timed out" in answers["faulty-slow"].raw["error"]
    assert elapsed < 15  # the slow node cost one timeout, not the round
    assert store.tasks.get(task.id).status is TaskStatus.DONE
    ranked = {n for c in rnd.candidates for n in c.supporters}
    assert {names[n] for n in ranked} == {f"test-node-{i}" for i in range(1, 5)}
    assert {r.node_id for r in rnd.ranking} == {c.id for c in rnd.candidates}
    closed = close_epoch(store, LocalContentStore(tmp_path), escrow=escrow_of(store))
    paid = {names[n.node_id]: n.reward for n in closed.result.nodes}
    assert all(paid.get(f"faulty-{f}", 0) == 0 for f in FAULTS)


def test_a_node_killed_before_the_round_is_a_no_show(store, registered_nodes, tmp_path):
    doomed = start_test_node("doomed", free_port(), 0, tmp_path / "doomed.log")
    register_test_node(store, doomed.name, doomed.url)
    doomed.stop()
    gateway = HttpNodeGateway(timeout_s=2, allow_loopback=True, domain=TEST_DOMAIN)
    try:
        task = new_task(store, swarm_size=5)
        run_round(store, gateway, task.id)
    finally:
        gateway.close()
    answers = {a.node_id: a for a in store.answers.list_for_task(task.id)}
    gone = store.nodes.get_by_name("doomed")
    assert answers[gone.id].status is AnswerStatus.NO_SHOW
    assert store.tasks.get(task.id).status is TaskStatus.DONE
    assert rounds.rank(store, task.id) == []


SIGNATURE_FAULTS = ("bad-signature", "unsigned")


def test_work_signed_wrongly_or_not_at_all_is_rejected_and_unpaid_while_the_round_completes(
    store, registered_nodes, tmp_path
):
    """Through the real HTTP gateway and real test-node processes: one node signs with a key that
    is not its registered signer (a forged signature), one sends no signature; both answer and
    judge correctly, and both have every answer and verdict rejected with the reason, while the
    four signing nodes finish the round and are paid."""
    from services.core.types import JudgmentStatus

    children = [
        start_test_node(f"sig-{f}", free_port(), 0, tmp_path / f"{f}.log", fault=f,
                        signer=key_file(tmp_path, f"sig-{f}"), registry=TEST_REGISTRY)  # fmt: skip
        for f in SIGNATURE_FAULTS
    ]
    gateway = HttpNodeGateway(timeout_s=5, allow_loopback=True, domain=TEST_DOMAIN)
    try:
        for child in children:
            register_test_node(store, child.name, child.url)
        task = new_task(store, swarm_size=6)
        rnd = run_round(store, gateway, task.id)
    finally:
        gateway.close()
        for child in children:
            child.stop()
    names = {n.id: n.name for n in store.nodes.list()}
    answers = {names[a.node_id]: a for a in store.answers.list_for_task(task.id)}
    assert answers["sig-bad-signature"].status is AnswerStatus.REJECTED
    assert "not the node's signer" in answers["sig-bad-signature"].raw["rejected"]
    assert answers["sig-unsigned"].status is AnswerStatus.REJECTED
    assert "unsigned" in answers["sig-unsigned"].raw["rejected"]
    signed = [a for n, a in answers.items() if n.startswith("test-node-")]
    assert signed and all(a.status is AnswerStatus.OK and a.signed is not None for a in signed)
    assert all(a.signed.signer == store.nodes.get(a.node_id).signer for a in signed)
    assert store.tasks.get(task.id).status is TaskStatus.DONE
    assert not {names[n] for c in rnd.candidates for n in c.supporters} & {f"sig-{f}" for f in SIGNATURE_FAULTS}
    verdicts = store.judgments.list_for_task(task.id)
    assert all(j.status is JudgmentStatus.REJECTED for j in verdicts if names[j.judge_id].startswith("sig-"))
    assert any(j.status is JudgmentStatus.OK for j in verdicts)
    # the requester's view names the rejected work and why, and counts none of it
    from services.api.schemas import TaskOut
    from services.app.tasks import view_task

    view = TaskOut.from_view(view_task(store, task.id))
    shown = {a.node_name: a for a in view.answers}
    assert shown["sig-unsigned"].status == "rejected" and "unsigned" in shown["sig-unsigned"].rejected
    assert "not the node's signer" in shown["sig-bad-signature"].rejected
    assert all(a.rejected is None for n, a in shown.items() if n.startswith("test-node-"))
    closed = close_epoch(store, LocalContentStore(tmp_path / "content"), escrow=escrow_of(store))
    paid = {names[n.node_id]: n.reward for n in closed.result.nodes}
    assert all(paid.get(f"sig-{f}", 0) == 0 for f in SIGNATURE_FAULTS)
    assert sum(paid.values()) > 0

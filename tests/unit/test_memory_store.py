"""MemoryStore and MemoryContent behave as PostgresStore and the local CID store do (no socket).

The cases follow tests/integration/test_store.py, so the two adapters are held to one behaviour.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.content import LocalContentStore, cid_of
from services.core.errors import Conflict, Invalid, NotFound, StoreUnavailable
from services.core.settlement import ClaimEntry, ProofStatus, Settlement, SettlementStatus
from services.core.types import (
    Answer,
    AnswerStatus,
    Candidate,
    EpochId,
    EpochNode,
    EpochStatus,
    Judgment,
    NewNode,
    NewTask,
    NodeId,
    NodeKind,
    NodeStatus,
    OutboxStatus,
    Outcome,
    PairAssignment,
    RankEntry,
    Reliability,
    TaskId,
    TaskStatus,
    Wei,
)
from services.inmemory import MemoryContent, MemoryStore

UINT256_MAX = 2**256 - 1
SENDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ROOT = "0x" + "ab" * 32


@pytest.fixture(autouse=True)
def no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the in-memory adapters must not open a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    s = MemoryStore()
    yield s
    s.close()


def add_nodes(store: MemoryStore, n: int) -> list[NodeId]:
    return [
        store.nodes.add(NewNode(f"node-{i}", f"http://127.0.0.1:{9000 + i}", "m")).id
        for i in range(n)
    ]


def add_task(store: MemoryStore, fee: int = 10**16) -> TaskId:
    return store.tasks.add(NewTask("What is 2+2?", "alice", Wei(fee), 3)).id


def finish_task(store: MemoryStore) -> tuple[TaskId, EpochId]:
    task_id = add_task(store)
    return task_id, store.tasks.assign_open_epoch(task_id)


# ---------------------------------------------------------------- nodes
def test_node_round_trip_with_defaults(store: MemoryStore) -> None:
    added = store.nodes.add(
        NewNode("alpha", "http://127.0.0.1:8101", "qwen", NodeKind.TEST, "0xAbC", Wei(10**30 + 1))
    )
    assert added.id == 1
    assert added.status is NodeStatus.ACTIVE
    assert added.reputation_bp == 5000 and added.reputation_anchor_bp == 5000
    assert added.reliability == Reliability() and added.letter_bias is None
    assert added.stake_wei == 10**30 + 1 and type(added.stake_wei) is int
    assert added.kind is NodeKind.TEST and added.address == "0xAbC"
    assert added.created_at.tzinfo is not None
    assert store.nodes.get(added.id) == added
    assert store.nodes.get_by_name("alpha") == added
    assert store.nodes.add(NewNode("beta", "http://b", "m")).id == 2


def test_node_name_and_address_conflicts(store: MemoryStore) -> None:
    store.nodes.add(NewNode("alpha", "http://a", "m", address="0x1"))
    with pytest.raises(Conflict, match="named 'alpha' already exists"):
        store.nodes.add(NewNode("alpha", "http://b", "m"))
    with pytest.raises(Conflict, match="address 0x1 is already registered"):
        store.nodes.add(NewNode("beta", "http://b", "m", address="0x1"))
    # nodes without an address do not collide with each other
    store.nodes.add(NewNode("gamma", "http://c", "m"))
    store.nodes.add(NewNode("delta", "http://d", "m"))
    assert [n.name for n in store.nodes.list()] == ["alpha", "gamma", "delta"]


def test_node_missing_is_not_found(store: MemoryStore) -> None:
    missing = NodeId(12345)
    with pytest.raises(NotFound):
        store.nodes.get(missing)
    with pytest.raises(NotFound):
        store.nodes.get_by_name("nobody")
    with pytest.raises(NotFound):
        store.nodes.set_status(missing, NodeStatus.INACTIVE)
    with pytest.raises(NotFound):
        store.nodes.set_reputation(missing, 6000, 5000)
    with pytest.raises(NotFound):
        store.nodes.set_letter_bias(missing, {"A": -1.0})
    with pytest.raises(NotFound):
        store.nodes.set_reliability(missing, Reliability(1, 2, 3, 4))


def test_node_status_filter(store: MemoryStore) -> None:
    a, b, c = add_nodes(store, 3)
    store.nodes.set_status(b, NodeStatus.INACTIVE)
    assert [n.id for n in store.nodes.list(status=NodeStatus.ACTIVE)] == [a, c]
    assert [n.id for n in store.nodes.list(status=NodeStatus.INACTIVE)] == [b]
    assert store.nodes.get(b).status is NodeStatus.INACTIVE


def test_node_reputation_bias_and_reliability_are_stored(store: MemoryStore) -> None:
    (a,) = add_nodes(store, 1)
    store.nodes.set_reputation(a, 7100, 6400)
    store.nodes.set_letter_bias(a, {"A": -0.5, "B": -1.25})
    store.nodes.set_reliability(a, Reliability(1500, 2000, 700, 1000))
    got = store.nodes.get(a)
    assert (got.reputation_bp, got.reputation_anchor_bp) == (7100, 6400)
    assert got.letter_bias == {"A": -0.5, "B": -1.25}
    assert got.reliability == Reliability(1500, 2000, 700, 1000)
    with pytest.raises(Invalid):
        store.nodes.set_reputation(a, 10_001, 5000)
    with pytest.raises(Invalid):
        store.nodes.set_letter_bias(a, {"A": float("nan")})
    assert store.nodes.get(a).reputation_bp == 7100


def test_negative_stake_is_refused(store: MemoryStore) -> None:
    with pytest.raises(Invalid):
        store.nodes.add(NewNode("neg", "http://a", "m", stake_wei=Wei(-1)))
    assert store.nodes.list() == []


def test_returned_node_cannot_change_the_stored_one(store: MemoryStore) -> None:
    (a,) = add_nodes(store, 1)
    store.nodes.set_letter_bias(a, {"A": -0.5})
    bias = store.nodes.get(a).letter_bias
    assert isinstance(bias, dict)
    bias["A"] = 99.0
    assert store.nodes.get(a).letter_bias == {"A": -0.5}


# ---------------------------------------------------------------- tasks
def test_task_round_trip_with_exact_uint256_fee(store: MemoryStore) -> None:
    task = store.tasks.add(NewTask("prompt", "alice", Wei(UINT256_MAX), 4, ("Paris", "Rome")))
    uuid.UUID(task.id)  # a str of a UUID
    assert task.status is TaskStatus.QUEUED and task.error is None and task.epoch_id is None
    assert task.created_at.tzinfo is not None and task.options == ("Paris", "Rome")
    got = store.tasks.get(task.id)
    assert got == task
    assert got.fee_wei == UINT256_MAX and type(got.fee_wei) is int
    assert store.tasks.get(TaskId(task.id.upper())) == task  # any spelling of the UUID


def test_task_checks_are_invalid(store: MemoryStore) -> None:
    with pytest.raises(Invalid):
        store.tasks.add(NewTask("p", "alice", Wei(-1), 3))
    with pytest.raises(Invalid):
        store.tasks.add(NewTask("p", "alice", Wei(0), 0))
    assert store.tasks.list() == []


def test_task_status_and_error(store: MemoryStore) -> None:
    task_id = add_task(store)
    before = store.tasks.get(task_id)
    store.tasks.set_status(task_id, TaskStatus.FAILED, "only 1 of 3 nodes answered")
    after = store.tasks.get(task_id)
    assert after.status is TaskStatus.FAILED
    assert after.error == "only 1 of 3 nodes answered"
    assert after.updated_at > before.updated_at
    store.tasks.set_status(task_id, TaskStatus.QUEUED)
    assert store.tasks.get(task_id).error is None


def test_task_ids_that_name_nothing_are_not_found(store: MemoryStore) -> None:
    for bad in ("not-a-uuid", "", str(uuid.uuid4())):
        with pytest.raises(NotFound):
            store.tasks.get(TaskId(bad))
        with pytest.raises(NotFound):
            store.tasks.set_status(TaskId(bad), TaskStatus.DONE)
        with pytest.raises(NotFound):
            store.tasks.delete(TaskId(bad))
        with pytest.raises(NotFound):
            store.tasks.assign_open_epoch(TaskId(bad))
        assert store.answers.list_for_task(TaskId(bad)) == []
        assert store.judgments.list_for_task(TaskId(bad)) == []
        assert store.rounds.get(TaskId(bad)) is None


def test_task_list_newest_first_with_limit(store: MemoryStore) -> None:
    ids = [add_task(store) for _ in range(5)]
    assert [t.id for t in store.tasks.list()] == ids[::-1]
    assert [t.id for t in store.tasks.list(limit=2)] == ids[::-1][:2]
    assert store.tasks.list(limit=-1) == []


def test_task_order_holds_when_the_clock_stands_still() -> None:
    frozen = datetime(2030, 1, 1, tzinfo=UTC)
    store = MemoryStore(clock=lambda: frozen)
    ids = [add_task(store) for _ in range(3)]
    assert [t.id for t in store.tasks.list()] == ids[::-1]
    assert all(t.created_at >= frozen for t in store.tasks.list())


def test_task_delete_takes_its_round_with_it(store: MemoryStore) -> None:
    a, b, c = add_nodes(store, 3)
    task_id = add_task(store)
    store.answers.put(Answer(task_id, a, AnswerStatus.OK, "4", 10))
    store.judgments.put(Judgment(task_id, c, a, b, Outcome.LEFT))
    store.rounds.start(task_id, [a, b, c], [PairAssignment(c, a, b)])
    store.tasks.delete(task_id)
    with pytest.raises(NotFound):
        store.tasks.get(task_id)
    assert store.answers.list_for_task(task_id) == []
    assert store.judgments.list_for_task(task_id) == []
    assert store.rounds.get(task_id) is None


# ---------------------------------------------------------------- answers, judgments
def test_answer_put_is_idempotent_and_listed_by_node(store: MemoryStore) -> None:
    a, b = add_nodes(store, 2)
    task_id = add_task(store)
    late = Answer(task_id, b, AnswerStatus.NO_SHOW, None, 30000)
    first = Answer(task_id, a, AnswerStatus.OK, "four", 120, {"model": "m", "usage": {"tokens": 3}})
    assert store.answers.put(late) is True
    assert store.answers.put(first) is True
    assert store.answers.put(Answer(task_id, a, AnswerStatus.OK, "five", 1)) is False
    assert store.answers.list_for_task(task_id) == [first, late]


def test_answer_for_unknown_task_or_node_is_not_found(store: MemoryStore) -> None:
    (a,) = add_nodes(store, 1)
    with pytest.raises(NotFound):
        store.answers.put(Answer(TaskId(str(uuid.uuid4())), a, AnswerStatus.OK, "x", 1))
    with pytest.raises(NotFound):
        store.answers.put(Answer(TaskId("garbage"), a, AnswerStatus.OK, "x", 1))
    with pytest.raises(NotFound):
        store.answers.put(Answer(add_task(store), NodeId(999), AnswerStatus.OK, "x", 1))


def test_answer_raw_keeps_bytes_as_hex_and_refuses_nan(store: MemoryStore) -> None:
    (a,) = add_nodes(store, 1)
    task_id = add_task(store)
    store.answers.put(Answer(task_id, a, AnswerStatus.OK, "x", 1, {"sig": b"\x01\xff"}))
    assert store.answers.list_for_task(task_id)[0].raw == {"sig": "0x01ff"}
    with pytest.raises(Invalid):
        store.answers.put(Answer(task_id, a, AnswerStatus.OK, "x", 1, {"score": float("nan")}))


def test_returned_and_given_raw_cannot_change_the_stored_answer(store: MemoryStore) -> None:
    (a,) = add_nodes(store, 1)
    task_id = add_task(store)
    raw = {"usage": {"tokens": 3}}
    store.answers.put(Answer(task_id, a, AnswerStatus.OK, "x", 1, raw))
    raw["usage"]["tokens"] = 4
    got = store.answers.list_for_task(task_id)[0].raw
    assert isinstance(got, dict)
    got["usage"]["tokens"] = 5
    assert store.answers.list_for_task(task_id)[0].raw == {"usage": {"tokens": 3}}


def test_signed_work_and_rejected_work_round_trip(store: MemoryStore) -> None:
    from tests.fixtures.signing import signed_work_round_trips

    signed_work_round_trips(store, add_nodes(store, 3), add_task(store))


def test_judgment_put_is_idempotent_per_ordered_pair(store: MemoryStore) -> None:
    a, b, c = add_nodes(store, 3)
    task_id = add_task(store)
    j = Judgment(task_id, c, a, b, Outcome.LEFT, {"reason": "correct"})
    assert store.judgments.put(Judgment(task_id, c, b, a, Outcome.TIE)) is True  # the other order
    assert store.judgments.put(j) is True
    assert store.judgments.put(Judgment(task_id, c, a, b, Outcome.RIGHT)) is False
    assert store.judgments.list_for_task(task_id) == [
        j,
        Judgment(task_id, c, b, a, Outcome.TIE, {}),
    ]


def test_a_judge_never_judges_its_own_answer(store: MemoryStore) -> None:
    a, b = add_nodes(store, 2)
    task_id = add_task(store)
    with pytest.raises(Invalid, match="its own answer"):
        store.judgments.put(Judgment(task_id, a, a, b, Outcome.LEFT))
    with pytest.raises(Invalid, match="its own answer"):
        store.judgments.put(Judgment(task_id, b, a, b, Outcome.LEFT))
    with pytest.raises(Invalid, match="two different nodes"):
        store.judgments.put(Judgment(task_id, b, a, a, Outcome.LEFT))
    with pytest.raises(NotFound):
        store.judgments.put(Judgment(task_id, NodeId(99), a, b, Outcome.LEFT))
    assert store.judgments.list_for_task(task_id) == []


# ---------------------------------------------------------------- rounds
def test_round_start_is_idempotent_and_finish_stores_the_ranking(store: MemoryStore) -> None:
    a, b, c = add_nodes(store, 3)
    task_id = add_task(store)
    pairs = [PairAssignment(c, a, b), PairAssignment(a, b, c), PairAssignment(b, c, a)]
    started = store.rounds.start(task_id, [a, b, c], pairs)
    assert started.node_ids == (a, b, c) and started.pairs == tuple(pairs)
    assert started.winner_id is None and started.ranking == () and started.finished_at is None
    assert started.seats is None and started.candidates == ()
    # a retried start (even with another schedule) returns the stored round
    assert store.rounds.start(task_id, [a, b], []) == started
    ranking = [RankEntry(b, 0.1 + 0.2, 1), RankEntry(a, -1.5e-300, 2), RankEntry(c, -7.25, 3)]
    finished = store.rounds.finish(task_id, b, ranking, "bt-mle")
    assert finished.winner_id == b
    assert finished.ranking == tuple(ranking)  # floats exactly as given
    assert finished.method == "bt-mle"
    assert finished.finished_at is not None and finished.finished_at >= finished.started_at
    assert store.rounds.get(task_id) == finished


def test_round_keeps_seats_candidates_and_weights(store: MemoryStore) -> None:
    a, b, c = add_nodes(store, 3)
    task_id = add_task(store)
    candidates = (Candidate(a, (a, c)), Candidate(b, (b,)))
    started = store.rounds.start(
        task_id,
        [a, b, c],
        [PairAssignment(c, a, b)],
        seats={a: 2, b: 1, c: 3},
        candidates=candidates,
    )
    assert started.seats == {a: 2, b: 1, c: 3} and started.candidates == candidates
    weights = {a: (900_000, 800_000), c: (500_000, 0)}
    done = store.rounds.finish(
        task_id, a, [RankEntry(a, 0.9, 1), RankEntry(b, 0.1, 2)], "m", weights=weights
    )
    assert done.weights == weights
    assert store.rounds.get(task_id) == done
    # what a caller does with a returned round stays with the caller
    assert isinstance(done.seats, dict) and isinstance(done.weights, dict)
    done.seats[a] = 99
    done.weights[a] = (0, 0)
    again = store.rounds.get(task_id)
    assert again is not None and again.seats == {a: 2, b: 1, c: 3} and again.weights == weights


def test_recruited_pairs_append_once_per_pass_and_confidence_is_stored(store: MemoryStore) -> None:
    a, b, c = add_nodes(store, 3)
    task_id = add_task(store)
    store.rounds.start(task_id, [a, b, c], [PairAssignment(c, a, b)])
    extra = [PairAssignment(c, b, a)]
    first = store.rounds.add_pairs(task_id, extra, 1)
    assert first.pairs == (PairAssignment(c, a, b), PairAssignment(c, b, a)) and first.recruits == 1
    assert store.rounds.add_pairs(task_id, extra, 1) == first  # a redelivered pass adds nothing
    assert store.rounds.add_pairs(task_id, extra, 3) == first  # nor does one out of turn
    ranking = [RankEntry(a, 0.5, 1, 0.1, 0.9), RankEntry(b, -0.5, 2, -0.9, -0.1)]
    done = store.rounds.finish(task_id, a, ranking, "bt", separated=True)
    assert done.separated is True and done.ranking == tuple(ranking) and done.recruits == 1
    with pytest.raises(NotFound):
        store.rounds.add_pairs(add_task(store), extra, 1)


def test_round_for_unknown_task_and_finish_without_start_are_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFound):
        store.rounds.start(TaskId(str(uuid.uuid4())), [], [])
    with pytest.raises(NotFound):
        store.rounds.finish(add_task(store), None, [], "bt-mle")


# ---------------------------------------------------------------- epochs
def test_epoch_current_opens_one_and_close_opens_the_next(store: MemoryStore) -> None:
    first = store.epochs.current()
    assert first.id == 1 and first.status is EpochStatus.OPEN
    assert first.pool_wei == 0 and first.closed_at is None
    assert store.epochs.current() == first == store.epochs.lock_current()
    pool = Wei(10**30 + 1)
    closed = store.epochs.close(first.id, pool, "bafkreiabc")
    assert closed.status is EpochStatus.CLOSED and closed.pool_wei == pool
    assert closed.audit_cid == "bafkreiabc" and closed.closed_at is not None
    # closing again with the same outcome is a no-op; with another one, a Conflict
    assert store.epochs.close(first.id, pool, "bafkreiabc") == closed
    with pytest.raises(Conflict):
        store.epochs.close(first.id, Wei(1), "bafkreiabc")
    second = store.epochs.current()
    assert second.id == 2 and second.status is EpochStatus.OPEN
    assert [e.id for e in store.epochs.list()] == [second.id, first.id]
    assert [e.id for e in store.epochs.list(limit=1)] == [second.id]
    assert store.epochs.get(first.id) == closed


def test_epoch_missing_is_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFound):
        store.epochs.get(EpochId(999))
    with pytest.raises(NotFound):
        store.epochs.close(EpochId(999), Wei(0), None)


def test_finished_tasks_land_in_the_open_epoch_once(store: MemoryStore) -> None:
    first, epoch = finish_task(store)  # opens epoch 1
    assert epoch == 1 and store.epochs.current().id == 1
    assert store.tasks.assign_open_epoch(first) == 1
    second, _ = finish_task(store)
    store.epochs.close(EpochId(1), Wei(0), None)
    assert store.tasks.assign_open_epoch(second) == 1  # assigned before the close: stays
    third, epoch = finish_task(store)
    assert epoch == 2 and store.tasks.get(third).epoch_id == 2
    assert [t.id for t in store.tasks.list_for_epoch(EpochId(1))] == [first, second]
    assert [t.id for t in store.tasks.list_for_epoch(EpochId(2))] == [third]
    assert [e.status for e in store.epochs.list()] == [EpochStatus.OPEN, EpochStatus.CLOSED]


def test_latest_clusters_are_the_newest_closed_epochs(store: MemoryStore) -> None:
    a, b, c, d = add_nodes(store, 4)
    assert store.epochs.latest_clusters() == []
    one = store.epochs.current().id
    store.epochs.record_clusters(one, [[b, a], [d, c]])
    assert store.epochs.latest_clusters() == []  # the open epoch's do not count
    store.epochs.close(one, Wei(0), None)
    assert store.epochs.latest_clusters() == [frozenset({a, b}), frozenset({c, d})]
    two = store.epochs.current().id
    store.epochs.close(two, Wei(0), None)  # closed without recording clusters
    assert store.epochs.latest_clusters() == []
    store.epochs.record_clusters(two, [[c, a]])
    assert store.epochs.latest_clusters() == [frozenset({a, c})]
    store.epochs.record_clusters(EpochId(99), [[a, b]])  # no such epoch: nothing happens


def test_epoch_nodes_are_recorded_once(store: MemoryStore) -> None:
    a, b, c, d = add_nodes(store, 4)
    ep = store.epochs.current().id
    rows = [
        EpochNode(ep, b, Wei(7), 5000, 5100, 5000, False),
        EpochNode(ep, a, Wei(3), 5000, 4900, 5000, True),
    ]
    store.epochs.record_nodes(rows)
    store.epochs.record_nodes([EpochNode(ep, a, Wei(999), 1, 2, 3, False)])  # a repeated close
    assert store.epochs.nodes(ep) == rows[::-1]
    assert store.epochs.nodes(EpochId(99)) == []
    with pytest.raises(NotFound):
        store.epochs.record_nodes([EpochNode(EpochId(99), a, Wei(1), 5000, 5000, 5000, False)])
    with pytest.raises(Invalid):  # nothing of a refused batch is kept
        store.epochs.record_nodes(
            [
                EpochNode(ep, c, Wei(1), 5000, 5000, 5000, False),
                EpochNode(ep, d, Wei(-1), 0, 0, 0, False),
            ]
        )
    assert store.epochs.nodes(ep) == rows[::-1]


# ---------------------------------------------------------------- outbox
def test_outbox_enqueue_is_idempotent_by_intent(store: MemoryStore) -> None:
    entry = store.outbox.enqueue(
        "settle:epoch:1",
        chain_id=31337,
        sender=SENDER,
        to_address="0x" + "11" * 20,
        data="0xabcdef",
        value_wei=Wei(UINT256_MAX),
    )
    assert entry.status is OutboxStatus.PENDING and entry.nonce is None and entry.tx_hash is None
    assert entry.value_wei == UINT256_MAX
    again = store.outbox.enqueue(
        "settle:epoch:1",
        chain_id=31337,
        sender=SENDER.lower(),
        to_address="0x" + "11" * 20,
        data="0xABCDEF",
        value_wei=Wei(UINT256_MAX),
    )
    assert again == entry
    assert store.outbox.get_by_intent("settle:epoch:1") == entry
    assert store.outbox.get_by_intent("nothing") is None
    with pytest.raises(Conflict, match="different transaction"):
        store.outbox.enqueue(
            "settle:epoch:1", chain_id=31337, sender=SENDER, to_address=None, data="0x"
        )
    with pytest.raises(Invalid):
        store.outbox.enqueue("bad", chain_id=31337, sender=SENDER, to_address=None, data="0xabc")


def test_outbox_lifecycle_and_pending(store: MemoryStore) -> None:
    deploy = store.outbox.enqueue(
        "deploy:token", chain_id=31337, sender=SENDER, to_address=None, data="0x60"
    )
    other = store.outbox.enqueue(
        "deploy:x", chain_id=31337, sender="0x" + "22" * 20, to_address=None, data="0x"
    )
    assert [e.id for e in store.outbox.pending()] == [deploy.id, other.id]
    store.outbox.mark_sent(deploy.id, nonce=0, tx_hash="0x" + "aa" * 32)
    sent = store.outbox.get(deploy.id)
    assert sent.status is OutboxStatus.SENT and sent.nonce == 0 and sent.tx_hash == "0x" + "aa" * 32
    assert [e.id for e in store.outbox.pending(sender=SENDER.upper().replace("0X", "0x"))] == [
        deploy.id
    ]
    store.outbox.mark_mined(deploy.id, receipt={"status": 1, "blockHash": b"\x12\x34"}, ok=True)
    mined = store.outbox.get(deploy.id)
    assert mined.status is OutboxStatus.MINED
    assert mined.receipt == {"status": 1, "blockHash": "0x1234"}
    assert [e.id for e in store.outbox.pending()] == [other.id]
    with pytest.raises(Conflict, match="already mined"):
        store.outbox.mark_sent(deploy.id, nonce=5, tx_hash="0x01")
    store.outbox.mark_sent(other.id, nonce=0, tx_hash="0x" + "bb" * 32)  # another sender's nonce 0
    store.outbox.mark_mined(other.id, receipt={"status": 0}, ok=False)
    assert store.outbox.get(other.id).status is OutboxStatus.FAILED


def test_outbox_nonce_is_unique_per_sender(store: MemoryStore) -> None:
    a = store.outbox.enqueue("a", chain_id=31337, sender=SENDER, to_address=None, data="0x")
    b = store.outbox.enqueue("b", chain_id=31337, sender=SENDER.lower(), to_address=None, data="0x")
    store.outbox.mark_sent(a.id, nonce=7, tx_hash="0x01")
    store.outbox.mark_sent(a.id, nonce=7, tx_hash="0x02")  # re-sent with a new fee
    with pytest.raises(Conflict, match="nonce 7"):
        store.outbox.mark_sent(b.id, nonce=7, tx_hash="0x03")
    assert store.outbox.get(b.id).status is OutboxStatus.PENDING
    with pytest.raises(Invalid):  # a receipt needs a sent transaction
        store.outbox.mark_mined(b.id, receipt={}, ok=True)


def test_outbox_missing_is_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFound):
        store.outbox.get(404)
    with pytest.raises(NotFound):
        store.outbox.mark_sent(404, nonce=0, tx_hash="0x01")
    with pytest.raises(NotFound):
        store.outbox.mark_mined(404, receipt={}, ok=True)


# ---------------------------------------------------------------- settlements
def settlement(epoch_id: EpochId, **changes: Any) -> Settlement:
    plain = Settlement(epoch_id, 31337, ROOT, Wei(10), "bafkreiabc", 0, (5000,))
    return replace(plain, **changes)


def claim(epoch_id: EpochId, chain_node_id: int, account: str, cumulative: int) -> ClaimEntry:
    return ClaimEntry(
        epoch_id, chain_node_id, None, account, Wei(1), Wei(cumulative), ("0x" + "cd" * 32,)
    )


def closed_epoch(store: MemoryStore) -> EpochId:
    ep = store.epochs.current().id
    store.epochs.close(ep, Wei(10), "bafkreiabc")
    return ep


def test_settlement_record_is_idempotent_and_moves_on(store: MemoryStore) -> None:
    ep = closed_epoch(store)
    (a,) = add_nodes(store, 1)
    claims = [claim(ep, 2, "0xBB", 5), ClaimEntry(ep, 1, a, "0xAA", Wei(1), Wei(1), ())]
    recorded = store.settlements.record(
        settlement(
            ep,
            root=ROOT.upper().replace("0X", "0x"),
            proof_chunks=9,
            proof_status=ProofStatus.VERIFIED,
        ),
        claims,
    )
    assert recorded == settlement(ep)  # root lower-cased; a fresh record has no proof yet
    assert (
        store.settlements.record(settlement(ep, total_wei=Wei(99)), []) == recorded
    )  # first stands
    assert [c.chain_node_id for c in store.settlements.claims(ep)] == [1, 2]
    proposed = store.settlements.set_status(ep, SettlementStatus.PROPOSED, propose_intent="p:1")
    assert proposed.status is SettlementStatus.PROPOSED and proposed.propose_intent == "p:1"
    final = store.settlements.set_status(ep, SettlementStatus.FINALIZED, finalize_intent="f:1")
    assert final.propose_intent == "p:1" and final.finalize_intent == "f:1"  # intents are kept
    assert store.settlements.get(ep) == final == store.settlements.latest()
    assert store.settlements.proof(ep) is None
    proven = store.settlements.set_proof(ep, ProofStatus.VERIFIED, proof=b"\x01\x02", chunks=1)
    assert proven.proof_status is ProofStatus.VERIFIED and proven.proof_chunks == 1
    assert store.settlements.proof(ep) == b"\x01\x02"


def test_settlement_missing_and_refused(store: MemoryStore) -> None:
    assert store.settlements.get(EpochId(1)) is None and store.settlements.latest() is None
    with pytest.raises(NotFound):
        store.settlements.set_status(EpochId(1), SettlementStatus.PROPOSED)
    with pytest.raises(NotFound):
        store.settlements.set_proof(EpochId(1), ProofStatus.REJECTED, proof=None, chunks=0)
    with pytest.raises(NotFound):  # no such epoch
        store.settlements.record(settlement(EpochId(1)), [])
    ep = closed_epoch(store)
    with pytest.raises(Invalid):
        store.settlements.record(settlement(ep, root="0x12"), [])
    with pytest.raises(Conflict):
        store.settlements.record(settlement(ep), [claim(ep, 1, "0xAA", 1), claim(ep, 1, "0xAA", 2)])
    assert store.settlements.get(ep) is None and store.settlements.claims(ep) == []


def test_claim_of_reads_finalized_settlements(store: MemoryStore) -> None:
    one = closed_epoch(store)
    store.settlements.record(settlement(one), [claim(one, 1, "0xAA", 1), claim(one, 2, "0xBB", 1)])
    assert store.settlements.claim_of(account="0xaa") is None  # recorded, not finalized
    store.settlements.set_status(one, SettlementStatus.FINALIZED)
    two = closed_epoch(store)
    store.settlements.record(settlement(two), [claim(two, 1, "0xAA", 3)])
    got = store.settlements.claim_of(account="0xaa")
    assert got is not None and got.epoch_id == one and got.chain_node_id == 1
    store.settlements.set_status(two, SettlementStatus.FINALIZED)
    latest = store.settlements.claim_of(account="0xAA")
    assert latest is not None and latest.epoch_id == two and latest.cumulative_wei == 3
    assert store.settlements.claim_of(chain_node_id=2) is None  # not in the latest tree
    by_epoch = store.settlements.claim_of(chain_node_id=2, epoch_id=one)
    assert by_epoch is not None and by_epoch.account == "0xBB"
    assert store.settlements.latest(status=SettlementStatus.RECORDED) is None


# ---------------------------------------------------------------- transactions
def test_transaction_commits_on_exit(store: MemoryStore) -> None:
    with store.transaction() as tx:
        node = tx.nodes.add(NewNode("alpha", "http://a", "m"))
        task_id = add_task(store)
        tx.answers.put(Answer(task_id, node.id, AnswerStatus.OK, "x", 1))
    assert store.nodes.get(node.id) == node
    assert len(store.answers.list_for_task(task_id)) == 1


def test_transaction_rollback_leaves_nothing(store: MemoryStore) -> None:
    (kept,) = add_nodes(store, 1)
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as tx:
        node = tx.nodes.add(NewNode("alpha", "http://a", "m"))
        task_id = tx.tasks.add(NewTask("q", "alice", Wei(1), 3)).id
        tx.answers.put(Answer(task_id, node.id, AnswerStatus.OK, "x", 1))
        tx.tasks.assign_open_epoch(task_id)
        tx.nodes.set_reputation(kept, 9000, 9000)
        tx.outbox.enqueue("k", chain_id=1, sender=SENDER, to_address=None, data="0x")
        assert tx.nodes.get(node.id) == node  # visible inside
        raise RuntimeError("boom")
    assert [n.id for n in store.nodes.list()] == [kept]
    assert store.nodes.get(kept).reputation_bp == 5000
    assert store.tasks.list() == []
    assert store.epochs.list() == []
    assert store.outbox.pending() == [] and store.outbox.get_by_intent("k") is None


def test_a_caught_error_does_not_poison_the_transaction(store: MemoryStore) -> None:
    with store.transaction() as tx:
        tx.nodes.add(NewNode("alpha", "http://a", "m"))
        with pytest.raises(Conflict):
            tx.nodes.add(NewNode("alpha", "http://b", "m"))
        with pytest.raises(NotFound):
            tx.tasks.get(TaskId(str(uuid.uuid4())))
        tx.nodes.add(NewNode("beta", "http://b", "m"))
    assert [n.name for n in store.nodes.list()] == ["alpha", "beta"]


def test_nested_transaction_is_a_savepoint(store: MemoryStore) -> None:
    with store.transaction() as tx:
        tx.nodes.add(NewNode("alpha", "http://a", "m"))
        with pytest.raises(RuntimeError), tx.transaction() as inner:
            inner.nodes.add(NewNode("beta", "http://b", "m"))
            raise RuntimeError
    assert [n.name for n in store.nodes.list()] == ["alpha"]


def test_concurrent_transactions_open_one_epoch(store: MemoryStore) -> None:
    seen: list[int] = []
    errors: list[BaseException] = []

    def open_epoch() -> None:
        try:
            with store.transaction() as tx:
                seen.append(tx.epochs.current().id)
                time.sleep(0.01)  # hold the transaction while the others wait
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_epoch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and seen == [1] * 8
    assert [e.status for e in store.epochs.list()] == [EpochStatus.OPEN]


# ---------------------------------------------------------------- availability
def test_ping_and_closed_store_is_unavailable() -> None:
    s = MemoryStore()
    s.ping()
    s.close()
    with pytest.raises(StoreUnavailable):
        s.ping()
    with pytest.raises(StoreUnavailable):
        s.nodes.list()


# ---------------------------------------------------------------- content
def test_content_cids_are_the_local_stores(tmp_path: Path) -> None:
    content, local = MemoryContent(), LocalContentStore(tmp_path / "content")
    for blob in (b"", b"hello world", bytes(range(256)) * 100):
        cid = content.put(blob)
        assert cid == cid_of(blob) == local.put(blob)
        assert content.get(cid) == blob and content.has(cid)


def test_content_unknown_cid_is_not_found_and_a_non_cid_invalid() -> None:
    content = MemoryContent()
    absent = cid_of(b"never stored")
    assert content.has(absent) is False
    with pytest.raises(NotFound):
        content.get(absent)
    with pytest.raises(Invalid):
        content.get("not-a-cid")

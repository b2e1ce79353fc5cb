"""PostgresStore against the real PostgreSQL server of the test session."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from services.core.errors import Conflict, Invalid, NotFound, StoreUnavailable
from services.core.types import (
    Answer,
    AnswerStatus,
    Candidate,
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
from services.store.db import PostgresStore
from tests.fixtures.signing import signed_work_round_trips

UINT256_MAX = 2**256 - 1


def add_nodes(store: PostgresStore, n: int) -> list[NodeId]:
    return [
        store.nodes.add(NewNode(f"node-{i}", f"http://127.0.0.1:{9000 + i}", "m")).id
        for i in range(n)
    ]


def add_task(store: PostgresStore, fee: int = 10**16) -> TaskId:
    return store.tasks.add(NewTask("What is 2+2?", "alice", Wei(fee), 3)).id


# ---------------------------------------------------------------- nodes
def test_node_round_trip_with_defaults(store: PostgresStore) -> None:
    added = store.nodes.add(
        NewNode("alpha", "http://127.0.0.1:8101", "qwen", NodeKind.TEST, "0xAbC", Wei(10**30 + 1))
    )
    assert added.id > 0
    assert added.status is NodeStatus.ACTIVE
    assert added.reputation_bp == 5000
    assert added.stake_wei == 10**30 + 1 and type(added.stake_wei) is int
    assert added.kind is NodeKind.TEST and added.address == "0xAbC"
    assert store.nodes.get(added.id) == added
    assert store.nodes.get_by_name("alpha") == added


def test_node_name_and_address_conflicts(store: PostgresStore) -> None:
    store.nodes.add(NewNode("alpha", "http://a", "m", address="0x1"))
    with pytest.raises(Conflict, match="named 'alpha' already exists"):
        store.nodes.add(NewNode("alpha", "http://b", "m"))
    with pytest.raises(Conflict, match="address 0x1 is already registered"):
        store.nodes.add(NewNode("beta", "http://b", "m", address="0x1"))
    # nodes without an address do not collide with each other
    store.nodes.add(NewNode("gamma", "http://c", "m"))
    store.nodes.add(NewNode("delta", "http://d", "m"))
    assert [n.name for n in store.nodes.list()] == ["alpha", "gamma", "delta"]


def test_node_missing_is_not_found(store: PostgresStore) -> None:
    with pytest.raises(NotFound):
        store.nodes.get(NodeId(12345))
    with pytest.raises(NotFound):
        store.nodes.get_by_name("nobody")
    with pytest.raises(NotFound):
        store.nodes.set_status(NodeId(12345), NodeStatus.INACTIVE)


def test_node_status_filter(store: PostgresStore) -> None:
    a, b, c = add_nodes(store, 3)
    store.nodes.set_status(b, NodeStatus.INACTIVE)
    assert [n.id for n in store.nodes.list(status=NodeStatus.ACTIVE)] == [a, c]
    assert [n.id for n in store.nodes.list(status=NodeStatus.INACTIVE)] == [b]
    assert store.nodes.get(b).status is NodeStatus.INACTIVE


def test_negative_stake_is_refused(store: PostgresStore) -> None:
    with pytest.raises(Invalid):
        store.nodes.add(NewNode("neg", "http://a", "m", stake_wei=Wei(-1)))
    assert store.nodes.list() == []


# ---------------------------------------------------------------- tasks
def test_task_round_trip_with_exact_uint256_fee(store: PostgresStore) -> None:
    task = store.tasks.add(NewTask("prompt", "alice", Wei(UINT256_MAX), 4))
    uuid.UUID(task.id)  # a str of a UUID
    assert task.status is TaskStatus.QUEUED and task.error is None and task.epoch_id is None
    got = store.tasks.get(task.id)
    assert got == task
    assert got.fee_wei == UINT256_MAX and type(got.fee_wei) is int


def test_task_status_and_error(store: PostgresStore) -> None:
    task_id = add_task(store)
    before = store.tasks.get(task_id)
    store.tasks.set_status(task_id, TaskStatus.FAILED, "only 1 of 3 nodes answered")
    after = store.tasks.get(task_id)
    assert after.status is TaskStatus.FAILED
    assert after.error == "only 1 of 3 nodes answered"
    assert after.updated_at > before.updated_at
    store.tasks.set_status(task_id, TaskStatus.QUEUED)
    assert store.tasks.get(task_id).error is None


def test_task_ids_that_name_nothing_are_not_found(store: PostgresStore) -> None:
    for bad in ("not-a-uuid", "", str(uuid.uuid4())):
        with pytest.raises(NotFound):
            store.tasks.get(TaskId(bad))
        with pytest.raises(NotFound):
            store.tasks.set_status(TaskId(bad), TaskStatus.DONE)
        with pytest.raises(NotFound):
            store.tasks.delete(TaskId(bad))
        assert store.answers.list_for_task(TaskId(bad)) == []
        assert store.judgments.list_for_task(TaskId(bad)) == []
        assert store.rounds.get(TaskId(bad)) is None


def test_task_list_newest_first_with_limit(store: PostgresStore) -> None:
    ids = [add_task(store) for _ in range(5)]
    assert [t.id for t in store.tasks.list()] == ids[::-1]
    assert [t.id for t in store.tasks.list(limit=2)] == ids[::-1][:2]


def test_task_delete_takes_its_round_with_it(store: PostgresStore) -> None:
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
def test_answer_put_is_idempotent(store: PostgresStore) -> None:
    a, b = add_nodes(store, 2)
    task_id = add_task(store)
    first = Answer(task_id, a, AnswerStatus.OK, "four", 120, {"model": "m", "usage": {"tokens": 3}})
    assert store.answers.put(first) is True
    assert store.answers.put(Answer(task_id, a, AnswerStatus.OK, "five", 1)) is False
    assert store.answers.put(Answer(task_id, b, AnswerStatus.NO_SHOW, None, 30000)) is True
    assert store.answers.list_for_task(task_id) == [
        first,
        Answer(task_id, b, AnswerStatus.NO_SHOW, None, 30000, {}),
    ]


def test_answer_for_unknown_task_or_node_is_not_found(store: PostgresStore) -> None:
    (a,) = add_nodes(store, 1)
    with pytest.raises(NotFound):
        store.answers.put(Answer(TaskId(str(uuid.uuid4())), a, AnswerStatus.OK, "x", 1))
    with pytest.raises(NotFound):
        store.answers.put(Answer(TaskId("garbage"), a, AnswerStatus.OK, "x", 1))
    with pytest.raises(NotFound):
        store.answers.put(Answer(add_task(store), NodeId(999), AnswerStatus.OK, "x", 1))


def test_answer_raw_keeps_bytes_as_hex_and_refuses_nan(store: PostgresStore) -> None:
    (a,) = add_nodes(store, 1)
    task_id = add_task(store)
    store.answers.put(Answer(task_id, a, AnswerStatus.OK, "x", 1, {"sig": b"\x01\xff"}))
    assert store.answers.list_for_task(task_id)[0].raw == {"sig": "0x01ff"}
    with pytest.raises(Invalid):
        store.answers.put(Answer(task_id, a, AnswerStatus.OK, "x", 1, {"score": float("nan")}))


def test_judgment_put_is_idempotent_per_ordered_pair(store: PostgresStore) -> None:
    a, b, c = add_nodes(store, 3)
    task_id = add_task(store)
    j = Judgment(task_id, c, a, b, Outcome.LEFT, {"reason": "correct"})
    assert store.judgments.put(j) is True
    assert store.judgments.put(Judgment(task_id, c, a, b, Outcome.RIGHT)) is False
    assert store.judgments.put(Judgment(task_id, c, b, a, Outcome.TIE)) is True  # the other order
    assert store.judgments.list_for_task(task_id) == [
        j,
        Judgment(task_id, c, b, a, Outcome.TIE, {}),
    ]


def test_signed_work_and_rejected_work_round_trip(store: PostgresStore) -> None:
    signed_work_round_trips(store, add_nodes(store, 3), add_task(store))


def test_a_judge_never_judges_its_own_answer(store: PostgresStore) -> None:
    a, b = add_nodes(store, 2)
    task_id = add_task(store)
    with pytest.raises(Invalid, match="its own answer"):
        store.judgments.put(Judgment(task_id, a, a, b, Outcome.LEFT))
    with pytest.raises(Invalid, match="its own answer"):
        store.judgments.put(Judgment(task_id, b, a, b, Outcome.LEFT))
    assert store.judgments.list_for_task(task_id) == []


# ---------------------------------------------------------------- rounds
def test_round_start_is_idempotent_and_finish_stores_the_ranking(store: PostgresStore) -> None:
    a, b, c = add_nodes(store, 3)
    task_id = add_task(store)
    pairs = [PairAssignment(c, a, b), PairAssignment(a, b, c), PairAssignment(b, c, a)]
    started = store.rounds.start(task_id, [a, b, c], pairs)
    assert started.node_ids == (a, b, c) and started.pairs == tuple(pairs)
    assert started.winner_id is None and started.ranking == () and started.finished_at is None
    # a retried start (even with another schedule) returns the stored round
    assert store.rounds.start(task_id, [a, b], []) == started
    ranking = [RankEntry(b, 0.1 + 0.2, 1), RankEntry(a, -1.5e-300, 2), RankEntry(c, -7.25, 3)]
    finished = store.rounds.finish(task_id, b, ranking, "bt-mle")
    assert finished.winner_id == b
    assert finished.ranking == tuple(ranking)  # floats exactly as given
    assert finished.method == "bt-mle"
    assert finished.finished_at is not None and finished.finished_at >= finished.started_at
    assert store.rounds.get(task_id) == finished


def test_recruited_pairs_append_once_per_pass_and_confidence_is_stored(store: PostgresStore) -> None:
    a, b, c = add_nodes(store, 3)
    task_id = add_task(store)
    store.rounds.start(task_id, [a, b, c], [PairAssignment(c, a, b)])
    extra = [PairAssignment(c, b, a)]
    first = store.rounds.add_pairs(task_id, extra, 1)
    assert first.pairs == (PairAssignment(c, a, b), PairAssignment(c, b, a)) and first.recruits == 1
    assert store.rounds.add_pairs(task_id, extra, 1) == first  # a redelivered pass adds nothing
    ranking = [RankEntry(a, 0.5, 1, 0.1, 0.9), RankEntry(b, -0.5, 2, -0.9, -0.1)]
    done = store.rounds.finish(task_id, a, ranking, "bt", separated=True)
    assert done.separated is True and done.ranking == tuple(ranking) and done.recruits == 1
    with pytest.raises(NotFound):
        store.rounds.add_pairs(add_task(store), extra, 1)


def test_a_round_keeps_its_seats_candidates_and_rates(store: PostgresStore) -> None:
    a, b, c = add_nodes(store, 3)
    task_id = add_task(store)
    cands = (Candidate(a, (a, c)), Candidate(b, (b,)))
    started = store.rounds.start(
        task_id, [a, b, c], [PairAssignment(c, a, b)], seats={a: 2, b: 1, c: 1}, candidates=cands
    )
    assert started.seats == {a: 2, b: 1, c: 1} and started.candidates == cands
    again = store.rounds.start(task_id, [a], [], seats={a: 9}, candidates=())
    assert again == started  # idempotent: the first start stands
    done = store.rounds.finish(
        task_id, a, [RankEntry(a, 0.9, 1), RankEntry(b, 0.05, 2)], "posterior", True,
        {a: (700_000, 800_000), b: (400_000, 500_000), c: (600_000, 650_000)},
    )  # fmt: skip
    assert done.weights == {a: (700_000, 800_000), b: (400_000, 500_000), c: (600_000, 650_000)}
    assert store.rounds.get(task_id) == done


def test_a_nodes_reliability_record_round_trips(store: PostgresStore) -> None:
    (a,) = add_nodes(store, 1)
    record = Reliability(1, 2, 3, 4, 5, 6, 7, 8)
    store.nodes.set_reliability(a, record)
    assert store.nodes.get(a).reliability == record
    with pytest.raises(NotFound):
        store.nodes.set_reliability(NodeId(10**9), record)


def test_round_finish_without_start_is_not_found(store: PostgresStore) -> None:
    with pytest.raises(NotFound):
        store.rounds.finish(add_task(store), None, [], "bt-mle")


# ---------------------------------------------------------------- epochs
def test_epoch_current_opens_one_and_close_opens_the_next(store: PostgresStore) -> None:
    first = store.epochs.current()
    assert first.status is EpochStatus.OPEN and first.pool_wei == 0 and first.closed_at is None
    assert store.epochs.current() == first
    pool = Wei(10**30 + 1)
    closed = store.epochs.close(first.id, pool, "bafkreiabc")
    assert closed.status is EpochStatus.CLOSED and closed.pool_wei == pool
    assert closed.audit_cid == "bafkreiabc" and closed.closed_at is not None
    # closing again with the same outcome is a no-op; with another one, a Conflict
    assert store.epochs.close(first.id, pool, "bafkreiabc") == closed
    with pytest.raises(Conflict):
        store.epochs.close(first.id, Wei(1), "bafkreiabc")
    second = store.epochs.current()
    assert second.id > first.id and second.status is EpochStatus.OPEN
    assert [e.id for e in store.epochs.list()] == [second.id, first.id]
    assert store.epochs.get(first.id) == closed


def test_epoch_missing_is_not_found(store: PostgresStore) -> None:
    with pytest.raises(NotFound):
        store.epochs.get(999)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.epochs.close(999, Wei(0), None)  # type: ignore[arg-type]


def test_concurrent_current_gives_one_epoch(postgres_url: str, store: PostgresStore) -> None:
    stores = [PostgresStore.connect(postgres_url, max_size=1) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    seen: list[int] = []
    errors: list[BaseException] = []

    def open_epoch(s: PostgresStore) -> None:
        try:
            with s.transaction() as tx:
                barrier.wait()
                seen.append(tx.epochs.current().id)
                time.sleep(0.05)  # hold the transaction open while the others race
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_epoch, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in stores:
        s.close()
    assert errors == []
    assert len(seen) == 8 and len(set(seen)) == 1
    assert [e.status for e in store.epochs.list()] == [EpochStatus.OPEN]


# ---------------------------------------------------------------- outbox
SENDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_outbox_enqueue_is_idempotent_by_intent(store: PostgresStore) -> None:
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


def test_outbox_lifecycle_and_pending(store: PostgresStore) -> None:
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


def test_outbox_nonce_is_unique_per_sender(store: PostgresStore) -> None:
    a = store.outbox.enqueue("a", chain_id=31337, sender=SENDER, to_address=None, data="0x")
    b = store.outbox.enqueue("b", chain_id=31337, sender=SENDER.lower(), to_address=None, data="0x")
    store.outbox.mark_sent(a.id, nonce=7, tx_hash="0x01")
    with pytest.raises(Conflict, match="nonce 7"):
        store.outbox.mark_sent(b.id, nonce=7, tx_hash="0x02")
    assert store.outbox.get(b.id).status is OutboxStatus.PENDING


def test_outbox_missing_is_not_found(store: PostgresStore) -> None:
    with pytest.raises(NotFound):
        store.outbox.get(404)
    with pytest.raises(NotFound):
        store.outbox.mark_sent(404, nonce=0, tx_hash="0x01")
    with pytest.raises(NotFound):
        store.outbox.mark_mined(404, receipt={}, ok=True)


# ---------------------------------------------------------------- transactions
def test_transaction_commits_on_exit(store: PostgresStore) -> None:
    with store.transaction() as tx:
        node = tx.nodes.add(NewNode("alpha", "http://a", "m"))
        task_id = add_task(tx)
        tx.answers.put(Answer(task_id, node.id, AnswerStatus.OK, "x", 1))
    assert store.nodes.get(node.id) == node
    assert len(store.answers.list_for_task(task_id)) == 1


def test_transaction_rollback_leaves_nothing(store: PostgresStore) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with store.transaction() as tx:
            node = tx.nodes.add(NewNode("alpha", "http://a", "m"))
            task_id = add_task(tx)
            tx.answers.put(Answer(task_id, node.id, AnswerStatus.OK, "x", 1))
            tx.epochs.current()
            tx.outbox.enqueue("k", chain_id=1, sender=SENDER, to_address=None, data="0x")
            assert tx.nodes.get(node.id) == node  # visible inside
            raise RuntimeError("boom")
    assert store.nodes.list() == []
    assert store.tasks.list() == []
    assert store.epochs.list() == []
    assert store.outbox.pending() == []


def test_uncommitted_writes_are_invisible_outside(store: PostgresStore) -> None:
    with store.transaction() as tx:
        tx.nodes.add(NewNode("alpha", "http://a", "m"))
        assert store.nodes.list() == []  # another connection, another transaction
    assert [n.name for n in store.nodes.list()] == ["alpha"]


def test_a_caught_error_does_not_poison_the_transaction(store: PostgresStore) -> None:
    with store.transaction() as tx:
        tx.nodes.add(NewNode("alpha", "http://a", "m"))
        with pytest.raises(Conflict):
            tx.nodes.add(NewNode("alpha", "http://b", "m"))
        with pytest.raises(NotFound):
            tx.tasks.get(TaskId(str(uuid.uuid4())))
        tx.nodes.add(NewNode("beta", "http://b", "m"))
    assert [n.name for n in store.nodes.list()] == ["alpha", "beta"]


def test_nested_transaction_is_a_savepoint(store: PostgresStore) -> None:
    with store.transaction() as tx:
        tx.nodes.add(NewNode("alpha", "http://a", "m"))
        with pytest.raises(RuntimeError):
            with tx.transaction() as inner:
                inner.nodes.add(NewNode("beta", "http://b", "m"))
                raise RuntimeError
    assert [n.name for n in store.nodes.list()] == ["alpha"]


# ---------------------------------------------------------------- availability
def test_ping(store: PostgresStore) -> None:
    store.ping()


def test_connect_to_nothing_is_store_unavailable() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        PostgresStore.connect(f"postgresql://merit@127.0.0.1:{port}/merit", timeout=1.0)
    assert f"127.0.0.1:{port}" in info.value.detail
    assert time.monotonic() - started < 10


def test_closed_store_is_store_unavailable(postgres_url: str) -> None:
    s = PostgresStore.connect(postgres_url)
    s.close()
    with pytest.raises(StoreUnavailable):
        s.ping()

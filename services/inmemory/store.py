"""MemoryStore: the ``services.app.ports.Store`` adapter in process memory.

It mirrors the PostgreSQL adapter (``services.store``) call for call: the same ids (node and outbox
ids count from 1 and, like identity sequences, are spent by a failed or rolled-back insert; epoch
numbers are gapless; task ids are UUIDs), the same orderings, the same idempotent writes, and the
same errors where a constraint of the migrations refuses a row (CHECK: Invalid, foreign key:
NotFound, unique: Conflict). What PostgreSQL keeps as jsonb goes through JSON here too, so bytes
come back as 0x-hex, mapping keys as strings, and NaN is refused. The encoding of those columns
(``services.store.jsonb``) and the errors of a missing row or a refused rewrite
(``services.store.refusals``) are the PostgreSQL adapter's own, imported without psycopg.

Each call is atomic under one re-entrant lock. ``transaction()`` holds the lock for its whole block
(other threads wait) and on an exception restores every table as it was on entry; a nested block is
a savepoint. Stored rows are never changed in place (frozen dataclasses and tuples, replaced on
write), so a snapshot is a shallow copy of each table, and reads copy the dicts a row carries.
Timestamps come from ``clock`` (UTC now by default), made strictly increasing.
"""

from __future__ import annotations

import builtins
import copy
import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Self, TypeVar

from services.app.ports import (
    AnswerRepository,
    ChainCursor,
    CursorRepository,
    EpochRepository,
    GoldRepository,
    JudgmentRepository,
    NodeRepository,
    OutboxRepository,
    RoundRepository,
    SettlementRepository,
    TaskRepository,
    node_taken,
)
from services.core.errors import Conflict, Invalid, MeritError, NotFound, StoreUnavailable
from services.core.schedule import check_judge
from services.core.settlement import ClaimEntry, ProofStatus, Settlement, SettlementStatus
from services.core.types import (
    Answer,
    AnswerStatus,
    Candidate,
    Epoch,
    EpochId,
    EpochNode,
    EpochStatus,
    FeeState,
    GoldSet,
    GoldTask,
    Judgment,
    NewNode,
    NewTask,
    Node,
    NodeId,
    NodeKind,
    NodeStatus,
    OutboxEntry,
    OutboxStatus,
    Outcome,
    PairAssignment,
    RankEntry,
    Reliability,
    Round,
    StalledTask,
    Task,
    TaskId,
    TaskStatus,
    Wei,
)
from services.store.jsonb import (
    candidates_json,
    candidates_of,
    dumps,
    pairs_json,
    pairs_of,
    ranking_json,
    ranking_of,
    seats_json,
    seats_of,
    weights_json,
    weights_of,
)
from services.store.refusals import (
    chain_node_not_known,
    closed_again,
    enqueued_again,
    entry_finished,
    entry_not_found,
    epoch_not_found,
    no_round,
    no_settlement,
    node_name_not_found,
    node_not_found,
    nonce_taken,
    parse_task_id,
    same_address,
    task_not_found,
)

if TYPE_CHECKING:
    from services.app.ports import Store

K = TypeVar("K")
V = TypeVar("V")
P = ParamSpec("P")
R = TypeVar("R")

_TABLES = (
    "nodes",
    "tasks",
    "answers",
    "judgments",
    "rounds",
    "epochs",
    "clusters",
    "epoch_nodes",
    "outbox",
    "settlements",
    "cursors",
    "proofs",
    "claims",
    "gold_sets",
    "gold_tasks",
    "progress",
    "redrives",
)
_BP = range(10_001)  # basis points
_CALLDATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_ROOT = re.compile(r"0x[0-9a-f]{64}")
_UNFINISHED = (OutboxStatus.PENDING, OutboxStatus.SENT)
_NO_VALUE = Wei(0)


def _utc_now() -> datetime:
    return datetime.now(UTC)


_ABSENT = object()


class _Table(dict):  # type: ignore[type-arg]
    """A table whose writes inside a transaction are journaled, so a rollback undoes exactly
    them: a transaction costs what it writes, not a copy of every table."""

    __slots__ = ("_undo",)

    def __init__(self, undo: list[list[tuple[dict[Any, Any], Any, Any]]]) -> None:
        super().__init__()
        self._undo = undo

    def _note(self, key: Any) -> None:
        if self._undo:
            self._undo[-1].append((self, key, dict.get(self, key, _ABSENT)))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._note(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self._note(key)
        dict.__delitem__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        self._note(key)
        return dict.pop(self, key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._note(key)
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        for key in list(self):
            del self[key]


class _Tables:
    """The rows by primary key; answers, judgments and claims grouped by their task or epoch."""

    def __init__(self, clock: Callable[[], datetime], new_id: Callable[[], uuid.UUID]) -> None:
        self.lock = threading.RLock()
        self.closed = False
        self._undo: list[
            list[tuple[dict[Any, Any], Any, Any]]
        ] = []  # one journal per open transaction
        self._clock = clock
        self.new_id = new_id
        self._last: datetime | None = None
        self.node_ids = itertools.count(1)  # sequences: never rolled back
        self.outbox_ids = itertools.count(1)
        self.nodes: dict[NodeId, Node] = {}
        self.tasks: dict[str, Task] = {}
        self.answers: dict[str, tuple[Answer, ...]] = {}  # by node id
        self.judgments: dict[str, tuple[Judgment, ...]] = {}  # by (judge, left, right)
        self.rounds: dict[str, Round] = {}
        self.epochs: dict[EpochId, Epoch] = {}
        self.clusters: dict[EpochId, tuple[tuple[NodeId, ...], ...]] = {}
        self.epoch_nodes: dict[tuple[EpochId, NodeId], EpochNode] = {}
        self.outbox: dict[int, OutboxEntry] = {}
        self.settlements: dict[EpochId, Settlement] = {}
        self.cursors: dict[str, ChainCursor] = {}
        self.proofs: dict[EpochId, bytes] = {}
        self.claims: dict[EpochId, tuple[ClaimEntry, ...]] = {}  # by chain node id
        self.gold_sets: dict[EpochId, GoldSet] = {}
        self.gold_tasks: dict[str, GoldTask] = {}  # by task key
        self.progress: dict[str, datetime] = {}  # by task key: its latest answer or judgment
        self.redrives: dict[str, int] = {}  # by task key: re-drives since its last change of state
        self.journaled()

    def journaled(self) -> None:
        """Make every table journal its writes (called once, after the tables are set)."""
        for name in _TABLES:
            table = _Table(self._undo)
            dict.update(table, getattr(self, name))
            setattr(self, name, table)

    def begin(self) -> int:
        """Open a transaction (nested: a savepoint); its depth, for ``rollback``/``commit``."""
        self._undo.append([])
        return len(self._undo)

    def rollback(self, depth: int) -> None:
        """Undo every write since ``begin`` returned ``depth``, newest first."""
        while len(self._undo) >= depth:
            for table, key, old in reversed(self._undo.pop()):
                if old is _ABSENT:
                    dict.pop(table, key, None)
                else:
                    dict.__setitem__(table, key, old)

    def commit(self, depth: int) -> None:
        """Keep the writes since ``begin``; a savepoint's become its parent's to undo."""
        done = self._undo.pop()
        assert len(self._undo) == depth - 1
        if self._undo:
            self._undo[-1].extend(done)

    def check_open(self) -> None:
        if self.closed:
            raise StoreUnavailable("the in-memory store is closed", hint="build a new MemoryStore")

    def now(self) -> datetime:
        t = self._clock()
        if self._last is not None and t <= self._last:
            t = self._last + timedelta(microseconds=1)
        self._last = t
        return t

    def node(self, node_id: NodeId) -> Node:
        return _get(self.nodes, node_id, lambda: node_not_found(node_id))

    def task(self, task_id: TaskId) -> Task:
        return _get(self.tasks, _task_key(task_id), lambda: task_not_found(task_id))

    def open_epoch(self) -> Epoch:
        """The open epoch, opened now (numbered max + 1) when there is none."""
        for ep in self.epochs.values():
            if ep.status is EpochStatus.OPEN:
                return ep
        ep = Epoch(
            EpochId(max(self.epochs, default=0) + 1),
            EpochStatus.OPEN,
            Wei(0),
            None,
            self.now(),
            None,
        )
        self.epochs[ep.id] = ep
        self.clusters[ep.id] = ()
        return ep


# ---------------------------------------------------------------- errors, JSON, keys, copies
def _get(table: Mapping[K, V], key: K, missing: Callable[[], MeritError]) -> V:
    try:
        return table[key]
    except KeyError:
        raise missing() from None


def _check(ok: bool, table: str, constraint: str) -> None:
    if not ok:
        raise Invalid(
            f'new row for relation "{table}" violates check constraint "{constraint}"',
            constraint=constraint,
        )


def _present(ok: bool, table: str, column: str, value: object, target: str) -> None:
    if not ok:
        name = f"{table}_{column}_fkey"
        raise NotFound(
            f'insert or update on table "{table}" violates foreign key constraint "{name}" '
            f'(Key ({column})=({value}) is not present in table "{target}".)',
            constraint=name,
        )


def _json(value: Any) -> Any:
    """``value`` as a jsonb column gives it back; Invalid for what JSON cannot hold (NaN,
    objects)."""
    return json.loads(dumps(value))


def _task_key(task_id: str) -> str:
    return str(parse_task_id(task_id))


def _task_key_or_none(task_id: str) -> str | None:
    try:
        return _task_key(task_id)
    except NotFound:
        return None


def _node_out(n: Node) -> Node:
    return n if n.letter_bias is None else replace(n, letter_bias=copy.deepcopy(n.letter_bias))


def _round_out(r: Round) -> Round:
    return replace(
        r,
        weights=None if r.weights is None else dict(r.weights),
        seats=None if r.seats is None else dict(r.seats),
    )


def _entry_out(e: OutboxEntry) -> OutboxEntry:
    return e if e.receipt is None else replace(e, receipt=copy.deepcopy(e.receipt))


# ---------------------------------------------------------------- repositories
class _Repo:
    def __init__(self, db: _Tables) -> None:
        self._db = db


RepoT = TypeVar("RepoT", bound=_Repo)


def _locked(method: Callable[Concatenate[RepoT, P], R]) -> Callable[Concatenate[RepoT, P], R]:
    """Run the call under the store's lock; StoreUnavailable once the store is closed."""

    def call(self: RepoT, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._db.lock:
            self._db.check_open()
            return method(self, *args, **kwargs)

    call.__doc__ = method.__doc__
    return call


class MemoryNodes(_Repo):
    @_locked
    def add(self, node: NewNode) -> Node:
        """Store a new node; Conflict when its name or address is already registered."""
        kind = NodeKind(node.kind)
        node_id = NodeId(next(self._db.node_ids))
        _check(node.name != "", "nodes", "nodes_name_check")
        _check(int(node.stake_wei) >= 0, "nodes", "nodes_stake_wei_check")
        for constraint, key in (("nodes_name_key", "name"),
                                ("nodes_chain_node_id_key", "chain_node_id"),
                                ("nodes_address_key", "address")):  # fmt: skip
            value = getattr(node, key)
            if value is not None and any(getattr(n, key) == value for n in self._db.nodes.values()):
                raise node_taken(node, constraint)
        row = Node(
            id=node_id,
            name=node.name,
            endpoint_url=node.endpoint_url,
            model=node.model,
            kind=kind,
            status=NodeStatus(node.status),
            reputation_bp=5000,
            stake_wei=Wei(int(node.stake_wei)),
            address=node.address,
            created_at=self._db.now(),
            reputation_anchor_bp=5000,
            chain_node_id=node.chain_node_id,
            metadata_cid=node.metadata_cid,
            signer=node.signer,
            status_note=node.status_note,
        )
        self._db.nodes[node_id] = row
        return row

    @_locked
    def get(self, node_id: NodeId) -> Node:
        return _node_out(self._db.node(node_id))

    @_locked
    def get_by_chain_id(self, chain_node_id: int) -> Node:
        found = next((n for n in self._db.nodes.values() if n.chain_node_id == chain_node_id), None)
        if found is None:
            raise chain_node_not_known(chain_node_id)
        return _node_out(found)

    @_locked
    def set_metadata(
        self, node_id: NodeId, *, endpoint_url: str, model: str, kind: NodeKind, signer: str
    ) -> None:
        self._db.nodes[node_id] = replace(
            self._db.node(node_id),
            endpoint_url=endpoint_url,
            model=model,
            kind=NodeKind(kind),
            signer=signer,
        )

    @_locked
    def set_chain_state(
        self, node_id: NodeId, *, stake_wei: Wei, unbonding_wei: Wei, block: int
    ) -> None:
        n = self._db.nodes.get(node_id)
        if n is None or (n.synced_block is not None and n.synced_block > block):
            return
        _check(int(stake_wei) >= 0, "nodes", "nodes_stake_wei_check")
        _check(int(unbonding_wei) >= 0, "nodes", "nodes_unbonding_wei_check")
        self._db.nodes[node_id] = replace(
            n,
            stake_wei=Wei(int(stake_wei)),
            unbonding_wei=Wei(int(unbonding_wei)),
            synced_block=int(block),
        )

    @_locked
    def get_by_name(self, name: str) -> Node:
        found = next((n for n in self._db.nodes.values() if n.name == name), None)
        if found is None:
            raise node_name_not_found(name)
        return _node_out(found)

    @_locked
    def list(self, *, status: NodeStatus | None = None) -> builtins.list[Node]:
        wanted = None if status is None else NodeStatus(status)
        rows = sorted(self._db.nodes.items())
        return [_node_out(n) for _, n in rows if wanted is None or n.status is wanted]

    @_locked
    def set_status(self, node_id: NodeId, status: NodeStatus, note: str | None = None) -> None:
        wanted = NodeStatus(status)
        self._db.nodes[node_id] = replace(self._db.node(node_id), status=wanted, status_note=note)

    @_locked
    def set_reputation(self, node_id: NodeId, score_bp: int, anchor_bp: int) -> None:
        n = self._db.node(node_id)
        _check(int(score_bp) in _BP, "nodes", "nodes_reputation_bp_check")
        _check(int(anchor_bp) in _BP, "nodes", "nodes_reputation_anchor_bp_check")
        self._db.nodes[node_id] = replace(
            n, reputation_bp=int(score_bp), reputation_anchor_bp=int(anchor_bp)
        )

    @_locked
    def set_letter_bias(self, node_id: NodeId, bias: Mapping[str, float]) -> None:
        stored = _json(dict(bias))
        self._db.nodes[node_id] = replace(self._db.node(node_id), letter_bias=stored)

    @_locked
    def record_calibration_attempt(self, node_id: NodeId) -> Node:
        """Count one more calibration attempt, now; the node as it stands after."""
        node = self._db.node(node_id)
        counted = replace(
            node,
            calibration_attempts=node.calibration_attempts + 1,
            last_calibration_at=self._db.now(),
        )
        self._db.nodes[node_id] = counted
        return _node_out(counted)

    @_locked
    def set_reliability(self, node_id: NodeId, reliability: Reliability) -> None:
        row = Reliability(
            *(int(v) for v in reliability.values()), distrusted=bool(reliability.distrusted)
        )
        self._db.nodes[node_id] = replace(self._db.node(node_id), reliability=row)


class MemoryTasks(_Repo):
    @_locked
    def add(self, task: NewTask) -> Task:
        options = None if task.options is None else tuple(_json(builtins.list(task.options)))
        _check(int(task.fee_wei) >= 0, "tasks", "tasks_fee_wei_check")
        _check(task.swarm_size > 0, "tasks", "tasks_swarm_size_check")
        now = self._db.now()
        row = Task(
            id=TaskId(str(self._db.new_id())),
            prompt=task.prompt,
            requester=task.requester,
            fee_wei=Wei(int(task.fee_wei)),
            swarm_size=task.swarm_size,
            error=None,
            epoch_id=None,
            created_at=now,
            updated_at=now,
            options=options,
            payer=task.payer,
            fee_state=task.fee_state,
            status=task.status,
        )
        self._db.tasks[row.id] = row
        return row

    @_locked
    def get(self, task_id: TaskId) -> Task:
        return self._db.task(task_id)

    @_locked
    def list(self, *, limit: int = 50) -> builtins.list[Task]:
        """The newest ``limit`` tasks, newest first."""
        by_id = sorted(self._db.tasks.values(), key=lambda t: t.id)
        return sorted(by_id, key=lambda t: t.created_at, reverse=True)[: max(0, limit)]

    @_locked
    def set_status(self, task_id: TaskId, status: TaskStatus, error: str | None = None) -> None:
        """Move the task to ``status``; ``error`` is stored as given (None clears it)."""
        wanted = TaskStatus(status)
        task = self._db.task(task_id)
        self._db.tasks[task.id] = replace(
            task, status=wanted, error=error, updated_at=self._db.now()
        )
        self._db.redrives.pop(task.id, None)

    @_locked
    def set_fee(
        self,
        task_id: TaskId,
        state: FeeState,
        *,
        epoch: EpochId | None = None,
        note: str | None = None,
    ) -> None:
        """Record where the task's fee stands (``epoch``: the pool it moved into, MOVED only)."""
        wanted = FeeState(state)
        _check(
            (wanted is FeeState.MOVED) == (epoch is not None), "tasks", "tasks_moved_fee_has_epoch"
        )
        task = self._db.task(task_id)
        self._db.tasks[task.id] = replace(
            task, fee_state=wanted, fee_epoch=epoch, fee_note=note, updated_at=self._db.now()
        )

    @_locked
    def with_fee(
        self,
        state: FeeState,
        *,
        fee_epoch: EpochId | None = None,
        done: bool = False,
        limit: int = 10_000,
    ) -> builtins.list[Task]:
        """Tasks whose fee is in ``state`` (moved into ``fee_epoch``'s pool; only finished tasks
        with ``done``), oldest first."""
        rows = [
            t for t in self._db.tasks.values()
            if t.fee_state is FeeState(state)
            and (fee_epoch is None or t.fee_epoch == fee_epoch)
            and (not done or t.status is TaskStatus.DONE)
        ]  # fmt: skip
        return sorted(rows, key=lambda t: (t.created_at, t.id))[: max(0, limit)]

    @_locked
    def lock(self, task_id: TaskId) -> Task:
        """The task (inside ``transaction()`` the store's lock is held already)."""
        return self._db.task(task_id)

    @_locked
    def stalled(self, before: datetime, *, limit: int = 500) -> builtins.list[StalledTask]:
        """Unfinished tasks without progress (change of state, answer, judgment) since
        ``before``."""
        out = []
        for t in self._db.tasks.values():
            last = max(t.updated_at, self._db.progress.get(t.id, t.updated_at))
            if not t.status.finished and last < before:
                out.append(StalledTask(t, last, self._db.redrives.get(t.id, 0)))
        return sorted(out, key=lambda s: (s.last_progress, s.task.id))[: max(0, limit)]

    @_locked
    def note_redrive(self, task_id: TaskId) -> int:
        """Count one more re-drive of the task (its stall is timed afresh from now); the count."""
        task = self._db.task(task_id)
        self._db.tasks[task.id] = replace(task, updated_at=self._db.now())
        self._db.redrives[task.id] = self._db.redrives.get(task.id, 0) + 1
        return self._db.redrives[task.id]

    @_locked
    def unfinished(self) -> int:
        return sum(not t.status.finished for t in self._db.tasks.values())

    @_locked
    def delete(self, task_id: TaskId) -> None:
        """Remove the task with its answers, judgments and round."""
        key = self._db.task(task_id).id
        tables = (
            self._db.tasks,
            self._db.answers,
            self._db.judgments,
            self._db.rounds,
            self._db.gold_tasks,
            self._db.progress,
            self._db.redrives,
        )
        for table in tables:
            table.pop(key, None)

    @_locked
    def assign_open_epoch(self, task_id: TaskId) -> EpochId:
        """Put the task into the open epoch (once; a repeated call returns its epoch)."""
        task = self._db.task(task_id)
        if task.epoch_id is not None:
            return task.epoch_id
        epoch_id = self._db.open_epoch().id
        self._db.tasks[task.id] = replace(task, epoch_id=epoch_id, updated_at=self._db.now())
        return epoch_id

    @_locked
    def list_for_epoch(self, epoch_id: EpochId) -> builtins.list[Task]:
        rows = [t for t in self._db.tasks.values() if t.epoch_id == epoch_id]
        return sorted(rows, key=lambda t: (t.created_at, t.id))


class MemoryAnswers(_Repo):
    @_locked
    def put(self, answer: Answer) -> bool:
        """Store the answer; False when this node's answer to this task was already stored, or
        the task's round has started."""
        key = _task_key(answer.task_id)
        row = replace(
            answer,
            task_id=TaskId(key),
            node_id=NodeId(int(answer.node_id)),
            status=AnswerStatus(answer.status),
            raw=_json(dict(answer.raw)),
        )
        _check(row.latency_ms >= 0, "answers", "answers_latency_ms_check")
        stored = self._db.answers.get(key, ())
        if any(a.node_id == row.node_id for a in stored):
            return False
        _present(key in self._db.tasks, "answers", "task_id", key, "tasks")
        _present(row.node_id in self._db.nodes, "answers", "node_id", row.node_id, "nodes")
        if key in self._db.rounds:
            return False  # the round started without it
        self._db.answers[key] = tuple(sorted((*stored, row), key=lambda a: a.node_id))
        self._db.progress[key] = self._db.now()
        return True

    @_locked
    def list_for_task(self, task_id: TaskId) -> builtins.list[Answer]:
        """The task's answers by node id (empty for an unknown task)."""
        key = _task_key_or_none(task_id)
        stored = self._db.answers.get(key, ()) if key is not None else ()
        return [replace(a, raw=copy.deepcopy(a.raw)) for a in stored]


class MemoryJudgments(_Repo):
    @_locked
    def put(self, judgment: Judgment) -> bool:
        """Store the verdict; False when this judge already judged this ordered pair of this task,
        or the round is finished. A judge judging its own answer is refused (Invalid)."""
        key = _task_key(judgment.task_id)
        check_judge(judgment.judge_id, judgment.left_id, judgment.right_id)
        row = replace(
            judgment,
            task_id=TaskId(key),
            judge_id=NodeId(int(judgment.judge_id)),
            left_id=NodeId(int(judgment.left_id)),
            right_id=NodeId(int(judgment.right_id)),
            outcome=Outcome(judgment.outcome),
            raw=_json(dict(judgment.raw)),
        )
        stored = self._db.judgments.get(key, ())
        if any(_pair_of(j) == _pair_of(row) for j in stored):
            return False
        _present(key in self._db.tasks, "judgments", "task_id", key, "tasks")
        for column, node_id in zip(("judge_id", "left_id", "right_id"), _pair_of(row), strict=True):
            _present(node_id in self._db.nodes, "judgments", column, node_id, "nodes")
        started = self._db.rounds.get(key)
        if started is not None and started.finished_at is not None:
            return False  # the round was ranked without it
        self._db.judgments[key] = tuple(sorted((*stored, row), key=_pair_of))
        self._db.progress[key] = self._db.now()
        return True

    @_locked
    def list_for_task(self, task_id: TaskId) -> builtins.list[Judgment]:
        key = _task_key_or_none(task_id)
        stored = self._db.judgments.get(key, ()) if key is not None else ()
        return [replace(j, raw=copy.deepcopy(j.raw)) for j in stored]


def _pair_of(j: Judgment) -> tuple[NodeId, NodeId, NodeId]:
    return (j.judge_id, j.left_id, j.right_id)


def _pairs(pairs: Sequence[PairAssignment]) -> tuple[PairAssignment, ...]:
    return pairs_of(pairs_json(pairs))


class MemoryRounds(_Repo):
    @_locked
    def start(
        self,
        task_id: TaskId,
        node_ids: Sequence[NodeId],
        pairs: Sequence[PairAssignment],
        *,
        seats: Mapping[NodeId, int] | None = None,
        candidates: Sequence[Candidate] = (),
    ) -> Round:
        """Record the round's swarm, seats, candidates and pair schedule; returns the stored round
        if one exists."""
        key = _task_key(task_id)
        stored_seats = _json(seats_json(seats))
        stored = self._db.rounds.get(key)
        if stored is not None:
            return _round_out(stored)
        _present(key in self._db.tasks, "rounds", "task_id", key, "tasks")
        row = Round(
            task_id=TaskId(key),
            node_ids=tuple(NodeId(int(n)) for n in node_ids),
            pairs=_pairs(pairs),
            winner_id=None,
            ranking=(),
            method=None,
            started_at=self._db.now(),
            finished_at=None,
            seats=seats_of(stored_seats),
            candidates=candidates_of(candidates_json(candidates)),
        )
        self._db.rounds[key] = row
        return _round_out(row)

    @_locked
    def get(self, task_id: TaskId) -> Round | None:
        key = _task_key_or_none(task_id)
        stored = self._db.rounds.get(key) if key is not None else None
        return None if stored is None else _round_out(stored)

    @_locked
    def add_pairs(self, task_id: TaskId, pairs: Sequence[PairAssignment], recruit: int) -> Round:
        """Append recruited pairs as recruit number ``recruit``; a repeated call changes nothing."""
        key = _task_key(task_id)
        stored = _get(self._db.rounds, key, lambda: no_round(task_id))
        if stored.recruits == recruit - 1:
            stored = replace(stored, pairs=stored.pairs + _pairs(pairs), recruits=int(recruit))
            self._db.rounds[key] = stored
        return _round_out(stored)

    @_locked
    def finish(
        self,
        task_id: TaskId,
        winner_id: NodeId | None,
        ranking: Sequence[RankEntry],
        method: str,
        separated: bool | None = None,
        weights: Mapping[NodeId, tuple[int, int]] | None = None,
    ) -> Round:
        """Store the outcome (winner, ranking, method); NotFound when the round was not started."""
        key = _task_key(task_id)
        stored_ranking = _json(ranking_json(ranking))
        stored_weights = _json(weights_json(weights))
        stored = _get(self._db.rounds, key, lambda: no_round(task_id))
        winner = None if winner_id is None else NodeId(int(winner_id))
        _present(winner is None or winner in self._db.nodes, "rounds", "winner_id", winner, "nodes")
        row = replace(
            stored,
            winner_id=winner,
            method=method,
            separated=separated,
            finished_at=self._db.now(),
            ranking=ranking_of(stored_ranking),
            weights=weights_of(stored_weights),
        )
        self._db.rounds[key] = row
        return _round_out(row)


class MemoryEpochs(_Repo):
    @_locked
    def current(self) -> Epoch:
        """The open epoch, opened now if there is none."""
        return self._db.open_epoch()

    @_locked
    def lock_current(self) -> Epoch:
        """The open epoch (the lock a transaction holds stands for the row lock)."""
        return self._db.open_epoch()

    @_locked
    def get(self, epoch_id: EpochId) -> Epoch:
        return _get(self._db.epochs, epoch_id, lambda: epoch_not_found(epoch_id))

    @_locked
    def list(self, *, limit: int = 50) -> builtins.list[Epoch]:
        """The newest ``limit`` epochs, newest first."""
        return [e for _, e in sorted(self._db.epochs.items(), reverse=True)][: max(0, limit)]

    @_locked
    def close(self, epoch_id: EpochId, pool_wei: Wei, audit_cid: str | None) -> Epoch:
        """Close the open epoch with its reward pool and audit bundle CID; closing it again with
        the same pool and CID returns it unchanged, with others it is a Conflict."""
        stored = _get(self._db.epochs, epoch_id, lambda: epoch_not_found(epoch_id))
        if stored.status is EpochStatus.OPEN:
            _check(int(pool_wei) >= 0, "epochs", "epochs_pool_wei_check")
            closed = replace(
                stored,
                status=EpochStatus.CLOSED,
                pool_wei=Wei(int(pool_wei)),
                audit_cid=audit_cid,
                closed_at=self._db.now(),
            )
            self._db.epochs[epoch_id] = closed
            return closed
        return closed_again(stored, pool_wei, audit_cid)

    @_locked
    def record_clusters(self, epoch_id: EpochId, clusters: Sequence[Sequence[NodeId]]) -> None:
        """The Sybil clusters epoch ``epoch_id`` found (sorted node ids each)."""
        rows = _json([sorted(int(n) for n in c) for c in clusters])
        if epoch_id in self._db.epochs:
            self._db.clusters[epoch_id] = tuple(tuple(NodeId(n) for n in c) for c in rows)

    @_locked
    def latest_clusters(self) -> builtins.list[frozenset[NodeId]]:
        """The clusters of the newest closed epoch (none before the first close)."""
        closed = [e.id for e in self._db.epochs.values() if e.status is EpochStatus.CLOSED]
        return [frozenset(c) for c in self._db.clusters.get(max(closed), ())] if closed else []

    @_locked
    def record_nodes(self, rows: Sequence[EpochNode]) -> None:
        """Store each node's line of a closed epoch; a repeated close stores nothing new."""
        fresh: dict[tuple[EpochId, NodeId], EpochNode] = {}
        for r in rows:
            row = EpochNode(
                EpochId(int(r.epoch_id)),
                NodeId(int(r.node_id)),
                Wei(int(r.reward_wei)),
                int(r.reputation_before_bp),
                int(r.reputation_after_bp),
                int(r.anchor_after_bp),
                bool(r.withheld),
            )
            _check(row.reward_wei >= 0, "epoch_nodes", "epoch_nodes_reward_wei_check")
            for column in ("reputation_before_bp", "reputation_after_bp", "anchor_after_bp"):
                _check(getattr(row, column) in _BP, "epoch_nodes", f"epoch_nodes_{column}_check")
            key = (row.epoch_id, row.node_id)
            if key in self._db.epoch_nodes or key in fresh:
                continue
            _present(
                row.epoch_id in self._db.epochs, "epoch_nodes", "epoch_id", row.epoch_id, "epochs"
            )
            _present(row.node_id in self._db.nodes, "epoch_nodes", "node_id", row.node_id, "nodes")
            fresh[key] = row
        self._db.epoch_nodes.update(fresh)

    @_locked
    def nodes(self, epoch_id: EpochId) -> builtins.list[EpochNode]:
        return [r for (e, _), r in sorted(self._db.epoch_nodes.items()) if e == epoch_id]


class MemoryGold(_Repo):
    @_locked
    def commit(self, epoch_id: EpochId, root: bytes, size: int) -> GoldSet:
        """Record epoch ``epoch_id``'s gold set; the first commitment stands."""
        _get(self._db.epochs, epoch_id, lambda: epoch_not_found(epoch_id))
        _check(len(root) == 32, "gold_sets", "gold_sets_root_check")
        _check(size > 0, "gold_sets", "gold_sets_size_check")
        if epoch_id not in self._db.gold_sets:
            self._db.gold_sets[epoch_id] = GoldSet(epoch_id, bytes(root), int(size), self._db.now())
        return self._db.gold_sets[epoch_id]

    @_locked
    def set_of(self, epoch_id: EpochId) -> GoldSet | None:
        return self._db.gold_sets.get(epoch_id)

    @_locked
    def next_index(self, set_epoch: EpochId) -> int | None:
        """The set's next unused item; None when every item is used (or no set)."""
        gold_set = self._db.gold_sets.get(set_epoch)
        if gold_set is None:
            return None
        used = [g.index for g in self._db.gold_tasks.values() if g.set_epoch == set_epoch]
        index = max(used, default=-1) + 1
        return index if index < gold_set.size else None

    @_locked
    def link(
        self, task_id: TaskId, set_epoch: EpochId, index: int, beside: TaskId | None = None
    ) -> GoldTask:
        """Record that task ``task_id`` carries item ``index`` of the set, beside requester task
        ``beside`` (Conflict if the item, or the requester task's gold, is taken)."""
        key = _task_key(task_id)
        _get(self._db.tasks, key, lambda: task_not_found(task_id))
        _get(self._db.gold_sets, set_epoch, lambda: NotFound(f"no gold set for epoch {set_epoch}"))
        near = None if beside is None else TaskId(_task_key(beside))
        taken = any(
            (g.set_epoch == set_epoch and g.index == index)
            or (near is not None and g.beside == near)
            for g in self._db.gold_tasks.values()
        )
        if key in self._db.gold_tasks or taken:
            raise Conflict(
                "that gold item or task is already linked",
                constraint="gold_tasks_one_task_per_item",
            )
        self._db.gold_tasks[key] = GoldTask(TaskId(key), set_epoch, index, near)
        return self._db.gold_tasks[key]

    @_locked
    def beside(self, task_id: TaskId) -> GoldTask | None:
        key = _task_key_or_none(task_id)
        return next(
            (g for g in self._db.gold_tasks.values() if key is not None and g.beside == key), None
        )

    @_locked
    def of(self, task_id: TaskId) -> GoldTask | None:
        key = _task_key_or_none(task_id)
        return None if key is None else self._db.gold_tasks.get(key)

    @_locked
    def for_tasks(self, task_ids: Iterable[TaskId]) -> dict[TaskId, GoldTask]:
        out = {}
        for t in task_ids:
            g = self._db.gold_tasks.get(_task_key(t))
            if g is not None:
                out[g.task_id] = g
        return out


class MemoryOutbox(_Repo):
    @_locked
    def enqueue(
        self,
        intent_key: str,
        *,
        chain_id: int,
        sender: str,
        to_address: str | None,
        data: str,
        value_wei: Wei = _NO_VALUE,
    ) -> OutboxEntry:
        """Store the intent, or return the one stored under ``intent_key``; Conflict when that one
        is a different transaction (chain, sender, target, calldata or value differ)."""
        entry_id = next(self._db.outbox_ids)
        _check(chain_id > 0, "chain_outbox", "chain_outbox_chain_id_check")
        _check(_CALLDATA.fullmatch(data) is not None, "chain_outbox", "chain_outbox_data_check")
        _check(int(value_wei) >= 0, "chain_outbox", "chain_outbox_value_wei_check")
        entry = self._by_intent(intent_key)
        if entry is None:
            entry = OutboxEntry(
                entry_id,
                intent_key,
                int(chain_id),
                sender,
                to_address,
                data,
                Wei(int(value_wei)),
                None,
                None,
                OutboxStatus.PENDING,
                None,
                self._db.now(),
            )
            self._db.outbox[entry_id] = entry
        enqueued_again(
            entry,
            intent_key,
            chain_id=chain_id,
            sender=sender,
            to_address=to_address,
            data=data,
            value_wei=value_wei,
        )
        return _entry_out(entry)

    def _by_intent(self, intent_key: str) -> OutboxEntry | None:
        return next((e for e in self._db.outbox.values() if e.intent_key == intent_key), None)

    def _get(self, entry_id: int) -> OutboxEntry:
        return _get(self._db.outbox, entry_id, lambda: entry_not_found(entry_id))

    @_locked
    def get(self, entry_id: int) -> OutboxEntry:
        return _entry_out(self._get(entry_id))

    @_locked
    def get_by_intent(self, intent_key: str) -> OutboxEntry | None:
        found = self._by_intent(intent_key)
        return None if found is None else _entry_out(found)

    @_locked
    def mark_sent(self, entry_id: int, *, nonce: int, tx_hash: str) -> None:
        """Record the signed transaction's nonce and hash (again, when re-sent with a new fee);
        Conflict when another entry of the sender holds the nonce, or the entry is already mined."""
        entry = self._get(entry_id)
        if entry.status not in _UNFINISHED:
            raise entry_finished(entry_id, entry.status.value)
        _check(nonce >= 0, "chain_outbox", "chain_outbox_nonce_check")
        if any(
            o.id != entry_id
            and o.nonce == nonce
            and o.chain_id == entry.chain_id
            and o.sender.lower() == entry.sender.lower()
            for o in self._db.outbox.values()
        ):
            raise nonce_taken(entry_id, nonce)
        self._db.outbox[entry_id] = replace(
            entry, nonce=int(nonce), tx_hash=tx_hash, status=OutboxStatus.SENT
        )

    @_locked
    def mark_mined(self, entry_id: int, *, receipt: dict[str, Any], ok: bool) -> None:
        """Store the receipt; status ``mined`` when the transaction succeeded, else ``failed``."""
        stored = _json(receipt)
        entry = self._get(entry_id)
        sent = entry.nonce is not None and entry.tx_hash is not None
        _check(sent, "chain_outbox", "chain_outbox_sent_has_nonce")
        status = OutboxStatus.MINED if ok else OutboxStatus.FAILED
        self._db.outbox[entry_id] = replace(entry, receipt=stored, status=status)

    @_locked
    def pending(self, *, sender: str | None = None) -> builtins.list[OutboxEntry]:
        """Entries not yet mined (pending or sent), oldest first; optionally for one sender."""
        return [
            _entry_out(e)
            for _, e in sorted(self._db.outbox.items())
            if e.status in _UNFINISHED and (sender is None or same_address(e.sender, sender))
        ]


class MemorySettlements(_Repo):
    @_locked
    def record(self, settlement: Settlement, claims: Sequence[ClaimEntry]) -> Settlement:
        """Store the settlement of an epoch and its leaves; the stored one when it exists."""
        s, epoch_id = settlement, EpochId(int(settlement.epoch_id))
        row = Settlement(  # a new record has no proof yet, whatever it was given
            epoch_id=epoch_id,
            chain_id=int(s.chain_id),
            root=s.root.lower(),
            total_wei=Wei(int(s.total_wei)),
            audit_cid=s.audit_cid,
            rep_first_word=int(s.rep_first_word),
            rep_words=tuple(int(w) for w in s.rep_words),
            left_out=tuple(NodeId(int(n)) for n in s.left_out),
            status=SettlementStatus(s.status),
            propose_intent=s.propose_intent,
            finalize_intent=s.finalize_intent,
            detail=s.detail,
        )
        _check(_ROOT.fullmatch(row.root) is not None, "settlements", "settlements_root_check")
        _check(row.total_wei >= 0, "settlements", "settlements_total_wei_check")
        _check(row.rep_first_word >= 0, "settlements", "settlements_rep_first_word_check")
        if epoch_id in self._db.settlements:  # recorded before: the first record stands
            return self._db.settlements[epoch_id]
        _present(epoch_id in self._db.epochs, "settlements", "epoch_id", epoch_id, "epochs")
        leaves: dict[int, ClaimEntry] = {}
        for c in claims:
            leaf = ClaimEntry(
                epoch_id,
                int(c.chain_node_id),
                None if c.node_id is None else NodeId(int(c.node_id)),
                c.account,
                Wei(int(c.reward_wei)),
                Wei(int(c.cumulative_wei)),
                tuple(_json(builtins.list(c.proof))),
            )
            _check(leaf.chain_node_id > 0, "claims", "claims_chain_node_id_check")
            _check(leaf.reward_wei >= 0, "claims", "claims_reward_wei_check")
            _check(leaf.cumulative_wei >= leaf.reward_wei, "claims", "claims_check")
            if leaf.chain_node_id in leaves:
                raise Conflict(
                    'duplicate key value violates unique constraint "claims_pkey" (Key (epoch_id, '
                    f"chain_node_id)=({epoch_id}, {leaf.chain_node_id}) already exists.)",
                    constraint="claims_pkey",
                )
            known = leaf.node_id is None or leaf.node_id in self._db.nodes
            _present(known, "claims", "node_id", leaf.node_id, "nodes")
            leaves[leaf.chain_node_id] = leaf
        self._db.settlements[epoch_id] = row
        self._db.claims[epoch_id] = tuple(leaf for _, leaf in sorted(leaves.items()))
        return row

    def _get(self, epoch_id: EpochId) -> Settlement:
        return _get(self._db.settlements, epoch_id, lambda: no_settlement(epoch_id))

    @_locked
    def get(self, epoch_id: EpochId) -> Settlement | None:
        return self._db.settlements.get(epoch_id)

    @_locked
    def latest(self, *, status: SettlementStatus | None = None) -> Settlement | None:
        """The newest settlement (with ``status`` when given)."""
        ids = [e for e, s in self._db.settlements.items() if status is None or s.status == status]
        return self._db.settlements[max(ids)] if ids else None

    @_locked
    def set_status(
        self,
        epoch_id: EpochId,
        status: SettlementStatus,
        *,
        detail: str | None = None,
        propose_intent: str | None = None,
        finalize_intent: str | None = None,
    ) -> Settlement:
        """Move a settlement on; intents given are recorded, others kept. NotFound without one."""
        s = self._get(epoch_id)
        row = replace(
            s,
            status=SettlementStatus(status),
            detail=detail,
            propose_intent=s.propose_intent if propose_intent is None else propose_intent,
            finalize_intent=s.finalize_intent if finalize_intent is None else finalize_intent,
        )
        self._db.settlements[epoch_id] = row
        return row

    @_locked
    def set_proof(
        self,
        epoch_id: EpochId,
        status: ProofStatus,
        *,
        proof: bytes | None,
        chunks: int,
        detail: str | None = None,
    ) -> Settlement:
        """Record the epoch's proof and the workers' verdict on it; NotFound without a
        settlement."""
        s = self._get(epoch_id)
        _check(chunks >= 0, "settlements", "settlements_proof_chunks_check")
        row = replace(
            s, proof_status=ProofStatus(status), proof_detail=detail, proof_chunks=int(chunks)
        )
        self._db.settlements[epoch_id] = row
        if proof is None:
            self._db.proofs.pop(epoch_id, None)
        else:
            self._db.proofs[epoch_id] = bytes(proof)
        return row

    @_locked
    def proof(self, epoch_id: EpochId) -> bytes | None:
        """The stored proposal proof of ``epoch_id`` (None when none was made)."""
        return self._db.proofs.get(epoch_id)

    @_locked
    def claims(self, epoch_id: EpochId) -> builtins.list[ClaimEntry]:
        """The leaves of an epoch's settlement, by registry node id."""
        return builtins.list(self._db.claims.get(epoch_id, ()))

    @_locked
    def claim_of(
        self,
        *,
        account: str | None = None,
        chain_node_id: int | None = None,
        epoch_id: EpochId | None = None,
    ) -> ClaimEntry | None:
        """A node's leaf (by payee ``account`` or registry node id) in a finalized settlement:
        ``epoch_id``'s, or the latest finalized one. None when it has none."""
        final = {
            e for e, s in self._db.settlements.items() if s.status is SettlementStatus.FINALIZED
        }
        target = epoch_id if epoch_id is not None else max(final, default=None)
        if target is None or target not in final:
            return None
        return next(
            (
                c
                for c in self._db.claims.get(target, ())
                if (account is None or c.account.lower() == account.lower())
                and (chain_node_id is None or c.chain_node_id == chain_node_id)
            ),
            None,
        )


class MemoryCursors(_Repo):
    @_locked
    def get(self, name: str) -> ChainCursor | None:
        return self._db.cursors.get(name)

    @_locked
    def set(self, name: str, cursor: ChainCursor) -> None:
        _check(cursor.block_number >= 0, "chain_cursors", "chain_cursors_block_number_check")
        self._db.cursors[name] = cursor


# ---------------------------------------------------------------- the store
class MemoryStore:
    """``Store`` in process memory: ``MemoryStore()``; ``clock`` gives its timestamps and
    ``new_id`` its task ids (random UUIDs by default; a seeded source makes a run reproducible)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utc_now,
        new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        self._db = _Tables(clock, new_id)
        # typed as the ports so that MemoryStore satisfies the Store protocol (mutable members)
        self.nodes: NodeRepository = MemoryNodes(self._db)
        self.tasks: TaskRepository = MemoryTasks(self._db)
        self.answers: AnswerRepository = MemoryAnswers(self._db)
        self.judgments: JudgmentRepository = MemoryJudgments(self._db)
        self.rounds: RoundRepository = MemoryRounds(self._db)
        self.epochs: EpochRepository = MemoryEpochs(self._db)
        self.gold: GoldRepository = MemoryGold(self._db)
        self.outbox: OutboxRepository = MemoryOutbox(self._db)
        self.settlements: SettlementRepository = MemorySettlements(self._db)
        self.cursors: CursorRepository = MemoryCursors(self._db)

    @contextmanager
    def transaction(self) -> Iterator[MemoryStore]:
        """This store, with every change of the block undone when it raises (nested: a savepoint).
        Holds the store's lock for the block: other threads wait, as on a row lock."""
        with self._db.lock:
            self._db.check_open()
            depth = self._db.begin()
            try:
                yield self
            except BaseException:
                self._db.rollback(depth)
                raise
            self._db.commit(depth)

    def ping(self) -> None:
        """StoreUnavailable once closed, like a closed pool."""
        with self._db.lock:
            self._db.check_open()

    def close(self) -> None:
        with self._db.lock:
            self._db.closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if TYPE_CHECKING:

    def _implements_the_port(store: MemoryStore) -> Store:
        return store  # mypy checks that MemoryStore satisfies Store

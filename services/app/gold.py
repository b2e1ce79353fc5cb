"""Hidden gold tasks: questions whose answer the marketplace knows, mixed into live rounds as
ordinary tasks, so a node's reliability stays anchored in what it can be checked to know.

The items come from a ``QuestionBank``: ``GeneratedBank`` draws them from the deployment's secret
(``services.core.questions``), so nobody can look them up, and never the same twice. When an epoch
opens, the marketplace draws its gold set (``GOLD_SET_SIZE`` items), stores the Merkle root of the
items' commitments (``gold_sets``) and writes it on chain (``commit_gold_set``); the items stay
secret until the epoch closes, when the audit bundle reveals the ones that were used, each with its
salt and Merkle proof, and ``merit audit`` checks them against the root.

About one requester task in ``MERIT_GOLD_EVERY`` (chosen by a keyed hash of its id, so a retry
decides the same way and nobody outside can tell which) brings a gold task along, made a random
while later (up to ``GOLD_DELAY_S``): the same swarm size and fee, asked by the marketplace's own
requester identity, which looks like any API key's.
The task row says nothing of gold; only ``gold_tasks`` does. Its declared fee is never paid into
the pool (the pool holds requester fees and emission only).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from services.app.ports import GoldChain, QuestionBank, RoundQueue, Store
from services.core import merkle
from services.core.errors import BrokerUnavailable, ConfigInvalid, Conflict
from services.core.questions import Draw, Generator, commitment
from services.core.types import EpochId, GoldSet, KnownQuestion, NewTask, Task

log = logging.getLogger(__name__)
# items drawn and committed per epoch; once they are used, the epoch takes no more gold
GOLD_SET_SIZE = 64
GOLD_DELAY_S = 30.0  # a gold task is made up to this long after the task it rides beside (default)


class GeneratedBank:
    """The ``QuestionBank`` over ``services.core.questions.Generator`` with the deployment's secret:
    calibration questions per node and attempt, gold items per epoch's set."""

    def __init__(self, secret: bytes, *, max_delay_s: float = GOLD_DELAY_S) -> None:
        self._generator = Generator(secret)
        self._max_delay_s = max_delay_s
        self._requester = (
            "key:" + hmac.new(secret, b"gold requester", hashlib.sha256).hexdigest()[:16]
        )
        self._due = hmac.new(secret, b"gold due", hashlib.sha256).digest()

    @property
    def requester(self) -> str:
        """The identity gold tasks are asked under: shaped like any API key's."""
        return self._requester

    def due(self, task_id: str, every: int) -> bool:
        """Whether requester task ``task_id`` brings a gold task along (about 1 in ``every``),
        by a keyed hash nobody without the secret can compute."""
        if every <= 0:
            return False
        digest = hmac.new(self._due, task_id.encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") % every == 0

    def delay_s(self, task_id: str) -> float:
        """How long after ``task_id`` its gold task is made: uniform in [0, max_delay_s), by a
        keyed hash, so a gold task does not arrive together with the task it rides beside."""
        digest = hmac.new(self._due, b"delay " + task_id.encode(), hashlib.sha256).digest()
        return self._max_delay_s * int.from_bytes(digest[:8], "big") / 2**64

    def calibration(self, n: int, *, domain: str) -> list[KnownQuestion]:
        return [self._generator.draw(i, domain=domain).question for i in range(n)]

    def gold_item(self, set_epoch: EpochId, index: int) -> Draw | None:
        return self._generator.draw(index, domain=f"gold/epoch-{int(set_epoch)}")


def set_items(bank: QuestionBank, set_epoch: EpochId, size: int = GOLD_SET_SIZE) -> list[Draw]:
    items = [bank.gold_item(set_epoch, i) for i in range(size)]
    return [i for i in items if i is not None]


def ensure_gold_set(store: Store, bank: QuestionBank) -> GoldSet | None:
    """The open epoch's gold set, drawn and its root stored now if it has none; None when the bank
    has no gold items."""
    epoch = store.epochs.current()
    found = store.gold.set_of(epoch.id)
    if found is not None:
        return found
    items = set_items(bank, epoch.id)
    if not items:
        return None
    root = merkle.layers_of([commitment(i) for i in items])[-1][0]
    gold_set = store.gold.commit(epoch.id, root, len(items))
    log.info("gold set drawn", extra={"epoch": epoch.id, "size": len(items)})
    return gold_set


def mix_in_gold(store: Store, queue: RoundQueue, beside: Task, bank: QuestionBank) -> Task | None:
    """A hidden gold task beside requester task ``beside``: same swarm size and fee, the next item
    of the open epoch's gold set (the worker runs this ``bank.delay_s`` after ``beside`` came).
    Best effort: the requester's task is already accepted, so a failure here is logged, never
    raised."""
    made = store.gold.beside(beside.id)
    if made is not None:  # a redelivered job: the gold task is made already
        return store.tasks.get(made.task_id)
    gold_set = ensure_gold_set(store, bank)
    if gold_set is None:
        return None
    with store.transaction() as tx:
        index = tx.gold.next_index(gold_set.epoch_id)
        item = None if index is None else bank.gold_item(gold_set.epoch_id, index)
        if index is None or item is None:
            log.info("the epoch's gold set is used up", extra={"epoch": gold_set.epoch_id})
            return None
        task = tx.tasks.add(
            NewTask(
                prompt=item.question.prompt(),
                requester=bank.requester,
                fee_wei=beside.fee_wei,
                swarm_size=beside.swarm_size,
                options=item.question.options,
            )
        )
        tx.gold.link(task.id, gold_set.epoch_id, index, beside.id)
    try:
        queue.enqueue_round(task.id)
    except BrokerUnavailable:
        store.tasks.delete(task.id)
        log.warning("gold task not enqueued: the broker is down", extra={"task_id": task.id})
        return None
    return task


@dataclass(frozen=True)
class Revealed:
    """A gold task's item as the bundle reveals it, with its proof against its set's root."""

    set_epoch: int
    index: int
    item: Draw
    proof: list[bytes]
    root: bytes


def reveal(bank: QuestionBank, gold_set: GoldSet, indices: Iterable[int]) -> dict[int, Revealed]:
    """Items ``indices`` of the set, each with its proof; the set is drawn and checked against
    its stored root once."""
    items = set_items(bank, gold_set.epoch_id, gold_set.size)
    layers = merkle.layers_of([commitment(i) for i in items])
    if layers[-1][0] != gold_set.root:
        raise ConfigInvalid(
            f"the gold items of epoch {gold_set.epoch_id} do not match the stored root",
            hint="the gold secret changed since the set was committed; restore MERIT_GOLD_SECRET",
        )
    return {
        i: Revealed(int(gold_set.epoch_id), i, items[i], merkle.proof_in(layers, i), gold_set.root)
        for i in indices
    }


def commit_gold_set(store: Store, chain: GoldChain, bank: QuestionBank) -> str | None:
    """Draw the open epoch's gold set (if it has none yet) and write its root on chain, once;
    the tx hash, or None when the chain holds it already or the bank has no gold. A root on chain
    that differs from the stored one is a Conflict (the secret or the database changed)."""
    gold_set = ensure_gold_set(store, bank)
    if gold_set is None:
        return None
    on_chain = chain.gold_commitment(int(gold_set.epoch_id))
    if on_chain is not None:
        if on_chain[0] != gold_set.root:
            raise Conflict(
                f"epoch {gold_set.epoch_id}'s gold root on chain differs from the stored one",
                hint="the gold secret or the database changed since the commitment; restore them",
            )
        return None
    key = f"gold:{chain.chain_id}:{int(gold_set.epoch_id)}"
    tx = chain.commit_gold(key, int(gold_set.epoch_id), gold_set.root)
    log.info("gold set committed", extra={"epoch": gold_set.epoch_id, "tx_hash": tx})
    return tx

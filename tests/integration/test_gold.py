"""Hidden gold against the real store: the set drawn and stored before the epoch's tasks, gold
tasks that look like any other, items taken once each, and the reveal the audit checks."""

from __future__ import annotations

import pytest

from services.app import tasks
from services.app.audit import audit_epoch
from services.app.bundles import load_bundle
from services.app.epochs import close_epoch
from services.app.gold import GeneratedBank, ensure_gold_set, mix_in_gold
from services.broker.celery_app import create_celery
from services.broker.queue import CeleryRoundQueue
from services.content.local import LocalContentStore
from services.core.errors import Conflict
from services.core.types import NewTask, Wei
from services.settings import Settings
from services.app.escrow import FeeTerms
from tests.fixtures.fees import PAYER, escrow_of
from tests.integration.test_rounds import new_task, run_round

BANK = GeneratedBank(b"integration-test gold secret!!!!")


def test_gold_items_are_taken_once_each_and_linked_apart_from_the_task(store) -> None:
    gold_set = ensure_gold_set(store, BANK)
    assert gold_set is not None and len(gold_set.root) == 32
    assert ensure_gold_set(store, BANK) == gold_set  # drawn once per epoch
    a, b = new_task(store), new_task(store)
    with store.transaction() as tx:
        first = tx.gold.next_index(gold_set.epoch_id)
        tx.gold.link(a.id, gold_set.epoch_id, first)
    assert store.gold.next_index(gold_set.epoch_id) == first + 1
    with pytest.raises(Conflict):
        store.gold.link(b.id, gold_set.epoch_id, first)  # one task per item
    assert store.gold.of(a.id).index == first and store.gold.of(b.id) is None
    assert set(store.gold.for_tasks([a.id, b.id])) == {a.id}
    store.tasks.delete(a.id)
    assert store.gold.of(a.id) is None


def test_a_task_brings_a_hidden_gold_task_that_looks_like_it(store, redis_url) -> None:
    queue = CeleryRoundQueue(create_celery(Settings(broker_url=redis_url)))
    task = tasks.submit_task(
        store, queue, prompt="What is 2+2?", requester="key:0123456789abcdef", fee_wei=10**16,
        swarm_size=3, gold_every=1, bank=BANK, payer=PAYER, fees=FeeTerms(escrow_of(store).fee_range()),
    )  # fmt: skip
    assert len(store.tasks.list()) == 1  # the gold task is made later, by the worker
    made = mix_in_gold(store, queue, task, BANK)  # what `merit.round.gold` runs after the delay
    assert mix_in_gold(store, queue, task, BANK) == made  # once, however often it runs
    stored = store.tasks.list()
    gold = [t for t in stored if store.gold.of(t.id) is not None]
    assert len(stored) == 2 and len(gold) == 1
    assert gold[0].fee_wei == task.fee_wei and gold[0].swarm_size == task.swarm_size
    assert gold[0].requester.startswith("key:") and len(gold[0].requester) == len(task.requester)
    g = store.gold.of(gold[0].id)
    assert gold[0].prompt == BANK.gold_item(g.set_epoch, g.index).question.prompt()


def test_gold_answers_move_the_records_and_the_audit_checks_the_reveal(
    store, registered_nodes, gateway, tmp_path
) -> None:
    gold_set = ensure_gold_set(store, BANK)
    item = BANK.gold_item(gold_set.epoch_id, 0)
    task = store.tasks.add(
        NewTask(prompt=item.question.prompt(), requester=BANK.requester, fee_wei=Wei(10**16),
                swarm_size=4, options=item.question.options)
    )  # fmt: skip
    store.gold.link(task.id, gold_set.epoch_id, 0)
    run_round(store, gateway, task.id)
    before = {n.name: n.reliability for n in store.nodes.list()}
    content = LocalContentStore(tmp_path / "content")
    closed = close_epoch(store, content, emission_wei=0, bank=BANK, escrow=escrow_of(store))
    assert closed.result.pool == 0  # a gold task's declared fee is never pooled
    after = {n.name: n.reliability for n in store.nodes.list()}
    for name in after:  # every node answered a question of known answer: its gold record moved
        assert after[name].gold_answer_total > before[name].gold_answer_total
    doc = load_bundle(content, closed.epoch.audit_cid)
    (shown,) = [t["gold"] for t in doc["tasks"] if t["gold"]]
    assert shown["answer"] == item.question.answer and shown["root"] == gold_set.root.hex()
    report = audit_epoch(store, content, closed.epoch.id)
    assert report.passed, report.differences
    assert any("is in its set's Merkle root" in c for c in report.checked)

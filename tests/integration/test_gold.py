"""Hidden gold questions in live rounds: a requester's task brings a gold task along; the round
runs like any other; at the epoch's close answers naming the correct letter raise a node's
anchor and the others lower theirs; the bundle carries the key and the audit recomputes it."""

from __future__ import annotations

from services.app import tasks
from services.app.audit import audit_epoch
from services.app.epochs import close_epoch
from services.app.gold import GOLD_REQUESTER, MmluBank, gold_due
from services.broker.queue import CeleryRoundQueue
from services.content.local import LocalContentStore
from services.core.letters import answer_letter
from services.core.types import NewTask, Wei
from services.devstack import register_test_node, start_test_node
from services.settings import Settings
from tests.integration.test_rounds import run_round
from workers.app import create_celery


def test_gold_is_due_for_about_one_task_in_n() -> None:
    ids = [f"task-{i}" for i in range(4000)]
    due = sum(gold_due(t, 10) for t in ids)
    assert 300 < due < 500
    assert not any(gold_due(t, 0) for t in ids)
    assert [gold_due(t, 10) for t in ids[:50]] == [gold_due(t, 10) for t in ids[:50]]


def test_a_task_brings_a_hidden_gold_task_along(store, redis_url) -> None:
    queue = CeleryRoundQueue(create_celery(Settings(broker_url=redis_url)))
    task = tasks.submit_task(
        store, queue, prompt="What is 2+2?", requester="key:test", fee_wei=10, swarm_size=3,
        gold_every=1,
    )  # fmt: skip
    stored = store.tasks.list()
    gold = [t for t in stored if t.requester == GOLD_REQUESTER]
    assert len(stored) == 2 and len(gold) == 1
    assert gold[0].fee_wei == 0 and gold[0].swarm_size == task.swarm_size
    assert gold[0].prompt == MmluBank().gold(task.id).prompt()
    assert gold[0].prompt in MmluBank().answers([gold[0].prompt])


def test_gold_answers_move_the_anchor_and_the_audit_agrees(store, gateway, tmp_path) -> None:
    knows = start_test_node("gold-oracle", _port(), 0, tmp_path / "o.log", oracle=True)
    guess1 = start_test_node("gold-guess-1", _port(), 0, tmp_path / "g1.log")
    guess2 = start_test_node("gold-guess-2", _port(), 3, tmp_path / "g2.log")
    try:
        for child in (knows, guess1, guess2):
            register_test_node(store, child.name, child.url)
        question = MmluBank().gold("seed")
        prompt = question.prompt()
        key = MmluBank().answers([prompt])[prompt]
        task = store.tasks.add(
            NewTask(prompt=prompt, requester=GOLD_REQUESTER, fee_wei=Wei(0), swarm_size=3,
                    options=question.options)
        )  # fmt: skip
        run_round(store, gateway, task.id)
        answers = {a.node_id: a.content for a in store.answers.list_for_task(task.id)}
        by_name = {n.name: n for n in store.nodes.list()}
        assert answer_letter(answers[by_name["gold-oracle"].id]) == key

        before = {n.name: n.reputation_anchor_bp for n in store.nodes.list()}
        content = LocalContentStore(tmp_path / "content")
        closed = close_epoch(store, content, emission_wei=0)
        after = {n.name: n.reputation_anchor_bp for n in store.nodes.list()}
        record = {n.name: n.reliability for n in store.nodes.list()}
        assert record["gold-oracle"].gold_answer_hits == record["gold-oracle"].gold_answer_total > 0
        assert after["gold-oracle"] > before["gold-oracle"]
        assert all(after[n] < before[n] for n in ("gold-guess-1", "gold-guess-2")
                   if answer_letter(answers[by_name[n].id]) != key)  # fmt: skip
        report = audit_epoch(store, content, closed.epoch.id)
        assert report.passed, report.differences
    finally:
        for child in (knows, guess1, guess2):
            child.stop()


def _port() -> int:
    from services.ports_free import free_port

    return free_port()

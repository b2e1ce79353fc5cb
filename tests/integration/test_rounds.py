"""The round use cases against the real store and real test nodes over HTTP (no broker)."""

from __future__ import annotations

from services.app import rounds
from services.core.types import AnswerStatus, NewNode, NewTask, NodeKind, NodeStatus, TaskStatus, Wei
from services.ports_free import free_port
from tests.fixtures.fees import paid_task


def new_task(store, prompt="What is 2+2?", swarm_size=4):
    return paid_task(store, prompt, swarm_size)


def run_round(store, gateway, task_id):
    rounds.run_round(store, gateway, task_id, min_answers=3)
    return store.rounds.get(task_id)


def test_round_picks_a_correct_answer(store, registered_nodes, gateway):
    task = new_task(store)
    rnd = run_round(store, gateway, task.id)
    by_name = {n.id: n.name for n in registered_nodes}
    answers = {a.node_id: a.content for a in store.answers.list_for_task(task.id)}
    assert store.tasks.get(task.id).status is TaskStatus.DONE
    assert answers[rnd.winner_id] == "The answer is 4."
    # the two exact nodes gave one answer: one candidate with two supporters, ranked first
    supporters = {c.id: {by_name[n] for n in c.supporters} for c in rnd.candidates}
    assert sorted(map(sorted, supporters.values())) == [
        ["test-node-1", "test-node-2"], ["test-node-3"], ["test-node-4"]
    ]
    assert [answers[r.node_id] for r in rnd.ranking] == [
        "The answer is 4.", "The answer is 5.", "The answer is 6."
    ]  # off by 1 beats off by 2: the judges say so
    assert [r.rank for r in rnd.ranking] == [1, 2, 3]
    assert rnd.ranking[0].score > 0.5 and sum(r.score for r in rnd.ranking) <= 1.0
    assert rnd.separated is (rnd.ranking[0].score >= 0.95)
    assert rnd.seats == {n.id: 1 for n in registered_nodes}
    assert set(rnd.weights) == {n.id for n in registered_nodes}
    judgments = store.judgments.list_for_task(task.id)
    assert len(judgments) == len(rnd.pairs) >= 3 * 2  # each pair of candidates in both orders
    assert all(j.judge_id not in (j.left_id, j.right_id) for j in judgments)
    assert {(j.left_id, j.right_id) for j in judgments} <= {
        (a.id, b.id) for a in rnd.candidates for b in rnd.candidates if a != b
    }


def test_a_unanimous_swarm_is_one_candidate_and_nothing_is_judged(store, registered_nodes, gateway):
    from services.core.letters import multiple_choice_prompt

    exact = [n for n in registered_nodes if n.name in ("test-node-1", "test-node-2")]
    for n in registered_nodes:
        if n not in exact:
            store.nodes.set_status(n.id, NodeStatus.INACTIVE)
    options = ("3", "4")
    task = store.tasks.add(
        NewTask(prompt=multiple_choice_prompt("What is 2+2?", options), requester="key:test",
                fee_wei=Wei(10**18), swarm_size=2, options=options)
    )  # fmt: skip
    rounds.run_round(store, gateway, task.id, min_answers=2)
    rnd = store.rounds.get(task.id)
    assert store.tasks.get(task.id).status is TaskStatus.DONE
    assert len(rnd.candidates) == 1 and len(rnd.candidates[0].supporters) == 2
    assert rnd.pairs == () and store.judgments.list_for_task(task.id) == []
    assert rnd.separated is True and len(rnd.ranking) == 1


def test_steps_are_idempotent(store, registered_nodes, gateway):
    task = new_task(store)
    first = run_round(store, gateway, task.id)
    n_answers = len(store.answers.list_for_task(task.id))
    n_judgments = len(store.judgments.list_for_task(task.id))
    for n in first.node_ids:  # a redelivered message finds its work stored
        rounds.collect_answer(store, gateway, task.id, n)
    for j in {p.judge_id for p in first.pairs}:
        assert rounds.collect_judgments(store, gateway, task.id, j) == []
    assert rounds.rank(store, task.id) == []  # a finished round is not ranked again
    assert len(store.answers.list_for_task(task.id)) == n_answers
    assert len(store.judgments.list_for_task(task.id)) == n_judgments
    assert store.rounds.get(task.id).winner_id == first.winner_id


def test_a_no_show_is_recorded_and_the_round_completes(store, registered_nodes, gateway):
    dead = store.nodes.add(NewNode(name="silent", endpoint_url=f"http://127.0.0.1:{free_port()}/v1",
                                   model="x", kind=NodeKind.OPENAI))
    task = new_task(store, swarm_size=5)
    rnd = run_round(store, gateway, task.id)
    answers = {a.node_id: a for a in store.answers.list_for_task(task.id)}
    assert answers[dead.id].status is AnswerStatus.NO_SHOW
    assert "silent" in answers[dead.id].raw["error"]
    assert store.tasks.get(task.id).status is TaskStatus.DONE
    assert dead.id not in {r.node_id for r in rnd.ranking}


def test_too_few_nodes_fails_the_task_with_a_reason(store, gateway):
    store.nodes.add(NewNode(name="lonely", endpoint_url="http://127.0.0.1:9/v1", model="x"))
    task = new_task(store)
    assert rounds.choose_swarm(store, task.id, min_answers=3) == []
    failed = store.tasks.get(task.id)
    assert failed.status is TaskStatus.FAILED
    assert "1 active, trusted nodes" in failed.error


def test_swarm_size_bounds_the_swarm(store, registered_nodes, gateway):
    task = new_task(store, swarm_size=3)
    chosen = rounds.choose_swarm(store, task.id, min_answers=3)
    assert len(chosen) == 3
    assert rounds.choose_swarm(store, task.id, min_answers=3) == chosen  # retried dispatch: same swarm


def test_a_multiple_choice_task_is_answered_by_letter_and_ranked(store, registered_nodes, gateway):
    from services.core.letters import multiple_choice_prompt

    options = ("3", "4", "5", "6")
    task = store.tasks.add(
        NewTask(prompt=multiple_choice_prompt("What is 2+2?", options), requester="key:test",
                fee_wei=Wei(10**18), swarm_size=4, options=options)
    )  # fmt: skip
    run_round(store, gateway, task.id)
    answers = {a.node_id: a.content for a in store.answers.list_for_task(task.id)}
    assert set(answers.values()) <= {"A. 3", "B. 4", "C. 5", "D. 6"}
    assert sorted(answers.values()).count("B. 4") == 2  # the two exact test nodes
    rnd = store.rounds.get(task.id)
    assert answers[rnd.winner_id] == "B. 4"
    assert store.tasks.get(task.id).options == options


def test_a_swarm_takes_at_most_one_node_of_a_sybil_cluster(store, registered_nodes, gateway):
    ids = sorted(n.id for n in registered_nodes)
    assert len(ids) >= 4
    ep = store.epochs.current()
    store.epochs.close(ep.id, Wei(0), None)
    store.epochs.record_clusters(ep.id, [[ids[0], ids[1], ids[2]]])
    for seed in range(6):  # several draws: whichever member wins, its clones stay out
        task = new_task(store, swarm_size=len(ids), prompt=f"What is {seed}+1?")
        chosen = rounds.choose_swarm(store, task.id, min_answers=2)
        assert len(set(chosen) & set(ids[:3])) == 1 and set(ids[3:]) <= set(chosen)


def test_overlapping_leaders_recruit_more_judgments_then_finish_unseparated(store, registered_nodes, gateway):
    # test nodes cannot evaluate this: every answer differs only in the node's name and every
    # judge prefers whichever answer it is shown first, so both orders cancel into ties
    task = new_task(store, prompt="Who wrote Hamlet?")
    rnd = run_round(store, gateway, task.id)
    assert store.tasks.get(task.id).status is TaskStatus.DONE
    assert rnd.separated is False
    assert 1 <= rnd.recruits <= rounds.MAX_RECRUITS
    judgments = store.judgments.list_for_task(task.id)
    assert len(judgments) > 12 and len(rnd.pairs) == len(judgments)
    assert len({(j.judge_id, j.left_id, j.right_id) for j in judgments}) == len(judgments)

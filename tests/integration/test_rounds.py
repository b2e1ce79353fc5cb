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
    assert rounds.choose_swarm(store, task.id, min_answers=3) == []  # a redelivered dispatch: nothing
    again = rounds.resume(store, task.id, min_answers=3)  # the reconciler: the same swarm again
    assert again == rounds.Resume(rounds.Step.ANSWER, tuple(chosen))


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


def test_a_round_stalled_at_each_step_is_resumed_and_finishes_with_nothing_asked_twice(
    store, registered_nodes, gateway
):
    """The reconciler's ``resume`` at every point a lost message can leave a round: it names the
    missing step, which finds the stored work and does only what is missing."""
    task = new_task(store)
    ids = sorted(n.id for n in registered_nodes)
    assert rounds.resume(store, task.id, min_answers=3) == rounds.Resume(rounds.Step.ANSWER, tuple(ids))
    assert store.tasks.get(task.id).status is TaskStatus.ANSWERING  # a queued task was dispatched
    rounds.collect_answer(store, gateway, task.id, ids[0])  # then the other answers were lost
    again = rounds.resume(store, task.id, min_answers=3)
    assert again == rounds.Resume(rounds.Step.ANSWER, tuple(ids))
    calls = CountingGateway(gateway)
    for n in again.nodes:
        rounds.collect_answer(store, calls, task.id, n)
    assert calls.asked == len(ids) - 1  # the stored answer was not asked again
    judges = rounds.plan_judging(store, task.id, list(again.nodes), min_answers=3)
    assert judges and rounds.plan_judging(store, task.id, list(again.nodes), min_answers=3) is None
    rounds.collect_judgments(store, gateway, task.id, judges[0])  # the other judges' steps were lost
    left = rounds.resume(store, task.id, min_answers=3)
    assert left.step is rounds.Step.JUDGE and set(left.nodes) == set(judges[1:])
    for j in left.nodes:
        rounds.collect_judgments(store, gateway, task.id, j)
    assert rounds.resume(store, task.id, min_answers=3) == rounds.Resume(rounds.Step.RANK)
    while judges := rounds.rank(store, task.id):  # recruited passes, if any
        for j in judges:
            rounds.collect_judgments(store, gateway, task.id, j)
    assert store.tasks.get(task.id).status is TaskStatus.DONE
    assert rounds.resume(store, task.id, min_answers=3) == rounds.Resume(rounds.Step.NONE)
    rnd = store.rounds.get(task.id)
    assert len(store.judgments.list_for_task(task.id)) == len(rnd.pairs)


def test_work_that_comes_after_its_step_is_not_kept(store, registered_nodes, gateway):
    """A copy of a step that ran late (a redelivered message, a re-driven round) finds the round
    moved on: an answer after the candidates were formed and a verdict after the ranking are not
    stored, so the round's record holds exactly what its decision used."""
    from services.core.types import Answer, Judgment, Outcome

    task = new_task(store)
    rnd = run_round(store, gateway, task.id)
    late = Answer(task.id, rnd.node_ids[0], AnswerStatus.OK, "late", 1)
    assert store.answers.put(late) is False  # this node's answer is stored already
    other = store.nodes.add(NewNode(name="late-node", endpoint_url="http://127.0.0.1:9/v1", model="x"))
    assert store.answers.put(Answer(task.id, other.id, AnswerStatus.OK, "late", 1)) is False
    p = rnd.pairs[0]
    unjudged = next(
        (j, a, b) for j in rnd.node_ids for a in rnd.node_ids for b in rnd.node_ids
        if len({j, a, b}) == 3 and (j, a, b) not in {(q.judge_id, q.left_id, q.right_id) for q in rnd.pairs}
    )
    assert store.judgments.put(Judgment(task.id, *unjudged, Outcome.LEFT)) is False
    assert store.judgments.put(Judgment(task.id, p.judge_id, p.left_id, p.right_id, Outcome.TIE)) is False
    assert len(store.judgments.list_for_task(task.id)) == len(rnd.pairs)
    assert rounds.collect_answer(store, gateway, task.id, other.id).status is AnswerStatus.NO_SHOW
    assert all(a.node_id != other.id for a in store.answers.list_for_task(task.id))


class CountingGateway:
    def __init__(self, inner):
        self.inner, self.asked = inner, 0

    @property
    def domain(self):
        return self.inner.domain

    def answer(self, node, prompt, order):
        self.asked += 1
        return self.inner.answer(node, prompt, order)

    def choose(self, node, prompt, letters, order):
        self.asked += 1
        return self.inner.choose(node, prompt, letters, order)

    def judge(self, node, prompt, left, right, order):
        self.asked += 1
        return self.inner.judge(node, prompt, left, right, order)

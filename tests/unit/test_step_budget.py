"""A judge step stays inside the broker's visibility timeout: it starts node calls only while it
has run less than its budget, and says how many pairs it left for the next delivery; the budget
follows from the visibility timeout and the node timeout."""

from __future__ import annotations

from services.app import rounds
from services.app.ports import NodeReply, NodeVerdict
from services.core.types import NewNode, NewTask, NodeKind, NodeStatus, Outcome, Wei
from services.inmemory import MemoryStore
from services.settings import Settings
from services.sim.harness import sim_node
from tests.fixtures.signing import TEST_DOMAIN, receipt


class SlowNodes:
    """Each node answers differently; every call takes ``call_s`` of the fake clock."""

    def __init__(self, call_s: float) -> None:
        self.now, self.call_s, self.judged = 0.0, call_s, 0

    def clock(self) -> float:
        return self.now

    domain = TEST_DOMAIN

    def answer(self, node, prompt, order):
        self.now += self.call_s
        text = f"answer of {node.name}"
        return NodeReply(text, 1, receipt=receipt(node.name, order, prompt, text))

    def judge(self, node, prompt, left, right, order):
        self.now += self.call_s
        self.judged += 1
        return NodeVerdict(Outcome.LEFT, 1, receipt=receipt(node.name, order, prompt, "left", left, right))


def planned_round(nodes: SlowNodes):
    store = MemoryStore()
    for i in range(4):
        n = store.nodes.add(sim_node(f"n{i}", 10))
        store.nodes.set_status(n.id, NodeStatus.ACTIVE)
    task = store.tasks.add(NewTask(prompt="q", requester="key:r", fee_wei=Wei(0), swarm_size=4))
    seated = rounds.choose_swarm(store, task.id, min_answers=3)
    for n in set(seated):
        rounds.collect_answer(store, nodes, task.id, n)
    judges = rounds.plan_judging(store, task.id, seated, min_answers=3)
    assert judges
    busiest = max(judges, key=lambda j: sum(p.judge_id == j for p in store.rounds.get(task.id).pairs))
    return store, task, busiest


def test_a_judge_step_stops_starting_calls_at_its_budget_and_the_next_pass_finishes():
    nodes = SlowNodes(call_s=10.0)
    store, task, judge = planned_round(nodes)
    mine = sum(p.judge_id == judge for p in store.rounds.get(task.id).pairs)
    assert mine >= 3
    first = rounds.judge_within(store, nodes, task.id, judge, budget_s=15.0, clock=nodes.clock)
    assert len(first.made) == 2 and first.unasked == mine - 2  # calls started at 0 s and 10 s only
    rest = rounds.judge_within(store, nodes, task.id, judge, budget_s=15.0, clock=nodes.clock)
    while rest.unasked:
        rest = rounds.judge_within(store, nodes, task.id, judge, budget_s=15.0, clock=nodes.clock)
    assert sum(j.judge_id == judge for j in store.judgments.list_for_task(task.id)) == mine
    assert nodes.judged == mine  # no pair asked twice


def test_a_step_always_makes_its_first_call_and_without_a_budget_makes_all():
    nodes = SlowNodes(call_s=100.0)
    store, task, judge = planned_round(nodes)
    mine = sum(p.judge_id == judge for p in store.rounds.get(task.id).pairs)
    assert len(rounds.judge_within(store, nodes, task.id, judge, budget_s=0.0, clock=nodes.clock).made) == 1
    assert len(rounds.collect_judgments(store, nodes, task.id, judge)) == mine - 1


def test_the_judge_budget_ends_the_last_call_before_the_visibility_timeout(tmp_path):
    s = Settings(env="test", data_dir=tmp_path)
    assert (s.task_visibility_timeout_s, s.node_timeout_s) == (45, 30.0)
    # a call started at the budget ends (node timeout) 10 s before the timeout: sweep + margin
    assert s.judge_budget_s + s.node_timeout_s == s.task_visibility_timeout_s - 10
    assert Settings(env="test", data_dir=tmp_path, node_timeout_s=5).judge_budget_s == 30
    assert Settings(env="test", data_dir=tmp_path, task_visibility_timeout_s=3).judge_budget_s == 0
    # stalled: no progress for longer than a node call takes (and a margin)
    assert s.effective_task_stall_s == 45
    assert Settings(env="test", data_dir=tmp_path, node_timeout_s=5).effective_task_stall_s == 20

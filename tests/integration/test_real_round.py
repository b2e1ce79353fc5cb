"""A whole round with real small models (llama.cpp on CPU) answering and judging each other."""

from __future__ import annotations

from services.app.epochs import close_epoch
from services.content.local import LocalContentStore
from services.core.types import AnswerStatus, NewNode, NodeKind, TaskStatus
from services.nodes.client import HttpNodeGateway
from tests.fixtures.fees import escrow_of
from tests.fixtures.signing import TEST_DOMAIN, signer_of
from tests.integration.test_rounds import new_task, run_round


def test_real_models_answer_judge_rank_and_get_paid(store, model_swarm, tmp_path):
    for i, (model, child) in enumerate(model_swarm):
        store.nodes.add(NewNode(name=f"{model}-{i}", endpoint_url=child.url, model=model, kind=NodeKind.OPENAI,
                                signer=signer_of(f"{model}-{i}")))  # fmt: skip
    gateway = HttpNodeGateway(timeout_s=120, max_tokens=24, allow_loopback=True, domain=TEST_DOMAIN)
    try:
        task = new_task(store, prompt="What is the capital of France? Answer in one word.", swarm_size=3)
        rnd = run_round(store, gateway, task.id)
    finally:
        gateway.close()
    assert store.tasks.get(task.id).status is TaskStatus.DONE, store.tasks.get(task.id).error
    answers = store.answers.list_for_task(task.id)
    assert len(answers) == 3 and all(a.status is AnswerStatus.OK and a.content for a in answers)
    judgments = store.judgments.list_for_task(task.id)
    distinct = len(rnd.candidates)
    assert sorted(n for c in rnd.candidates for n in c.supporters) == sorted(a.node_id for a in answers)
    assert len(judgments) == len(rnd.pairs) and (distinct == 1 or len(judgments) >= 2)
    assert all("verdict" in j.raw and j.raw["verdict"]["1"] + j.raw["verdict"]["2"] > 0 for j in judgments)
    assert len(rnd.ranking) == distinct and all(0 <= r.score <= 1 for r in rnd.ranking)
    closed = close_epoch(store, LocalContentStore(tmp_path), escrow=escrow_of(store))
    assert sum(n.reward for n in closed.result.nodes) + closed.result.carried == task.fee_wei

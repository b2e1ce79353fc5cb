"""`merit node serve` with a real GGUF model, reached through the same gateway as any node."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import httpx

from services.core.types import Node, NodeId, NodeKind, NodeStatus, Wei
from services.app.signatures import verify
from services.core.work import WorkKind, WorkOrder, text_hash
from services.nodes.client import HttpNodeGateway
from tests.fixtures.signing import TEST_DOMAIN, signer_of


def as_node(url: str, model: str = "smollm2-135m") -> Node:
    return Node(NodeId(1), "smol", url, model, NodeKind.OPENAI, NodeStatus.ACTIVE, 5000, Wei(0), None,
                datetime.now(UTC))


def test_serves_the_openai_chat_api_with_logprobs(smollm_node):
    base = smollm_node.url
    models = httpx.get(base + "/models").json()
    assert [m["id"] for m in models["data"]] == ["smollm2-135m"]
    body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Say A or B."}],
            "max_tokens": 1, "logprobs": True, "top_logprobs": 5}
    resp = httpx.post(base + "/chat/completions", json=body, timeout=60).json()
    top = resp["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    assert len(top) == 5 and all(t["logprob"] <= 0 for t in top)


def test_answers_and_judges_through_the_gateway(smollm_node):
    gateway = HttpNodeGateway(timeout_s=60, max_tokens=24, allow_loopback=True, domain=TEST_DOMAIN)
    try:
        node = replace(as_node(smollm_node.url), signer=signer_of("smol"))
        order = WorkOrder(WorkKind.ANSWER, 7, 1)
        reply = gateway.answer(node, "What is the capital of France?", order)
        assert reply.content and reply.raw["response"]["model"] == "smollm2-135m"
        assert verify(TEST_DOMAIN, node, order, reply.receipt)[1] is None  # signed by the operator's key
        order = WorkOrder(WorkKind.JUDGMENT, 7, 1)
        verdict = gateway.judge(node, "What is 2+2?", "4", "5", order)
        assert verdict.outcome.value in ("left", "right", "tie")
        pair = {"left": text_hash("4"), "right": text_hash("5")}
        assert verify(TEST_DOMAIN, node, order, verdict.receipt, **pair)[1] is None
    finally:
        gateway.close()


def test_a_request_for_another_model_is_refused(smollm_node):
    resp = httpx.post(smollm_node.url + "/chat/completions", timeout=30,
                      json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 404
    assert "smollm2-135m" in resp.json()["error"]["message"]

"""`merit node proxy`: an OpenAI-compatible server that cannot sign (here a test node started
without a key) joins as a node whose work is signed, through the workers' own gateway."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn

from services.app.signatures import verify
from services.core.types import Node, NodeId, NodeKind, NodeStatus, Wei
from services.core.work import WorkKind, WorkOrder, address_of, name_key, text_hash
from services.devstack import start_test_node
from services.nodes.client import HttpNodeGateway
from services.nodes.proxy import create_proxy
from services.nodes.signing import NodeSigner
from services.nodes.testnode import TEST_MODEL
from services.ports_free import free_port
from tests.fixtures.signing import TEST_DOMAIN

KEY = name_key("proxied operator")


@pytest.fixture
def proxied(tmp_path) -> Iterator[tuple[str, str]]:
    """(the proxy's base URL, the upstream's): a test node that signs nothing, behind the proxy."""
    upstream = start_test_node("unsigned-upstream", free_port(), 0, tmp_path / "upstream.log")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_proxy(upstream.url, NodeSigner(KEY, TEST_DOMAIN)),
                                           host="127.0.0.1", port=port, log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1", upstream.url
    finally:
        server.should_exit = True
        thread.join(10)
        upstream.stop()


def _node(url: str) -> Node:
    return Node(NodeId(1), "proxied", url, TEST_MODEL, NodeKind.OPENAI, NodeStatus.ACTIVE, 5000, Wei(0),
                None, datetime.now(UTC), signer=address_of(KEY))  # fmt: skip


def test_a_server_that_cannot_sign_joins_through_the_proxy_and_its_work_verifies(proxied) -> None:
    proxy_url, upstream_url = proxied
    gateway = HttpNodeGateway(timeout_s=10, allow_loopback=True, domain=TEST_DOMAIN)
    try:
        direct = gateway.answer(
            _node(upstream_url), "What is 2+2?", WorkOrder(WorkKind.ANSWER, 9, 1)
        )
        assert verify(
            TEST_DOMAIN, _node(upstream_url), WorkOrder(WorkKind.ANSWER, 9, 1), direct.receipt
        )[1]  # unsigned
        order = WorkOrder(WorkKind.ANSWER, 9, 1)
        reply = gateway.answer(_node(proxy_url), "What is 2+2?", order)
        assert (
            reply.content == direct.content == "The answer is 4."
        )  # the upstream's answer, unchanged
        assert verify(TEST_DOMAIN, _node(proxy_url), order, reply.receipt)[1] is None
        order = WorkOrder(WorkKind.JUDGMENT, 9, 1)
        verdict = gateway.judge(
            _node(proxy_url), "What is 2+2?", "The answer is 4.", "The answer is 5.", order
        )
        pair = {"left": text_hash("The answer is 4."), "right": text_hash("The answer is 5.")}
        assert verify(TEST_DOMAIN, _node(proxy_url), order, verdict.receipt, **pair)[1] is None
        again = gateway.judge(
            _node(proxy_url), "What is 2+2?", "The answer is 4.", "The answer is 5.", order
        )
        assert verify(TEST_DOMAIN, _node(proxy_url), order, again.receipt, **pair)[1] is None
    finally:
        gateway.close()
    health = httpx.get(proxy_url.removesuffix("/v1") + "/health").json()
    assert health == {"status": "ok", "kind": "proxy", "signer": address_of(KEY)}

"""A node's endpoint cannot lead the workers inside, and its reply cannot flood them.

Each attack runs against a real HTTP server on this machine (a stdlib server that counts the
requests it receives): an endpoint at 127.0.0.1, at ``localhost``, at a name resolving to
127.0.0.1, at 10.0.0.1 and at 169.254.169.254 is refused before any request is sent; a redirect
(to loopback or to the metadata address) is not followed; a reply without end or declared too
large is given up at the byte cap, a reply dripping slower than the timeout at the timeout; an
answer longer than what is kept is stored cut, with a marker.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.core.errors import NodeUnreachable
from services.core.types import Node, NodeId, NodeKind, NodeStatus, Wei
from services.core.work import WorkKind, WorkOrder
from services.nodes.client import MAX_CONTENT_CHARS, HttpNodeGateway

ORDER = WorkOrder(WorkKind.ANSWER, 1, 1)

MODEL = "egress-test"


def chat_reply(content: str) -> bytes:
    return json.dumps({"model": MODEL, "choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


class Server:
    """A real HTTP server on 127.0.0.1 answering every POST the way ``mode`` says."""

    def __init__(self, mode: str, target: str = "") -> None:
        self.mode, self.target = mode, target
        self.hits: list[str] = []
        self.sent = 0  # body bytes written before the client went away
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                server.hits.append(self.path)
                self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    server.answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        if self.mode == "ok":
            body = chat_reply("The answer is 4.")
        elif self.mode == "long":
            body = chat_reply("x" * 100_000)
        elif self.mode == "redirect":
            h.send_response(307)
            h.send_header("Location", self.target)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        elif self.mode in ("endless", "declared-huge", "drip"):
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            if self.mode == "declared-huge":
                h.send_header("Content-Length", str(100 << 20))
            h.end_headers()
            chunk = b" " * (1 if self.mode == "drip" else 65536)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # never a complete reply
                h.wfile.write(chunk)
                h.wfile.flush()
                self.sent += len(chunk)
                if self.mode == "drip":
                    time.sleep(0.2)
            return
        else:
            raise AssertionError(self.mode)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/v1"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[type[Server]]:
    started: list[Server] = []

    class Started(Server):
        def __init__(self, mode: str, target: str = "") -> None:
            super().__init__(mode, target)
            started.append(self)

    yield Started
    for s in started:
        s.stop()


def node(url: str) -> Node:
    return Node(NodeId(1), "n1", url, MODEL, NodeKind.OPENAI, NodeStatus.ACTIVE, 5000, Wei(0), None,
                datetime.now(UTC))  # fmt: skip


def gateway(**kw: object) -> HttpNodeGateway:
    return HttpNodeGateway(timeout_s=float(kw.pop("timeout_s", 5.0)), **kw)  # type: ignore[arg-type]


def refused(gw: HttpNodeGateway, url: str) -> str:
    started = time.monotonic()
    with pytest.raises(NodeUnreachable) as caught:
        gw.answer(node(url), "What is 2+2?", ORDER)
    assert time.monotonic() - started < 3
    return caught.value.detail


def test_a_node_at_loopback_is_refused_unless_the_dev_setting_allows_it(serve) -> None:
    s = serve("ok")
    gw = gateway()
    try:
        assert "127.0.0.1, a loopback address" in refused(gw, s.url())
        assert "::1, a loopback address" in refused(gw, f"http://[::1]:{s.port}/v1")
        assert "localhost resolves to 127.0.0.1, a loopback address" in refused(gw, s.url("localhost"))
        assert s.hits == []  # not one request reached the server
    finally:
        gw.close()
    dev = gateway(allow_loopback=True)  # merit up's own test nodes
    try:
        assert dev.answer(node(s.url()), "What is 2+2?", ORDER).content == "The answer is 4."
        assert s.hits == ["/v1/chat/completions"]
    finally:
        dev.close()


def test_a_name_resolving_to_loopback_is_refused_at_call_time(serve) -> None:
    s = serve("ok")
    answers = {"node.example.org": ["127.0.0.1"]}
    gw = gateway(resolve=lambda host, port: answers[host])
    try:
        assert "node.example.org resolves to 127.0.0.1, a loopback address" in refused(
            gw, f"http://node.example.org:{s.port}/v1"
        )
        answers["node.example.org"] = ["1.1.1.1", "::ffff:127.0.0.1"]  # one bad answer of two
        assert "::ffff:127.0.0.1" in refused(gw, f"http://node.example.org:{s.port}/v1")
        assert s.hits == []
    finally:
        gw.close()


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://10.0.0.1:8000/v1", "10.0.0.1, a private address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254, a link-local"),
        ("http://[fd00:ec2::254]/v1", "a private address"),
        ("http://100.100.100.200/v1", "shared or metadata range"),
        ("http://0.0.0.0:8000/v1", "0.0.0.0, an unspecified address"),
    ],
)
def test_inside_addresses_are_refused_even_with_loopback_allowed(url: str, says: str) -> None:
    gw = gateway(allow_loopback=True)
    try:
        assert says in refused(gw, url)
    finally:
        gw.close()


@pytest.mark.parametrize("to", ["loopback", "metadata"])
def test_a_redirect_is_not_followed(serve, to: str) -> None:
    inside = serve("ok")
    target = inside.url() + "/chat/completions" if to == "loopback" else "http://169.254.169.254/latest/meta-data"
    s = serve("redirect", target)
    gw = gateway(allow_loopback=True)  # the first server itself is on loopback
    try:
        assert "redirects are not followed" in refused(gw, s.url())
        assert len(s.hits) == 1 and inside.hits == []
    finally:
        gw.close()


@pytest.mark.parametrize("mode", ["endless", "declared-huge"])
def test_a_reply_over_the_byte_cap_is_given_up_at_the_cap(serve, mode: str) -> None:
    s = serve(mode)
    gw = gateway(allow_loopback=True, max_reply_bytes=256 * 1024)
    try:
        said = refused(gw, s.url())
        assert "262144-byte cap" in said, said
    finally:
        gw.close()
    time.sleep(0.5)
    assert s.sent < 16 << 20  # it would have sent for a minute: the reading stopped at the cap


def test_a_reply_slower_than_the_timeout_is_given_up_at_the_timeout(serve) -> None:
    s = serve("drip")  # a byte every 0.2 s, each read well inside the read timeout
    gw = gateway(allow_loopback=True, timeout_s=1.5)
    try:
        started = time.monotonic()
        with pytest.raises(NodeUnreachable) as caught:
            gw.answer(node(s.url()), "What is 2+2?", ORDER)
        assert "not complete within 1.5 s" in caught.value.detail
        assert time.monotonic() - started < 2.5
    finally:
        gw.close()


def test_a_long_answer_is_kept_cut_with_a_marker(serve) -> None:
    s = serve("long")
    gw = gateway(allow_loopback=True)
    try:
        reply = gw.answer(node(s.url()), "What is 2+2?", ORDER)
    finally:
        gw.close()
    assert len(reply.content) <= MAX_CONTENT_CHARS
    assert reply.content.endswith("characters not kept]") and "truncated by meritswarm" in reply.content
    assert reply.raw["response"]["choices"][0]["message"]["content"] == reply.content  # stored cut too

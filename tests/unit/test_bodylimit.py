"""The body cap reads no more of a request than it must: a declared size over the cap is answered
without reading the body, a chunked body only up to the cap; a body under it reaches the app whole.
Driven at the ASGI level, no socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from services.api.bodylimit import BodyLimit

CAP = 256 * 1024
CHUNK = 64 * 1024


class Client:
    """Sends a body in chunks when asked, counting what the server read."""

    def __init__(self, chunks: int) -> None:
        self.left = chunks
        self.reads = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        self.left -= 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": self.left > 0}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def run(headers: list[tuple[bytes, bytes]], client: Client) -> list[bytes]:
    bodies: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        bodies.append(body)

    scope = {"type": "http", "method": "POST", "path": "/v1/tasks", "headers": headers}
    asyncio.run(BodyLimit(app, CAP)(scope, client.receive, client.send))
    return bodies


def status(client: Client) -> int:
    return int(next(m["status"] for m in client.sent if m["type"] == "http.response.start"))


def test_a_declared_size_over_the_cap_is_413_with_nothing_read() -> None:
    client = Client(chunks=1600)  # 100 MB
    assert run([(b"content-length", str(1600 * CHUNK).encode())], client) == []
    assert status(client) == 413 and client.reads == 0
    body = json.loads(b"".join(m.get("body", b"") for m in client.sent if m["type"] == "http.response.body"))
    assert body["status"] == 413 and "104857600 bytes declared" in body["detail"]


def test_a_chunked_body_is_read_only_up_to_the_cap() -> None:
    client = Client(chunks=1600)
    assert run([], client) == []
    assert status(client) == 413 and client.reads == CAP // CHUNK + 1


def test_a_body_under_the_cap_reaches_the_app_whole() -> None:
    client = Client(chunks=3)
    assert run([(b"content-length", str(3 * CHUNK).encode())], client) == [b"x" * 3 * CHUNK]
    assert client.sent == []


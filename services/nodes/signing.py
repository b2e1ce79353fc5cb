"""The node side of signed work (``services.core.work``): an ASGI layer in front of a node's
``/v1/chat/completions`` that signs every reply to a work order with the node's key.

A request naming a work order (``X-Merit-Kind``, ``X-Merit-Task``, ``X-Merit-Round``) is read
whole; the reply the app makes is read whole too, and a 2xx reply goes out with
``X-Merit-Signature`` over (kind, task, round, the two answers of a judging request as read from its
prompt, keccak256 of the request body, keccak256 of the reply body) under the node's own domain
(its chain id and NodeRegistry address, given at its start). A request without a work order is
served unsigned, as any OpenAI-compatible server would.

Signing two different replies to one piece of work is slashable (equivocation), so the node keeps
each signed reply for ``KEEP_S`` (at most ``KEEP_MAX`` of them) by (kind, task, round, request
hash), and answers a repeated request (a redelivered step, a retry) with the same bytes and the
same signature, without asking the model again.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from services.core.work import (
    SIGNATURE_HEADER,
    SIGNER_HEADER,
    ZERO,
    SigningDomain,
    Work,
    WorkKind,
    WorkOrder,
    address_of,
    hash_bytes,
    sign,
    text_hash,
)
from services.nodes import prompts

KEEP_S = 3600.0
KEEP_MAX = 4096
CHAT_PATH = "/v1/chat/completions"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class _Kept:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    at: float


class NodeSigner:
    """A node's key and domain, and the replies it signed (kept for ``keep_s``)."""

    def __init__(
        self,
        private_key: bytes,
        domain: SigningDomain,
        *,
        keep_s: float = KEEP_S,
        keep_max: int = KEEP_MAX,
    ) -> None:
        self._key = private_key
        self.domain = domain
        self.address = address_of(private_key)
        self._keep_s, self._keep_max = keep_s, keep_max
        self._kept: OrderedDict[tuple[WorkOrder, bytes], _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def sign(self, order: WorkOrder, request: bytes, reply: bytes) -> bytes:
        left, right = judged_pair(order, request)
        work = Work(
            order.kind, order.task, order.round, left, right, hash_bytes(request), hash_bytes(reply)
        )
        return sign(self._key, self.domain, work)

    def kept(self, key: tuple[WorkOrder, bytes]) -> _Kept | None:
        with self._lock:
            now = time.monotonic()
            while self._kept and now - next(iter(self._kept.values())).at > self._keep_s:
                self._kept.popitem(last=False)
            return self._kept.get(key)

    def keep(self, key: tuple[WorkOrder, bytes], kept: _Kept) -> None:
        with self._lock:
            self._kept[key] = kept
            while len(self._kept) > self._keep_max:
                self._kept.popitem(last=False)


def judged_pair(order: WorkOrder, request: bytes) -> tuple[bytes, bytes]:
    """keccak256 of the two answers a judging request shows (read from its last user message);
    zero for other work, or a request whose prompt is not a judging request."""
    if order.kind is not WorkKind.JUDGMENT:
        return ZERO, ZERO
    try:
        messages = json.loads(request)["messages"]
        user = next(str(m["content"]) for m in reversed(messages) if m.get("role") == "user")
    except (ValueError, KeyError, TypeError, StopIteration, AttributeError):
        return ZERO, ZERO
    parsed = prompts.parse_judge_request(user)
    return (text_hash(parsed[1]), text_hash(parsed[2])) if parsed else (ZERO, ZERO)


class SigningLayer:
    """ASGI middleware: signs the replies to work orders on ``CHAT_PATH`` with ``signer``."""

    def __init__(self, app: ASGIApp, signer: NodeSigner) -> None:
        self.app = app
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != CHAT_PATH:
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        order = WorkOrder.from_headers(headers)
        if order is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        request = b"".join(chunks)
        key = (order, hash_bytes(request))
        kept = self.signer.kept(key)
        if kept is None:
            kept = await self._serve(scope, request, order)
            if 200 <= kept.status < 300:
                self.signer.keep(key, kept)
        await send({"type": "http.response.start", "status": kept.status, "headers": kept.headers})
        await send({"type": "http.response.body", "body": kept.body, "more_body": False})

    async def _serve(self, scope: Scope, request: bytes, order: WorkOrder) -> _Kept:
        """The app's reply to ``request``, read whole, signed when it is a 2xx."""
        given = False

        async def replay() -> Message:
            nonlocal given
            if given:
                return {"type": "http.disconnect"}
            given = True
            return {"type": "http.request", "body": request, "more_body": False}

        start: Message = {}
        body: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        reply = b"".join(body)
        status = int(start.get("status", 500))
        out = [
            (k, v)
            for k, v in start.get("headers", [])
            if k.lower() != SIGNATURE_HEADER.lower().encode()
        ]
        if 200 <= status < 300:
            signature = self.signer.sign(order, request, reply)
            out += [
                (SIGNATURE_HEADER.lower().encode(), ("0x" + signature.hex()).encode()),
                (SIGNER_HEADER.lower().encode(), self.signer.address.encode()),
            ]
        return _Kept(status, out, reply, time.monotonic())

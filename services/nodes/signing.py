"""The node side of signed work (``services.core.work``): an ASGI layer in front of a node's
``/v1/chat/completions`` that signs every reply to a work order with the node's key.

A request naming a work order (``X-Merit-Kind``, ``X-Merit-Task``, ``X-Merit-Round``) is read
whole; the reply the app makes is read whole too, and a 2xx reply goes out with
``X-Merit-Signature`` over (kind, task, round, the two answers of a judging request as read from its
prompt, keccak256 of the request body, keccak256 of the reply body) under the node's own domain
(its chain id and NodeRegistry address, given at its start). A request without a work order is
served unsigned, as any OpenAI-compatible server would.

Signing two different replies to one piece of work is slashable (equivocation), so the node keeps
each signed reply by (kind, task, round, request hash) and answers a repeated request (a
redelivered step, a retry) with the same bytes and the same signature, without asking the model
again. In memory it keeps them for ``KEEP_S`` (at most ``KEEP_MAX``). With a journal
(``SignedJournal``, a SQLite file: `merit node serve` and `proxy` keep one in the data dir) the
node remembers across restarts what it signed: the reply itself for ``KEEP_S``, and after that the
fact that it signed one, so a request repeated later, by a redelivery or by a marketplace hoping
for a second, different reply to slash, is refused (409) and never signed twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
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


_FORGOTTEN_BODY = json.dumps(
    {
        "type": "about:blank",
        "title": "Work already signed",
        "status": 409,
        "detail": "this node signed a reply to this request before and no longer keeps it; "
        "it does not sign a second reply to one piece of work",
    }
).encode()
# the answer to work signed once whose reply is no longer kept: nothing signed
FORGOTTEN = _Kept(409, [(b"content-type", b"application/problem+json")], _FORGOTTEN_BODY, 0.0)

_Key = tuple[WorkOrder, bytes]


class SignedJournal:
    """What a node signed, in a SQLite file, so that a restart forgets nothing: each reply (its
    status, headers and bytes) for ``keep_s`` by wall clock, and after that a row without the
    reply that still says the work was signed."""

    def __init__(self, path: Path, domain: SigningDomain, keep_s: float = KEEP_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self._keep_s = path, keep_s
        self._domain = f"{domain.chain_id}:{domain.registry.lower()}"
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS signed (domain TEXT, kind TEXT, task TEXT,"
                " round INTEGER, request BLOB, status INTEGER, headers TEXT, body BLOB,"
                " at REAL, PRIMARY KEY (domain, kind, task, round, request))"
            )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS signed_kept ON signed (at) WHERE body IS NOT NULL"
            )

    def _row(self, key: _Key) -> tuple[str, str, str, int, bytes]:
        order, request = key
        return self._domain, order.kind.value, f"{order.task:064x}", order.round, request

    def get(self, key: _Key) -> _Kept | None:
        """The reply signed for ``key``; FORGOTTEN when it was signed and is no longer kept."""
        with self._lock:
            found = self._db.execute(
                "SELECT status, headers, body, at FROM signed WHERE domain = ? AND kind = ?"
                " AND task = ? AND round = ? AND request = ?",
                self._row(key),
            ).fetchone()
        if found is None:
            return None
        status, headers, body, at = found
        if body is None:
            return FORGOTTEN
        pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in json.loads(headers)]
        return _Kept(int(status), pairs, bytes(body), float(at))

    def put(self, key: _Key, kept: _Kept) -> _Kept:
        """Record ``kept`` before it is sent, unless a reply to ``key`` was recorded first (a
        concurrent request, another process): the reply recorded is the one to send. Replies
        older than ``keep_s`` lose their bytes."""
        headers = json.dumps([[k.decode("latin-1"), v.decode("latin-1")] for k, v in kept.headers])
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO signed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*self._row(key), kept.status, headers, kept.body, now),
            )
            self._db.execute(
                "UPDATE signed SET headers = NULL, body = NULL WHERE at < ? AND body IS NOT NULL",
                (now - self._keep_s,),
            )
        return self.get(key) or kept

    def close(self) -> None:
        with self._lock:
            self._db.close()


class NodeSigner:
    """A node's key and domain, and the replies it signed (kept for ``keep_s``; with a
    ``journal``, remembered across restarts)."""

    def __init__(
        self,
        private_key: bytes,
        domain: SigningDomain,
        *,
        keep_s: float = KEEP_S,
        keep_max: int = KEEP_MAX,
        journal: Path | None = None,
    ) -> None:
        self._key = private_key
        self.domain = domain
        self.address = address_of(private_key)
        self._keep_s, self._keep_max = keep_s, keep_max
        self._kept: OrderedDict[_Key, _Kept] = OrderedDict()
        self._lock = threading.Lock()
        self.journal = None if journal is None else SignedJournal(journal, domain, keep_s)

    def sign(self, order: WorkOrder, request: bytes, reply: bytes) -> bytes:
        left, right = judged_pair(order, request)
        work = Work(
            order.kind, order.task, order.round, left, right, hash_bytes(request), hash_bytes(reply)
        )
        return sign(self._key, self.domain, work)

    def kept(self, key: _Key) -> _Kept | None:
        """The reply already signed for ``key``, FORGOTTEN, or None when none was signed."""
        with self._lock:
            now = time.monotonic()
            while self._kept and now - next(iter(self._kept.values())).at > self._keep_s:
                self._kept.popitem(last=False)
            found = self._kept.get(key)
        if found is None and self.journal is not None:
            found = self.journal.get(key)
        return found

    def keep(self, key: _Key, kept: _Kept) -> _Kept:
        """Keep ``kept`` as the reply to ``key``; the reply to send: the first one kept, when two
        requests for one piece of work raced (one signed reply goes out, never two)."""
        if self.journal is not None:
            kept = self.journal.put(key, kept)
        with self._lock:
            kept = self._kept.setdefault(key, kept)
            while len(self._kept) > self._keep_max:
                self._kept.popitem(last=False)
        return kept


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
                kept = self.signer.keep(key, kept)  # recorded before it is sent
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

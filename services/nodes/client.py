"""Node gateway: reaches model nodes only through their OpenAI-compatible chat API.

A node is ``{base_url, model}``: vLLM, llama.cpp's server, Ollama, ``merit node serve`` and the
deterministic test node all look the same from here. A timeout, a connection error or a reply
without a message is a no-show (``NodeUnreachable``), which the round records and survives.

A node is someone else's server, so every call is bounded: connections go to public addresses
only, checked when they are opened (``services.nodes.egress``), redirects are not followed, a
reply is read as a stream and given up at ``max_reply_bytes`` or when the whole exchange passes
``timeout_s``, and the text kept of an answer is at most ``MAX_CONTENT_CHARS`` (cut with a marker).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from services.app.ports import NodeChoice, NodeReply, NodeVerdict
from services.core.errors import ConfigInvalid, EndpointRefused, NodeUnreachable
from services.core.types import Node, Outcome
from services.core.work import SIGNATURE_HEADER, Receipt, SigningDomain, WorkOrder, hash_bytes
from services.nodes import prompts
from services.nodes.egress import Resolver, guarded_client, system_resolver

log = logging.getLogger(__name__)


TRANSIENT_STATUS = {502, 503, 504}
VERDICT_TOKENS = {"1": Outcome.LEFT, "2": Outcome.RIGHT}
TIE_MARGIN = 0.1  # |p1 - p2| / (p1 + p2) below this is no preference
MAX_REPLY_BYTES = 1 << 20  # a chat completion of 512 tokens with log-probabilities is far smaller
MAX_CONTENT_CHARS = 16_000  # the text kept of one answer (and shown to its judges)


class _ReplyRefused(Exception):
    """A reply the gateway stopped reading: a redirect, too large, or too slow."""


def truncated(content: str, limit: int = MAX_CONTENT_CHARS) -> str:
    """``content`` cut to ``limit`` characters, ending in a marker that says how much was cut."""
    if len(content) <= limit:
        return content
    kept = max(0, limit - 100)
    return (
        content[:kept] + f" [... truncated by meritswarm: {len(content) - kept} of {len(content)} "
        "characters not kept]"
    )


class HttpNodeGateway:
    """Per-node timeouts and a per-node concurrency limit (a small model serves one request at a
    time; piling more on it only turns them into timeouts). One retry, for transient errors only."""

    def __init__(
        self,
        *,
        timeout_s: float,
        max_tokens: int = 512,
        per_node: int = 2,
        allow_loopback: bool = False,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        resolve: Resolver = system_resolver,
        domain: SigningDomain | Callable[[], SigningDomain] | None = None,
    ) -> None:
        self._domain = domain
        self._timeout_s = timeout_s
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        self._max_tokens = max_tokens
        self._max_reply_bytes = max_reply_bytes
        self._http = guarded_client(
            timeout=self._timeout, allow_loopback=allow_loopback, resolve=resolve
        )
        self._per_node = per_node
        self._limits: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    @property
    def domain(self) -> SigningDomain:
        """The deployment the marketplace's work is signed for (read once, when first needed)."""
        with self._lock:
            if callable(self._domain):
                self._domain = self._domain()
            if self._domain is None:
                raise ConfigInvalid(
                    "the node gateway has no signing domain", hint="build it with domain="
                )
            return self._domain

    def _limit(self, node: Node) -> threading.BoundedSemaphore:
        with self._lock:
            return self._limits.setdefault(
                node.endpoint_url, threading.BoundedSemaphore(self._per_node)
            )

    def _post(
        self, url: str, body: bytes, headers: dict[str, str], deadline: float
    ) -> tuple[int, bytes, str | None]:
        """POST ``body``: the status and the reply's bytes, read as they come and given up past
        ``max_reply_bytes`` or ``deadline``. One retry, for a refused connection or a
        502/503/504."""
        for attempt in (1, 2):
            try:
                status, data, signature = self._read(url, body, headers, deadline)
            except httpx.ConnectError:
                if attempt == 2 or time.monotonic() + 0.2 >= deadline:
                    raise
            else:
                if (
                    status not in TRANSIENT_STATUS
                    or attempt == 2
                    or time.monotonic() + 0.2 >= deadline
                ):
                    return status, data, signature
            time.sleep(0.2)
        raise AssertionError("unreachable")

    def _read(
        self, url: str, body: bytes, headers: dict[str, str], deadline: float
    ) -> tuple[int, bytes, str | None]:
        """The status, the reply's bytes and its signature header (None: none)."""
        sent = {"Accept-Encoding": "identity", "Content-Type": "application/json", **headers}
        with self._http.stream("POST", url, content=body, headers=sent) as resp:
            encoding = resp.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):  # its size on the wire would say nothing
                raise _ReplyRefused(f"reply compressed ({encoding}) though identity was asked for")
            if resp.is_redirect:
                raise _ReplyRefused(
                    f"redirected to {resp.headers.get('location', '?')!r} "
                    "(redirects are not followed)"
                )
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_reply_bytes:
                raise _ReplyRefused(
                    f"reply of {declared} bytes is over the {self._max_reply_bytes}-byte cap"
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_raw():
                size += len(chunk)
                if size > self._max_reply_bytes:
                    raise _ReplyRefused(
                        f"reply over the {self._max_reply_bytes}-byte cap (reading stopped)"
                    )
                if time.monotonic() > deadline:
                    raise _ReplyRefused(
                        f"reply not complete within {self._timeout_s:g} s (reading stopped)"
                    )
                chunks.append(chunk)
            return resp.status_code, b"".join(chunks), resp.headers.get(SIGNATURE_HEADER)

    def _chat(
        self,
        node: Node,
        messages: list[dict[str, str]],
        max_tokens: int,
        order: WorkOrder,
        *,
        require_text: bool = True,
        **extra: Any,
    ) -> tuple[str, int, dict[str, Any], Receipt]:
        """The reply's text, its latency, the exchange, and its receipt: the hashes of the exact
        request bytes sent and reply bytes read, with the node's signature
        (``X-Merit-Signature``)."""
        url = node.endpoint_url.rstrip("/") + "/chat/completions"
        body = {
            "model": node.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens,
            **extra,
        }
        sent = json.dumps(body, separators=(",", ":")).encode()
        started = time.perf_counter()
        try:
            with self._limit(node):
                status, payload, signature = self._post(
                    url, sent, order.headers(), time.monotonic() + self._timeout_s
                )
            if not 200 <= status < 300:
                raise NodeUnreachable(f"node {node.name} answered HTTP {status}", node_id=node.id)
            data = json.loads(payload)
            message = data["choices"][0]["message"]
            content = message["content"]
        except EndpointRefused as exc:
            log.warning("node endpoint refused", extra={"node_id": node.id, "reason": exc.detail})
            raise NodeUnreachable(f"node {node.name}: {exc.detail}", node_id=node.id) from exc
        except _ReplyRefused as exc:
            raise NodeUnreachable(f"node {node.name}: {exc}", node_id=node.id) from exc
        except httpx.TimeoutException as exc:
            raise NodeUnreachable(f"node {node.name} timed out", node_id=node.id) from exc
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise NodeUnreachable(f"node {node.name} failed: {exc}", node_id=node.id) from exc
        if not isinstance(content, str) or (require_text and not content.strip()):
            raise NodeUnreachable(f"node {node.name} sent an empty reply", node_id=node.id)
        served = data.get("model")
        if served is not None and served != node.model:
            raise NodeUnreachable(
                f"node {node.name} answered with model {served!r}, registered as {node.model!r}",
                node_id=node.id,
            )
        content = truncated(content)
        message["content"] = content  # the stored exchange keeps no more than the answer
        latency_ms = int((time.perf_counter() - started) * 1000)
        receipt = Receipt(hash_bytes(sent), hash_bytes(payload), _signature_bytes(signature))
        return content, latency_ms, {"request": body, "response": data}, receipt

    def answer(self, node: Node, prompt: str, order: WorkOrder) -> NodeReply:
        content, ms, raw, receipt = self._chat(
            node, prompts.answer_messages(prompt), self._max_tokens, order
        )
        return NodeReply(content=content.strip(), latency_ms=ms, raw=raw, receipt=receipt)

    def choose(
        self, node: Node, prompt: str, letters: tuple[str, ...], order: WorkOrder
    ) -> NodeChoice:
        """A multiple-choice answer as probabilities over ``letters`` (one generated token)."""
        content, ms, raw, receipt = self._chat(
            node,
            prompts.answer_messages(prompt),
            1,
            order,
            require_text=False,
            logprobs=True,
            top_logprobs=10,
        )
        probs = token_probabilities(raw["response"], letters)
        if not any(probs.values()):  # a server without logprobs: read the letter it wrote
            letter = content.strip().rstrip(".)").upper()
            if letter in probs:
                probs[letter] = 1.0
        return NodeChoice(probs=probs, latency_ms=ms, raw=raw, receipt=receipt)

    def judge(
        self, node: Node, prompt: str, left: str, right: str, order: WorkOrder
    ) -> NodeVerdict:
        """One token, read through its top log-probabilities over "1" and "2" where the server
        reports them (vLLM, llama.cpp, Ollama, merit node serve), else through the text."""
        content, ms, raw, receipt = (
            self._chat(  # the one token may be blank: its logprobs still count
                node,
                prompts.judge_messages(prompt, left, right),
                1,
                order,
                require_text=False,
                logprobs=True,
                top_logprobs=10,
            )
        )
        probs = verdict_probabilities(raw["response"])
        raw["verdict"] = probs
        if probs["1"] + probs["2"] > 0:
            return NodeVerdict(outcome=verdict_from(probs), latency_ms=ms, raw=raw, receipt=receipt)
        return NodeVerdict(
            outcome=prompts.parse_verdict(content), latency_ms=ms, raw=raw, receipt=receipt
        )


def _signature_bytes(header: str | None) -> bytes | None:
    """The signature a reply header carries (None when absent or not hex)."""
    if header is None:
        return None
    try:
        return bytes.fromhex(header.strip().removeprefix("0x"))
    except ValueError:
        return None


def token_probabilities(response: dict[str, Any], tokens: tuple[str, ...]) -> dict[str, float]:
    """P(token) at the first generated position for each of ``tokens`` (compared stripped, so
    " B" and "B." count as "B"), from the reported top log-probabilities."""
    out = dict.fromkeys(tokens, 0.0)
    try:
        first = response["choices"][0]["logprobs"]["content"][0]
        candidates = first.get("top_logprobs") or [first]
    except (KeyError, IndexError, TypeError):
        return out
    for cand in candidates:
        token = str(cand.get("token", "")).strip().rstrip(".)")
        if token in out and isinstance(cand.get("logprob"), (int, float)):
            out[token] += math.exp(cand["logprob"])
    return out


def verdict_probabilities(response: dict[str, Any]) -> dict[str, float]:
    """P("1") and P("2") at the first generated token."""
    return token_probabilities(response, ("1", "2"))


def verdict_from(probs: dict[str, float]) -> Outcome:
    p1, p2 = probs["1"], probs["2"]
    if abs(p1 - p2) < TIE_MARGIN * (p1 + p2):
        return Outcome.TIE
    return Outcome.LEFT if p1 > p2 else Outcome.RIGHT

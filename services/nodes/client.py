"""Node gateway: reaches model nodes only through their OpenAI-compatible chat API.

A node is ``{base_url, model}``: vLLM, llama.cpp's server, Ollama, ``merit node serve`` and the
deterministic test node all look the same from here. A timeout, a connection error or a reply
without a message is a no-show (``NodeUnreachable``), which the round records and survives.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import httpx

from services.app.ports import NodeChoice, NodeReply, NodeVerdict
from services.core.errors import NodeUnreachable
from services.core.types import Node, Outcome
from services.nodes import prompts

log = logging.getLogger(__name__)


TRANSIENT_STATUS = {502, 503, 504}
VERDICT_TOKENS = {"1": Outcome.LEFT, "2": Outcome.RIGHT}
TIE_MARGIN = 0.1  # |p1 - p2| / (p1 + p2) below this is no preference


class HttpNodeGateway:
    """Per-node timeouts and a per-node concurrency limit (a small model serves one request at a
    time; piling more on it only turns them into timeouts). One retry, for transient errors only."""

    def __init__(self, *, timeout_s: float, max_tokens: int = 512, per_node: int = 2) -> None:
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        self._max_tokens = max_tokens
        self._http = httpx.Client(timeout=self._timeout)
        self._per_node = per_node
        self._limits: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _limit(self, node: Node) -> threading.BoundedSemaphore:
        with self._lock:
            return self._limits.setdefault(node.endpoint_url, threading.BoundedSemaphore(self._per_node))

    def _post(self, node: Node, url: str, body: dict[str, Any]) -> httpx.Response:
        for attempt in (1, 2):
            try:
                resp = self._http.post(url, json=body)
            except httpx.ConnectError:
                if attempt == 2:
                    raise
            else:
                if resp.status_code not in TRANSIENT_STATUS or attempt == 2:
                    return resp
            time.sleep(0.2)
        raise AssertionError("unreachable")

    def _chat(
        self, node: Node, messages: list[dict[str, str]], max_tokens: int, *, require_text: bool = True,
        **extra: Any,
    ) -> tuple[str, int, dict[str, Any]]:
        url = node.endpoint_url.rstrip("/") + "/chat/completions"
        body = {"model": node.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens, **extra}
        started = time.perf_counter()
        try:
            with self._limit(node):
                resp = self._post(node, url, body)
            resp.raise_for_status()
            data = resp.json()
            content = data["choices"][0]["message"]["content"]
        except httpx.TimeoutException as exc:
            raise NodeUnreachable(f"node {node.name} timed out", node_id=node.id) from exc
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise NodeUnreachable(f"node {node.name} failed: {exc}", node_id=node.id) from exc
        if not isinstance(content, str) or (require_text and not content.strip()):
            raise NodeUnreachable(f"node {node.name} sent an empty reply", node_id=node.id)
        served = data.get("model")
        if served is not None and served != node.model:
            raise NodeUnreachable(
                f"node {node.name} answered with model {served!r}, registered as {node.model!r}", node_id=node.id
            )
        latency_ms = int((time.perf_counter() - started) * 1000)
        return content, latency_ms, {"request": body, "response": data}

    def answer(self, node: Node, prompt: str) -> NodeReply:
        content, ms, raw = self._chat(node, prompts.answer_messages(prompt), self._max_tokens)
        return NodeReply(content=content.strip(), latency_ms=ms, raw=raw)

    def choose(self, node: Node, prompt: str, letters: tuple[str, ...]) -> NodeChoice:
        """A multiple-choice answer as probabilities over ``letters`` (one generated token)."""
        content, ms, raw = self._chat(
            node, prompts.answer_messages(prompt), 1, require_text=False, logprobs=True, top_logprobs=10
        )
        probs = token_probabilities(raw["response"], letters)
        if not any(probs.values()):  # a server without logprobs: read the letter it wrote
            letter = content.strip().rstrip(".)").upper()
            if letter in probs:
                probs[letter] = 1.0
        return NodeChoice(probs=probs, latency_ms=ms, raw=raw)

    def judge(self, node: Node, prompt: str, left: str, right: str) -> NodeVerdict:
        """One token, read through its top log-probabilities over "1" and "2" where the server
        reports them (vLLM, llama.cpp, Ollama, merit node serve), else through the text."""
        content, ms, raw = self._chat(  # the one token may be blank: its logprobs still count
            node, prompts.judge_messages(prompt, left, right), 1, require_text=False, logprobs=True,
            top_logprobs=10,
        )
        probs = verdict_probabilities(raw["response"])
        raw["verdict"] = probs
        if probs["1"] + probs["2"] > 0:
            return NodeVerdict(outcome=verdict_from(probs), latency_ms=ms, raw=raw)
        return NodeVerdict(outcome=prompts.parse_verdict(content), latency_ms=ms, raw=raw)


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

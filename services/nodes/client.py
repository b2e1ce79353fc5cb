"""Node gateway: reaches model nodes only through their OpenAI-compatible chat API.

A node is ``{base_url, model}``: vLLM, llama.cpp's server, Ollama, ``merit node serve`` and the
deterministic test node all look the same from here. A timeout, a connection error or a reply
without a message is a no-show (``NodeUnreachable``), which the round records and survives.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from services.app.ports import NodeReply, NodeVerdict
from services.core.errors import NodeUnreachable
from services.core.types import Node
from services.nodes import prompts

log = logging.getLogger(__name__)


class HttpNodeGateway:
    def __init__(self, *, timeout_s: float, max_tokens: int = 512) -> None:
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        self._max_tokens = max_tokens
        self._http = httpx.Client(timeout=self._timeout)

    def close(self) -> None:
        self._http.close()

    def _chat(self, node: Node, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, int, dict[str, Any]]:
        url = node.endpoint_url.rstrip("/") + "/chat/completions"
        body = {
            "model": node.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens,
        }
        started = time.perf_counter()
        try:
            resp = self._http.post(url, json=body)
            resp.raise_for_status()
            data = resp.json()
            content = data["choices"][0]["message"]["content"]
        except httpx.TimeoutException as exc:
            raise NodeUnreachable(f"node {node.name} timed out", node_id=node.id) from exc
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise NodeUnreachable(f"node {node.name} failed: {exc}", node_id=node.id) from exc
        if not isinstance(content, str):
            raise NodeUnreachable(f"node {node.name} sent no text", node_id=node.id)
        latency_ms = int((time.perf_counter() - started) * 1000)
        return content, latency_ms, {"request": body, "response": data}

    def answer(self, node: Node, prompt: str) -> NodeReply:
        content, ms, raw = self._chat(node, prompts.answer_messages(prompt), self._max_tokens)
        return NodeReply(content=content.strip(), latency_ms=ms, raw=raw)

    def judge(self, node: Node, prompt: str, left: str, right: str) -> NodeVerdict:
        content, ms, raw = self._chat(node, prompts.judge_messages(prompt, left, right), 4)
        return NodeVerdict(outcome=prompts.parse_verdict(content), latency_ms=ms, raw=raw)

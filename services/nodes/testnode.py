"""TEST NODE: a deterministic program that speaks the OpenAI-compatible chat API.

It is not a model. It evaluates the arithmetic in a question (``What is 2+2?``) and adds its own
fixed ``offset`` to the result, so a swarm of test nodes with different offsets gives answers that
are right or wrong in a known way; as a judge it prefers the answer whose number is correct. It
exists so the marketplace's plumbing (dispatch, answers, judgments, ranking) can run and be tested
without model weights. Real nodes are any OpenAI-compatible server (``merit node serve``, vLLM,
llama.cpp, Ollama).
"""

from __future__ import annotations

import ast
import operator
import re
import time
import uuid
from fractions import Fraction
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from services.core.types import TEST_MODEL as TEST_MODEL  # where the tests and the stack name it
from services.core.work import name_key
from services.nodes import prompts
from services.nodes.signing import NodeSigner, SigningLayer

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_EXPR = re.compile(r"[-+*/()\d\s.]*\d[-+*/()\d\s.]*")


def evaluate(question: str) -> Fraction | None:
    """The value of the longest arithmetic expression in ``question``, exactly, or None."""
    candidates = sorted(
        (m.group().strip() for m in _EXPR.finditer(question)), key=len, reverse=True
    )
    for text in candidates:
        if not re.search(r"[-+*/]", text):
            continue
        try:
            return _eval(ast.parse(text, mode="eval").body)
        except (SyntaxError, ValueError, ZeroDivisionError):
            continue
    return None


def _eval(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return Fraction(_OPS[type(node.op)](_eval(node.left), _eval(node.right)))
    raise ValueError("not arithmetic")


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{float(x):.6g}"


def _numbers(text: str) -> list[Fraction]:
    return [Fraction(m) for m in re.findall(r"-?\d+(?:\.\d+)?", text)]


def _distance(value: Fraction | None, answer: str) -> Fraction | None:
    """How far the answer's last number is from ``value``; None when there is nothing to compare."""
    found = _numbers(answer)[-1:]
    if value is None or not found:
        return None
    return abs(found[0] - value)


def _rank_key(d: Fraction | None) -> tuple[int, Fraction]:
    return (1, Fraction(0)) if d is None else (0, d)


# bad-signature: signs with a key that is not its registered one; unsigned: sends no signature
FAULTS = ("none", "empty", "wrong-model", "garbage", "slow", "bad-signature", "unsigned")


_OPTION = re.compile(r"^([A-J])\. (.*)$", re.MULTILINE)


class TestNode:
    __test__ = False  # a test node, not a pytest class

    def __init__(
        self,
        name: str,
        offset: int = 0,
        fault: str = "none",
        delay_s: float = 30.0,
        oracle: bool = False,
    ) -> None:
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        self.name = name
        self.offset = offset
        self.fault = fault  # a misbehaving test node, for tests of how rounds treat faulty nodes
        self.delay_s = delay_s
        self.oracle = oracle  # looks MMLU answers up: a node that passes calibration, for its tests

    def answer(self, question: str) -> str:
        if self.oracle:
            from services.nodes.mmlu import answer_key

            if question in answer_key():
                return answer_key()[question]
        options: list[tuple[str, str]] = _OPTION.findall(question)
        if options:  # a multiple-choice question: the letter of the option holding its result
            value = evaluate(question.split("\n\n", 1)[0])
            if value is not None:
                mine = _fmt(value + self.offset)
                for letter, text in options:
                    if text.strip().rstrip(".") == mine:
                        return letter
            return options[0][0]
        value = evaluate(question)
        if value is None:
            return f"Test node {self.name} only evaluates arithmetic; it cannot answer this."
        return f"The answer is {_fmt(value + self.offset)}."

    def judge(self, question: str, first: str, second: str) -> str:
        """Prefer the answer whose last number is closer to the true value; else the shorter one."""
        value = evaluate(question)
        d1, d2 = _rank_key(_distance(value, first)), _rank_key(_distance(value, second))
        if d1 != d2:
            return "1" if d1 < d2 else "2"
        return "1" if len(first) <= len(second) else "2"

    def reply(self, messages: list[dict[str, Any]]) -> str:
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        request = prompts.parse_judge_request(str(user))
        return self.judge(*request) if request else self.answer(str(user))


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None


def create_app(node: TestNode, signer: NodeSigner | None = None) -> FastAPI:
    """The test node's server; with ``signer``, its replies to work orders are signed
    (``services.nodes.signing``), unless its fault is to sign wrongly or not at all."""
    app = FastAPI(title=f"meritswarm test node {node.name}", docs_url=None, redoc_url=None)
    if signer is not None and node.fault == "bad-signature":
        signer = NodeSigner(name_key(f"{node.name}/not its key"), signer.domain)
    if signer is not None and node.fault != "unsigned":
        app.add_middleware(SigningLayer, signer=signer)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "kind": "test", "name": node.name}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": TEST_MODEL, "object": "model", "owned_by": "test"}],
        }

    @app.post("/v1/chat/completions", response_model=None)
    def chat(req: ChatRequest) -> dict[str, Any] | PlainTextResponse:
        text = node.reply(req.messages)
        if node.fault == "garbage":
            return PlainTextResponse("<html>502 upstream gone</html>", status_code=200)
        if node.fault == "slow":
            time.sleep(node.delay_s)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "some-other-model" if node.fault == "wrong-model" else TEST_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "" if node.fault == "empty" else text,
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    return app

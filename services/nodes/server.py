"""`merit node serve --model NAME`: an OpenAI-compatible chat server over llama.cpp on CPU.

Serves ``/v1/models``, ``/v1/chat/completions`` (with ``logprobs``/``top_logprobs``) and
``/health`` for one of the small models in ``services.nodes.models``, each reply to a work order
signed with the operator's key (``--signing-key``, ``services.nodes.signing``). GPU operators run
vLLM, llama.cpp's ``llama-server`` or Ollama instead; the workers see the same API either way.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.core.errors import ConfigInvalid
from services.nodes.models import get_model, model_path
from services.nodes.signing import NodeSigner, SigningLayer


class ChatBody(BaseModel):
    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int | None = Field(256, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    seed: int | None = None
    stop: list[str] | str | None = None


def _openai_error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": status}}, status_code=status
    )


def load_llama(path: Path, *, n_threads: int, n_ctx: int) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ConfigInvalid(
            "llama-cpp-python is not installed", hint="install it with `make node`"
        ) from exc
    # logits_all: top_logprobs needs the logits of every generated position
    return Llama(
        model_path=str(path),
        n_threads=n_threads,
        n_ctx=n_ctx,
        logits_all=True,
        verbose=False,
        seed=0,
    )


def _plain_prompt(messages: list[dict[str, Any]]) -> str:
    """For base models without a chat template: the conversation as plain text."""
    lines = [f"{m.get('content', '')}" for m in messages if m.get("role") in ("system", "user")]
    return "\n\n".join(lines) + "\n\nAnswer:"


def with_system(messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """The operator's own system prompt, when set, in place of the caller's."""
    if not system:
        return messages
    return [
        {"role": "system", "content": system},
        *(m for m in messages if m.get("role") != "system"),
    ]


def create_app(
    name: str, llama: Any, system: str | None = None, signer: NodeSigner | None = None
) -> FastAPI:
    """The node's server over ``llama``; with ``signer``, its replies to work orders are signed
    (``services.nodes.signing``)."""
    app = FastAPI(title=f"meritswarm node ({name})", docs_url=None, redoc_url=None)
    if signer is not None:
        app.add_middleware(SigningLayer, signer=signer)
    lock = threading.Lock()  # one llama context: one generation at a time
    has_template = bool(getattr(llama, "metadata", {}).get("tokenizer.chat_template"))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "kind": "llama.cpp", "model": name}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "owned_by": "meritswarm"}],
        }

    @app.post("/v1/chat/completions", response_model=None)
    def chat(body: ChatBody) -> dict[str, Any] | JSONResponse:
        if body.model not in (None, name):
            return _openai_error(
                404,
                f"model {body.model!r} is not served here; this node serves {name!r}",
                "invalid_request_error",
            )
        messages = with_system(body.messages, system)
        with lock:
            if has_template:
                out = dict(
                    llama.create_chat_completion(
                        messages=messages,
                        max_tokens=body.max_tokens,
                        temperature=body.temperature,
                        logprobs=body.logprobs,
                        top_logprobs=body.top_logprobs if body.logprobs else None,
                        seed=body.seed,
                        stop=body.stop,
                    )
                )
                out["model"] = name  # llama.cpp reports the file path
                return _json_object(out)
            out = llama.create_completion(
                _plain_prompt(messages),
                max_tokens=body.max_tokens,
                temperature=body.temperature,
                logprobs=body.top_logprobs if body.logprobs else None,
                seed=body.seed,
                stop=body.stop,
            )
        return _json_object(_as_chat(out, name, body.logprobs))

    return app


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in value.items()}


def _jsonable(value: Any) -> Any:
    """llama.cpp reports logprobs as numpy scalars; the API speaks plain JSON numbers."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _as_chat(out: dict[str, Any], name: str, with_logprobs: bool) -> dict[str, Any]:
    """A completion answer in the chat completion shape (logprobs as OpenAI chat reports them)."""
    choice = out["choices"][0]
    logprobs = None
    if with_logprobs and choice.get("logprobs"):
        lp = choice["logprobs"]
        logprobs = {
            "content": [
                {
                    "token": tok,
                    "logprob": tlp,
                    "top_logprobs": [{"token": t, "logprob": v} for t, v in (top or {}).items()],
                }
                for tok, tlp, top in zip(
                    lp["tokens"], lp["token_logprobs"], lp["top_logprobs"] or [], strict=False
                )
            ]
        }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": choice["text"]},
                "logprobs": logprobs,
                "finish_reason": choice.get("finish_reason"),
            }
        ],
        "usage": out.get("usage", {}),
    }


def build(
    name: str,
    cache_dir: Path,
    *,
    n_threads: int,
    n_ctx: int = 2048,
    system: str | None = None,
    signer: NodeSigner | None = None,
) -> FastAPI:
    get_model(name)
    llama = load_llama(model_path(name, cache_dir), n_threads=n_threads, n_ctx=n_ctx)
    return create_app(name, llama, system, signer)

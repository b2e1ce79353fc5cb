"""`merit node proxy`: any OpenAI-compatible server as a node that signs its work.

vLLM, llama.cpp's server, Ollama and the like answer the chat API but cannot sign. The proxy
stands in front of one: it passes ``/v1/chat/completions`` (and ``/v1/models``) through to the
operator's own server unchanged, and its signing layer (``services.nodes.signing``) signs every
reply to a work order with the node's key, keeping each signed reply so that a repeated request
gets the same bytes and signature. The upstream is the operator's own server (often on
localhost), so it is not held to the marketplace's egress rules; the reply is still capped.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from services.nodes.signing import NodeSigner, SigningLayer

MAX_UPSTREAM_BYTES = 4 << 20  # a chat completion with log-probabilities is far smaller


def create_proxy(
    upstream: str,
    signer: NodeSigner,
    *,
    timeout_s: float = 300.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The proxy app in front of ``upstream`` (the server's base URL, e.g. http://127.0.0.1:8000/v1)."""
    base = upstream.rstrip("/")
    app = FastAPI(title="meritswarm node proxy", docs_url=None, redoc_url=None)
    app.add_middleware(SigningLayer, signer=signer)
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0), transport=transport)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        try:
            found = await client.get(f"{base}/models")
            up = found.status_code < 500
        except httpx.HTTPError:
            up = False
        return {
            "status": "ok" if up else "upstream down",
            "kind": "proxy",
            "signer": signer.address,
        }

    @app.get("/v1/models")
    async def models() -> Response:
        return await _forward(client, "GET", f"{base}/models", b"")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await _forward(client, "POST", f"{base}/chat/completions", await request.body())

    return app


async def _forward(client: httpx.AsyncClient, method: str, url: str, body: bytes) -> Response:
    """The upstream's reply as it came (its status, type and bytes); 502 when it is down or
    its reply too big."""
    headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
    try:
        async with client.stream(method, url, content=body or None, headers=headers) as reply:
            data = bytearray()
            async for chunk in reply.aiter_raw():
                data += chunk
                if len(data) > MAX_UPSTREAM_BYTES:
                    return _error(f"the upstream's reply is over {MAX_UPSTREAM_BYTES} bytes")
            kind = reply.headers.get("content-type", "application/json")
            return Response(bytes(data), status_code=reply.status_code, media_type=kind)
    except httpx.HTTPError as exc:
        return _error(f"the upstream server did not answer: {type(exc).__name__}")


def _error(message: str) -> Response:
    body = {"error": {"message": message, "type": "upstream_error"}}
    return Response(json.dumps(body), status_code=502, media_type="application/json")

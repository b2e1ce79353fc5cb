"""Request dependencies: the process's container and the authenticated requester."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from services.bootstrap import Container
from services.core.errors import Unauthorized


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def requester(request: Request) -> str:
    """The caller's identity: a digest of its API key (``Authorization: Bearer KEY``)."""
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    keys = get_container(request).settings.api_keys
    if not key or not any(hmac.compare_digest(key, k) for k in keys):
        raise Unauthorized(
            "missing or unknown API key",
            hint="send 'Authorization: Bearer <key>' with a key listed in MERIT_API_KEYS",
        )
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]

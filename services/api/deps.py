"""Request dependencies: the process's container and the authenticated, rate-limited requester."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.bootstrap import Container
from services.broker.ratelimit import retry_after_s
from services.core.errors import RateLimited, Unauthorized

# declared in the OpenAPI document as the "bearer" scheme of every route that needs a key
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="API key",
    description="An API key listed in MERIT_API_KEYS: `Authorization: Bearer <key>`",
)


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def requester(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """The caller's identity, a digest of its API key (``Authorization: Bearer KEY``), once the
    key's token bucket gives this request a token (else 429 with Retry-After)."""
    key = credentials.credentials.strip() if credentials else request.headers.get("x-api-key", "")
    container = get_container(request)
    keys = container.settings.api_keys
    if not key or not any(hmac.compare_digest(key, k) for k in keys):
        raise Unauthorized(
            "missing or unknown API key",
            hint="send 'Authorization: Bearer <key>' with a key listed in MERIT_API_KEYS",
        )
    who = "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    if container.limiter is not None:
        wait = container.limiter.take(who)
        if wait > 0:
            limiter = container.limiter
            raise RateLimited(
                f"rate limit of this API key reached ({limiter.rate_per_s:g} requests a second, "
                f"{limiter.burst} at once)",
                retry_after_s=retry_after_s(wait),
                hint="wait Retry-After seconds before the next request",
            )
    return who

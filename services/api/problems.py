"""RFC 9457 problem+json: the one place where errors become HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.core.errors import MeritError, RateLimited, Unavailable

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://meritswarm.dev/problems/"


def problem(
    status: int, code: str, title: str, detail: str, instance: str, **extra: Any
) -> JSONResponse:
    body = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _short(message: str) -> str:
    """A validation message with any number too long to read (2^256 - 1 ...) shortened."""
    import re

    message = message.replace(str(2**256), "2^256")
    return re.sub(r"\d{25,}", lambda m: f"{m.group()[:6]}...({len(m.group())} digits)", message)


def install(app: FastAPI) -> None:
    @app.exception_handler(MeritError)
    async def merit_error(request: Request, exc: MeritError) -> JSONResponse:
        retry = exc.retry_after_s if isinstance(exc, (Unavailable, RateLimited)) else None
        if exc.status >= 500:
            log.warning("%s: %s", exc.code, exc.detail)
        return problem(
            exc.status,
            exc.code,
            exc.title,
            exc.detail,
            request.url.path,
            hint=exc.hint,
            retry_after=retry,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
            for e in exc.errors()
        ]
        said = "; ".join(f"{e['field'] or 'body'}: {_short(e['message'])}" for e in errors)
        return problem(
            422,
            "invalid",
            "Invalid input",
            f"invalid field(s): {said}",
            request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: "not-found",
            405: "method-not-allowed",
            401: "unauthorized",
            413: "too-large",
        }.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail), str(exc.detail), request.url.path)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(
            500,
            "internal",
            "Internal error",
            "an unexpected error occurred; see the API log",
            request.url.path,
        )

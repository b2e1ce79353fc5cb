"""Request bodies are capped before anything parses them: a larger one is a 413 problem.

A declared ``Content-Length`` over the cap is answered at once, nothing of the body read; a body
sent without one (chunked) is read only up to the cap. Bodies under the cap are passed on whole.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.problems import problem
from services.core.errors import TooLarge


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, f"{int(declared)} bytes declared")
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, f"more than {self.max_bytes} bytes sent")
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, said: str) -> None:
        exc = TooLarge(
            f"request body too large ({said}); at most {self.max_bytes} bytes are read",
            hint="send a shorter prompt or fewer, shorter options",
        )
        response = problem(
            exc.status, exc.code, exc.title, exc.detail, scope.get("path", ""), hint=exc.hint
        )
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)

"""The per-request byte limit, enforced before the body is parsed and while it streams in."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model.errors import RequestTooLarge


def too_large(limit: int) -> RequestTooLarge:
    """The refusal for a request body over ``limit`` bytes."""
    return RequestTooLarge(
        f"the request is larger than {limit / 1e6:.0f} MB; send fewer or smaller photos per request"
    )


class BodyLimitMiddleware:
    """Refuses a declared Content-Length over the limit at once; counts the bytes of any other body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            error = too_large(self.max_bytes)
            body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise too_large(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)

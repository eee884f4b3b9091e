"""The per-request byte limit, enforced before the body is parsed and while it streams in."""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.types import Message, Receive, Scope, Send

from model.image_io import mebibytes
from serve.errors import NulCharacter, RequestTooLarge
from serve.http.asgi import HttpMiddleware


def too_large(limit: int) -> RequestTooLarge:
    """The refusal for a request body over ``limit`` bytes."""
    return RequestTooLarge(
        f"the request is larger than {mebibytes(limit)}; send fewer or smaller photos per request"
    )


def _refuse(status: int, code: str, message: str) -> tuple[Message, Message]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
    }
    return start, {"type": "http.response.body", "body": body}


class NulGuardMiddleware(HttpMiddleware):
    """Refuses a NUL character anywhere in the URL or the headers: no field may hold one, and databases choke."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        query = scope.get("query_string", b"")
        headers = scope.get("headers") or []
        if (
            "\x00" in scope["path"]
            or b"%00" in raw.lower() + query.lower()
            or b"\x00" in raw + query
            or any(b"\x00" in v for _, v in headers)
        ):
            error = NulCharacter("the URL or a header contains a NUL (%00) character; remove it")
            for message in _refuse(422, error.code, error.message):
                await send(message)
            return
        await self.app(scope, receive, send)


@dataclass
class BodyLimitMiddleware(HttpMiddleware):
    """Refuses a declared Content-Length over the limit at once; counts the bytes of any other body."""

    max_bytes: int

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            error = too_large(self.max_bytes)
            for message in _refuse(413, error.code, error.message):
                await send(message)
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

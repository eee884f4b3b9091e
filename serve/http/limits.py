"""The per-request byte limits, enforced before the body is parsed and while it streams in.

A route that takes photos (a ``File`` parameter) may receive up to the upload cap; every other route, JSON,
up to the small JSON cap. A declared ``Content-Length`` over the route's cap is refused before any of the
body is read; a body without one is counted as it streams and refused as soon as it passes the cap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from fastapi import params
from fastapi.routing import APIRoute
from starlette.types import Message, Receive, Scope, Send

from model.errors import AutoquoteError
from model.image_io import mebibytes
from serve.errors import NulCharacter, RequestTooLarge
from serve.http.asgi import HttpMiddleware
from serve.http.error_responses import error_response, locale_of_scope
from serve.http.status import status_for


def too_large(limit: int, uploads: bool = True) -> RequestTooLarge:
    """The refusal for a request body over ``limit`` bytes (``uploads``: on a route that takes photos)."""
    if uploads:
        return RequestTooLarge(
            f"the request is larger than {mebibytes(limit)}; send fewer or smaller photos per request"
        )
    return RequestTooLarge(
        f"the request body is larger than {mebibytes(limit)}, the limit for this endpoint; "
        "send a smaller body (photos go to the upload endpoints)"
    )


async def _refuse(error: AutoquoteError, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        status_for(error), error.code, error.message, None, {"Connection": "close"}, locale=locale_of_scope(scope)
    )
    await response(scope, receive, send)


def takes_uploads(route: object) -> bool:
    """Whether ``route`` receives files (its body is multipart with a ``File`` part)."""
    body = route.body_field if isinstance(route, APIRoute) else None
    return body is not None and isinstance(body.field_info, params.File)


def api_routes(routes: Iterable[object]) -> Iterator[APIRoute]:
    """Every API route, also those of included routers (kept apart in recent FastAPI versions)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


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
            await _refuse(error, scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass
class BodyLimitMiddleware(HttpMiddleware):
    """Refuses a declared Content-Length over the route's limit at once; counts the bytes of any other body.

    ``max_bytes`` is the cap of the routes that take photos, ``max_json_bytes`` that of every other route."""

    max_bytes: int
    max_json_bytes: int

    _uploads: list[tuple[re.Pattern[str], set[str]]] | None = field(default=None, init=False)

    def takes_uploads(self, scope: Scope) -> bool:
        """Whether the request goes to a route that takes photos (by its path and method)."""
        if self._uploads is None:  # the routes are all known once the first request comes
            routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
            self._uploads = [(r.path_regex, r.methods or set()) for r in api_routes(routes) if takes_uploads(r)]
        return any(
            scope["method"] in methods and regex.match(scope["path"]) for regex, methods in self._uploads
        )

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        uploads = self.takes_uploads(scope)
        limit = self.max_bytes if uploads else self.max_json_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(too_large(limit, uploads), scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(limit, uploads)
            return message

        await self.app(scope, counting_receive, send)

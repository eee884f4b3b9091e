"""The base of the service's own ASGI middlewares: HTTP requests are theirs, every other scope passes through."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class HttpMiddleware:
    """Wraps ``app``; :meth:`http` sees each HTTP request, lifespan and websocket scopes go straight through.

    Subclasses are dataclasses whose further fields are the keyword arguments of ``app.add_middleware``."""

    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

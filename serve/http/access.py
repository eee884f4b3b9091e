"""Access per router: who may call a route is declared once, and checked before the request body is read.

FastAPI reads and parses a body before it solves dependencies, so an unauthenticated 70 MB upload would
be parsed before its 401. Routers built with :class:`AccessRoute` resolve the caller from the headers
first; the :class:`Access` dependency declared on the router (or on one route) names the roles allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.params import Depends
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from model.vocabulary import Role
from serve.db.keys import Principal, principal_for
from serve.errors import AuthenticationRequired, InvalidApiKey, PermissionDenied
from serve.http.throttle import FailedAuthThrottle


def key_from_headers(authorization: str | None, x_api_key: str | None) -> str:
    """The key from ``Authorization: Bearer <key>`` or ``X-API-Key``; refuse a request without one."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    raise AuthenticationRequired(
        "this endpoint needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' "
        "(create one with 'autoquote keys create')"
    )


def with_article(word: str) -> str:
    """``word`` after the indefinite article its sound takes: an adjuster key, a customer key."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def require_role(principal: Principal, *roles: Role) -> None:
    """Refuse a caller whose role is not one of ``roles``."""
    if principal.role not in roles:
        raise PermissionDenied(
            f"{with_article(principal.role)} key may not do this; it needs a key with role {' or '.join(roles)}"
        )


class Access:
    """A dependency naming the roles that may call a route; any role when none are named."""

    def __init__(self, *roles: Role) -> None:
        self.roles: tuple[Role, ...] = roles

    def __call__(self, request: Request) -> Principal:
        principal: Principal = request.state.principal
        return principal


def allow(*roles: Role) -> Depends:
    """``dependencies=[allow("admin")]`` on a router or a route."""
    return Depends(Access(*roles))


def authenticate(request: Request) -> Principal:
    """The caller behind the request's API key; refuses a request without a valid one, and a client that sent
    too many wrong keys (``serve.http.throttle``)."""
    key = key_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
    throttle: FailedAuthThrottle = request.app.state.auth_throttle
    client = request.client.host if request.client else "unknown"
    throttle.check(client)
    with request.app.state.sessionmaker() as session:
        principal = principal_for(session, key)
    if principal is None:
        throttle.failed(client)
        raise InvalidApiKey("this API key is unknown or revoked; ask an admin for a new one")
    return principal


def _access_of(route: APIRoute) -> list[Access]:
    return [d.dependency for d in route.dependencies if isinstance(d.dependency, Access)]


class AccessRoute(APIRoute):
    """A route that authenticates and checks roles from the headers alone, before the body is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        rules = _access_of(self)
        if not rules:
            return handler

        async def guarded(request: Request) -> Response:
            principal = await run_in_threadpool(authenticate, request)
            for rule in rules:
                if rule.roles:
                    require_role(principal, *rule.roles)
            request.state.principal = principal
            return await handler(request)

        return guarded

"""Where exceptions become responses: the app's exception handlers, and a last catch for unexpected ones.

An :class:`~model.errors.AutoquoteError` is answered with the status of ``serve.http.status`` and the body of
``serve.http.error_responses``; a request the framework refuses (validation, no route, wrong method) gets
the same body with a framework code; anything else is logged once and answered with a JSON 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from model.errors import AutoquoteError
from serve.errors import AuthThrottled, PhotoNotAFile, RequestInvalid, TransitionNotAllowed, cut, shown
from serve.http.asgi import HttpMiddleware
from serve.http.error_responses import error_response, locale_of_scope
from serve.http.locale import Locale, negotiate
from serve.http.metrics import Metrics
from serve.http.status import CODE_OF_HTTP_STATUS, status_for

log = logging.getLogger(__name__)

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (Starlette's 405 names only the first route's)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


@dataclass
class CatchUnexpectedMiddleware(HttpMiddleware):
    """Turns an unexpected exception into one logged traceback and a JSON 500 (not re-raised, logged twice)."""

    metrics: Metrics

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except AutoquoteError as exc:  # raised outside a route, e.g. while a body streams in
            if not started:
                response = error_response(
                    status_for(exc), exc.code, exc.message, self.metrics, locale=locale_of_scope(scope)
                )
                await response(scope, receive, send)
        except Exception as exc:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            if started:
                return
            response = error_response(
                500,
                "internal_error",
                "something went wrong on our side; try again, the request was not applied",
                self.metrics,
                locale=locale_of_scope(scope),
            )
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Register the handlers on ``app``."""

    def locale_of(request: Request) -> Locale:
        return negotiate(request.headers.get("accept-language"))

    async def autoquote_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AutoquoteError)
        status = status_for(exc)
        if status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        allowed = exc.allowed if isinstance(exc, TransitionNotAllowed) else None
        retry_after = exc.retry_after if isinstance(exc, AuthThrottled) else None
        return error_response(
            status, exc.code, exc.message, metrics, allowed=allowed, locale=locale_of(request), retry_after=retry_after
        )

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        # A field's name is the caller's text too (an unknown key of any length): shown cut short.
        where = ".".join(cut(p) for p in first.get("loc", ()))
        if "Expected UploadFile" in str(first.get("msg")):
            error: AutoquoteError = PhotoNotAFile(
                f"{where} must be a file: send each photo as a multipart file part with a filename "
                '(Content-Disposition: form-data; name="files"; filename="photo.jpg")'
            )
        else:
            error = RequestInvalid(f"{first.get('msg')} at {where}; fix the request")
        return error_response(422, error.code, error.message, metrics, locale=locale_of(request))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # FastAPI wraps errors raised while parsing a body (e.g. our byte limit) in a 400; answer for ours.
        if isinstance(exc.__cause__, AutoquoteError):
            return await autoquote_error(request, exc.__cause__)
        code = CODE_OF_HTTP_STATUS.get(exc.status_code, f"http_{exc.status_code}")
        headers = dict(exc.headers or {})
        message = str(exc.detail)
        if exc.status_code == 405:
            methods = allowed_methods(request)
            headers["Allow"] = ", ".join(methods)
            message = f"{request.method} is not allowed here; use {' or '.join(methods)}"
        elif exc.status_code == 404:
            message = f"nothing at {shown(request.url.path)}; see /docs for the API"
        return error_response(exc.status_code, code, message, metrics, headers, locale=locale_of(request))

    app.add_exception_handler(AutoquoteError, autoquote_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_middleware(CatchUnexpectedMiddleware, metrics=metrics)

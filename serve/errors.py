"""The one place that turns exceptions into HTTP status codes and ``{"error": {code, message}}`` bodies."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model.errors import (
    AccessError,
    AuthenticationRequired,
    AutoquoteError,
    ConfigError,
    ConflictError,
    ImageTooLarge,
    ImageTooManyPixels,
    InputError,
    InvalidApiKey,
    ModelError,
    NotFound,
    PermissionDenied,
    RequestTooLarge,
    StorageUnavailable,
    UnsupportedImageType,
)
from serve.metrics import Metrics

log = logging.getLogger(__name__)

# First match wins: specific classes before their parents.
STATUS_BY_ERROR: tuple[tuple[type[AutoquoteError], int], ...] = (
    (AuthenticationRequired, 401),
    (InvalidApiKey, 401),
    (PermissionDenied, 403),
    (AccessError, 403),
    (NotFound, 404),
    (ConflictError, 409),
    (ImageTooLarge, 413),
    (RequestTooLarge, 413),
    (ImageTooManyPixels, 413),
    (UnsupportedImageType, 415),
    (InputError, 422),
    (ModelError, 503),
    (StorageUnavailable, 503),
    (ConfigError, 500),
    (AutoquoteError, 500),
)
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "request_too_large"}


def status_for(exc: AutoquoteError) -> int:
    """The HTTP status of one of our errors."""
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(status: int, code: str, message: str, metrics: Metrics | None) -> JSONResponse:
    """The JSON error body every refusal uses."""
    if metrics is not None:
        metrics.errors.labels(code).inc()
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Register the handlers on ``app``."""

    async def autoquote_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AutoquoteError)
        status = status_for(exc)
        if status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        return error_response(status, exc.code, exc.message, metrics)

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(
            422, "request_invalid", f"{first.get('msg')} at {where}; fix the request", metrics
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # FastAPI wraps errors raised while parsing a body (e.g. our byte limit) in a 400; answer for ours.
        if isinstance(exc.__cause__, AutoquoteError):
            return await autoquote_error(request, exc.__cause__)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail), metrics)

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(
            500,
            "internal_error",
            "something went wrong on our side; try again, the request was not applied",
            metrics,
        )

    app.add_exception_handler(AutoquoteError, autoquote_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)

"""The service's errors, and the one place that turns exceptions into HTTP statuses and error bodies.

The service's branches of the exception tree drawn in ``model/errors.py``, with their stable codes:

    InputError
    ├── TooManyPhotos                   too_many_photos          (photos per claim)
    ├── RequestTooLarge                 request_too_large        (bytes per request)
    ├── NoPhotos                        claim_has_no_photos
    └── InvalidIdempotencyKey           idempotency_key_invalid
    AccessError                         who is asking may not do this
    ├── AuthenticationRequired          auth_required            (no key given)
    ├── InvalidApiKey                   auth_invalid             (unknown or revoked key)
    └── PermissionDenied                forbidden                (the key's role may not do this)
    NotFound                            not_found
    ├── ClaimNotFound                   claim_not_found          (also another customer's claim)
    └── ApiKeyNotFound                  api_key_not_found
    ConflictError                       conflict
    ├── IdempotencyConflict             idempotency_conflict     (same key, different body)
    └── ClaimStateConflict              claim_state_conflict     (e.g. photos added to a closed claim)

    Review and the learning loop:

    InputError
    ├── InvalidBox                      box_invalid              (a corrected box outside its photo, or empty)
    └── InvalidModelChoice              model_choice_invalid     (a promoted/shadow model outside the registry,
                                                                  without a valid manifest, or failing to load)
    NotFound
    └── PhotoNotFound                   photo_not_found          (no such photo in this claim)

    The photo store:

    StorageUnavailable                  storage_unavailable      (the photo store refused or did not answer)

    Request limits:

    InputError
    ├── NulCharacter                    text_has_nul             (a NUL in a URL, query or header)
    └── RequestTooManyPixels            request_too_many_pixels  (photos of one request decode too large)
    DecoderBusy                         decoder_busy             (every decode slot stayed busy; retry)

    Claim states (raised by ``serve.claim_states``):

    ConflictError
    └── ClaimStateConflict              claim_state_conflict
        ├── TransitionNotAllowed        claim_state_conflict     (with ``allowed``: the actions allowed now)
        └── PhotoAlreadyInClaim         photo_already_in_claim   (a photo withdrawn or still in this claim)
    PermissionDenied
    └── OwnClaimDecision                own_claim_decision_forbidden
    InputError
    └── ApprovalCommentRequired         approval_comment_required (amount far from the model's quote)

Every refusal has the body ``{"error": {"code", "message"}}`` (:class:`ErrorOut`); routers document theirs
with :data:`ERROR_RESPONSES`, which lists each status with every code it may carry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from model.errors import (
    AutoquoteError,
    ConfigError,
    ImageTooLarge,
    ImageTooManyPixels,
    InputError,
    ModelError,
    UnsupportedImageType,
)
from serve.asgi import HttpMiddleware
from serve.metrics import Metrics

log = logging.getLogger(__name__)


class TooManyPhotos(InputError):
    code = "too_many_photos"


class RequestTooLarge(InputError):
    code = "request_too_large"


class NoPhotos(InputError):
    code = "claim_has_no_photos"


class InvalidIdempotencyKey(InputError):
    code = "idempotency_key_invalid"


class AccessError(AutoquoteError):
    code = "access_denied"


class AuthenticationRequired(AccessError):
    code = "auth_required"


class InvalidApiKey(AccessError):
    code = "auth_invalid"


class PermissionDenied(AccessError):
    code = "forbidden"


class NotFound(AutoquoteError):
    code = "not_found"


class ClaimNotFound(NotFound):
    code = "claim_not_found"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


class ConflictError(AutoquoteError):
    code = "conflict"


class IdempotencyConflict(ConflictError):
    code = "idempotency_conflict"


class ClaimStateConflict(ConflictError):
    code = "claim_state_conflict"


class InvalidBox(InputError):
    code = "box_invalid"


class PhotoNotFound(NotFound):
    code = "photo_not_found"


class InvalidModelChoice(InputError):
    code = "model_choice_invalid"


class StorageUnavailable(AutoquoteError):
    code = "storage_unavailable"


class NulCharacter(InputError):
    code = "text_has_nul"


class RequestTooManyPixels(InputError):
    code = "request_too_many_pixels"


class DecoderBusy(AutoquoteError):
    code = "decoder_busy"


class ErrorBody(BaseModel):
    code: str = Field(description="stable, machine-readable error code")
    message: str = Field(description="what went wrong and what to do")
    allowed: list[str] | None = Field(
        default=None, description="claim_state_conflict only: the actions this key may take on the claim now"
    )


class ErrorOut(BaseModel):
    error: ErrorBody


class TransitionNotAllowed(ClaimStateConflict):
    """A claim cannot make this transition now; ``allowed`` lists what the caller may do instead."""

    def __init__(self, message: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class PhotoAlreadyInClaim(ClaimStateConflict):
    code = "photo_already_in_claim"


class OwnClaimDecision(PermissionDenied):
    code = "own_claim_decision_forbidden"


class ApprovalCommentRequired(InputError):
    code = "approval_comment_required"

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
    (RequestTooManyPixels, 413),
    (UnsupportedImageType, 415),
    (InputError, 422),
    (DecoderBusy, 429),
    (ModelError, 503),
    (StorageUnavailable, 503),
    (ConfigError, 500),
    (AutoquoteError, 500),
)
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "request_too_large"}
# Codes that come from the framework or middleware rather than from an AutoquoteError raised by a route.
_FRAMEWORK_CODES: dict[int, tuple[str, ...]] = {
    400: ("bad_request",),
    404: ("not_found",),
    405: ("method_not_allowed",),
    422: ("request_invalid", "photo_not_a_file"),
}


def _all_errors(cls: type[AutoquoteError] = AutoquoteError) -> list[type[AutoquoteError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_errors(sub))
    return out


def status_for_class(cls: type[AutoquoteError]) -> int:
    """The HTTP status every error of class ``cls`` is answered with."""
    for known, status in STATUS_BY_ERROR:
        if issubclass(cls, known):
            return status
    return 500


def codes_for(status: int) -> list[str]:
    """Every stable error code the service may answer with ``status``."""
    codes = {cls.code for cls in _all_errors() if status_for_class(cls) == status}
    codes.update(_FRAMEWORK_CODES.get(status, ()))
    return sorted(codes)


def errors_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring each status with the error codes it may carry."""
    return {
        status: {"model": ErrorOut, "description": "error codes: " + ", ".join(codes_for(status))}
        for status in statuses
    }


# Every status a /v1 route may answer besides its success, each with its codes: routers pass it as ``responses``.
ERROR_RESPONSES = errors_for(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)


def status_for(exc: AutoquoteError) -> int:
    """The HTTP status of one of our errors."""
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    status: int,
    code: str,
    message: str,
    metrics: Metrics | None,
    headers: dict[str, str] | None = None,
    allowed: list[str] | None = None,
) -> JSONResponse:
    """The JSON error body every refusal uses; a refused transition also lists the actions allowed now."""
    if metrics is not None:
        metrics.errors.labels(code).inc()
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429:
        headers["Retry-After"] = "2"
    error: dict[str, object] = {"code": code, "message": message}
    if allowed is not None:
        error["allowed"] = allowed
    return JSONResponse({"error": error}, status_code=status, headers=headers)


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
                await error_response(status_for(exc), exc.code, exc.message, self.metrics)(scope, receive, send)
        except Exception as exc:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            if started:
                return
            response = error_response(
                500,
                "internal_error",
                "something went wrong on our side; try again, the request was not applied",
                self.metrics,
            )
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Register the handlers on ``app``."""

    async def autoquote_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AutoquoteError)
        status = status_for(exc)
        if status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        allowed = exc.allowed if isinstance(exc, TransitionNotAllowed) else None
        return error_response(status, exc.code, exc.message, metrics, allowed=allowed)

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(p) for p in first.get("loc", ()))
        if "Expected UploadFile" in str(first.get("msg")):
            return error_response(
                422,
                "photo_not_a_file",
                f"{where} must be a file: send each photo as a multipart file part with a filename "
                '(Content-Disposition: form-data; name="files"; filename="photo.jpg")',
                metrics,
            )
        return error_response(
            422, "request_invalid", f"{first.get('msg')} at {where}; fix the request", metrics
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # FastAPI wraps errors raised while parsing a body (e.g. our byte limit) in a 400; answer for ours.
        if isinstance(exc.__cause__, AutoquoteError):
            return await autoquote_error(request, exc.__cause__)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        headers = dict(exc.headers or {})
        message = str(exc.detail)
        if exc.status_code == 405:
            methods = allowed_methods(request)
            headers["Allow"] = ", ".join(methods)
            message = f"{request.method} is not allowed here; use {' or '.join(methods)}"
        elif exc.status_code == 404:
            message = f"nothing at {request.url.path}; see /docs for the API"
        return error_response(exc.status_code, code, message, metrics, headers)

    app.add_exception_handler(AutoquoteError, autoquote_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_middleware(CatchUnexpectedMiddleware, metrics=metrics)

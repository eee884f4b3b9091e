"""The body of every refusal, ``{"error": {"code", "message"}}``, and how routers document theirs in OpenAPI.

The message is in the caller's language (``Accept-Language``, negotiated as for the pages; ``Content-Language``
says which): English is the sentence written where the error is raised, which names what was wrong; another
language says the sentence its catalogue holds for the code (``api_error.<code>`` in
``static/locales/<locale>.json``, whose English sentences are the meanings of the table in docs/api.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from serve.http.locale import DEFAULT_LOCALE, Locale, messages, negotiate
from serve.http.metrics import Metrics
from serve.http.status import codes_for


class ErrorBody(BaseModel):
    code: str = Field(description="stable, machine-readable error code")
    message: str = Field(description="what went wrong and what to do")
    allowed: list[str] | None = Field(
        default=None, description="claim_state_conflict only: the actions this key may take on the claim now"
    )


class ErrorOut(BaseModel):
    error: ErrorBody


def errors_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring each status with the error codes it may carry."""
    return {
        status: {"model": ErrorOut, "description": "error codes: " + ", ".join(codes_for(status))}
        for status in statuses
    }


# Every status a /v1 route may answer besides its success, each with its codes: routers pass it as ``responses``.
ERROR_RESPONSES = errors_for(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)


CATALOGUE_PREFIX = "api_error."


def localised(code: str, message: str, locale: Locale) -> str:
    """An error's message in ``locale``: as raised in English, else the catalogue's sentence for ``code``."""
    if locale == DEFAULT_LOCALE:
        return message
    return messages(locale).get(CATALOGUE_PREFIX + code, message)


def locale_of_scope(scope: Mapping[str, Any]) -> Locale:
    """The caller's locale from the raw ASGI headers (for refusals made before a request object exists)."""
    for name, value in scope.get("headers") or []:
        if name == b"accept-language":
            return negotiate(value.decode("latin-1"))
    return DEFAULT_LOCALE


def error_headers(status: int, locale: Locale, retry_after: int | None = None) -> dict[str, str]:
    """The headers every refusal carries: its language, and what a 401 or 429 asks of the caller."""
    headers = {"Content-Language": locale, "Vary": "Accept-Language"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429:
        headers["Retry-After"] = str(retry_after if retry_after is not None else 2)
    return headers


def error_response(
    status: int,
    code: str,
    message: str,
    metrics: Metrics | None,
    headers: dict[str, str] | None = None,
    allowed: list[str] | None = None,
    locale: Locale = DEFAULT_LOCALE,
    retry_after: int | None = None,
) -> JSONResponse:
    """The JSON error body every refusal uses, in ``locale``; a refused transition also lists the actions
    allowed now."""
    if metrics is not None:
        metrics.errors.labels(code).inc()
    headers = {**(headers or {}), **error_headers(status, locale, retry_after)}
    error: dict[str, object] = {"code": code, "message": localised(code, message, locale)}
    if allowed is not None:
        error["allowed"] = allowed
    return JSONResponse({"error": error}, status_code=status, headers=headers)

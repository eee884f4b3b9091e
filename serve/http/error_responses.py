"""The body of every refusal, ``{"error": {"code", "message"}}``, and how routers document theirs in OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

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

"""Which HTTP status each error is answered with: the one table, and the codes each status may carry."""

from __future__ import annotations

from model.errors import (
    AutoquoteError,
    ConfigError,
    ImageTooLarge,
    ImageTooManyPixels,
    InputError,
    ModelError,
    UnsupportedImageType,
)
from serve.errors import (
    AccessError,
    AuthenticationRequired,
    AuthThrottled,
    BadRequest,
    ConflictError,
    DecoderBusy,
    InvalidApiKey,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    RequestTooLarge,
    RequestTooManyPixels,
    StorageUnavailable,
)

# First match wins: specific classes before their parents.
STATUS_BY_ERROR: tuple[tuple[type[AutoquoteError], int], ...] = (
    (AuthenticationRequired, 401),
    (InvalidApiKey, 401),
    (AuthThrottled, 429),
    (PermissionDenied, 403),
    (AccessError, 403),
    (NotFound, 404),
    (MethodNotAllowed, 405),
    (BadRequest, 400),
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
# The code of a refusal the framework makes itself (no route, wrong method, a body it cannot parse).
CODE_OF_HTTP_STATUS = {
    404: NotFound.code,
    405: MethodNotAllowed.code,
    400: BadRequest.code,
    413: RequestTooLarge.code,
}


def all_errors(cls: type[AutoquoteError] = AutoquoteError) -> list[type[AutoquoteError]]:
    """``cls`` and every class below it in the exception tree, parents first.

    Errors defined by the training code (``training.*``) are left out: its CLI prints them, the service never
    answers with them, and whether they exist here would depend on what a process happened to import."""
    out = [cls]
    for sub in cls.__subclasses__():
        if sub.__module__.split(".")[0] != "training":
            out.extend(all_errors(sub))
    return out


def status_for_class(cls: type[AutoquoteError]) -> int:
    """The HTTP status every error of class ``cls`` is answered with."""
    for known, status in STATUS_BY_ERROR:
        if issubclass(cls, known):
            return status
    return 500


def status_for(exc: AutoquoteError) -> int:
    """The HTTP status of one of our errors."""
    return status_for_class(type(exc))


def codes_for(status: int) -> list[str]:
    """Every stable error code the service may answer with ``status``."""
    return sorted({cls.code for cls in all_errors() if status_for_class(cls) == status})

"""The service's branches of the exception tree drawn in ``model/errors.py``, each with its stable code.

Raising one of these is how any part of the service refuses something; which HTTP status it becomes is
decided in one table, ``serve/http/status.py``, and the body it is answered with in
``serve/http/error_responses.py``.

    AutoquoteError                          (model/errors.py)
    ├── InputError                          (model/errors.py) the caller sent something we cannot use
    │   ├── TooManyPhotos                   too_many_photos           photos per claim, or per one-shot quote
    │   ├── RequestTooLarge                 request_too_large         bytes per request
    │   ├── RequestTooManyPixels            request_too_many_pixels   photos of one request decode too large
    │   ├── NulCharacter                    text_has_nul              a NUL in a URL, query or header
    │   ├── NoPhotos                        claim_has_no_photos
    │   ├── InvalidIdempotencyKey           idempotency_key_invalid
    │   ├── InvalidBox                      box_invalid               a corrected box outside its photo, or empty
    │   ├── InvalidModelChoice              model_choice_invalid      a model to promote or shadow outside the
    │   │                                                             model store, without a valid manifest, or
    │   │                                                             failing to load
    │   ├── ApprovalCommentRequired         approval_comment_required an amount far from the model's quote
    │   └── LineTotalMismatch               line_total_mismatch       a line's total is not the sum of its costs
    ├── AccessError                         access_denied             who is asking may not do this
    │   ├── AuthenticationRequired          auth_required             no key given
    │   ├── InvalidApiKey                   auth_invalid              unknown or revoked key
    │   ├── PermissionDenied                forbidden                 the key's role may not do this
    │   │   └── OwnClaimDecision            own_claim_decision_forbidden
    │   └── AuthThrottled                   auth_throttled            too many wrong keys from this client
    ├── MethodNotAllowed                    method_not_allowed        the path exists, the method does not
    ├── NotFound                            not_found                 also a path no route answers
    │   ├── ClaimNotFound                   claim_not_found           also another customer's claim
    │   ├── PhotoNotFound                   photo_not_found           no such photo in this claim
    │   └── ApiKeyNotFound                  api_key_not_found
    ├── ConflictError                       conflict
    │   ├── IdempotencyConflict             idempotency_conflict      same key, different body
    │   └── ClaimStateConflict              claim_state_conflict      e.g. photos added to a closed claim
    │       ├── TransitionNotAllowed        claim_state_conflict      with ``allowed``: the actions allowed now
    │       └── PhotoAlreadyInClaim         photo_already_in_claim    a photo withdrawn or still in this claim
    ├── AutonomyNotProven                   autonomy_not_proven       (a ConflictError) confirming an unproven step
    ├── AutonomyStepNotFound                autonomy_step_not_found   (a NotFound) no such threshold step
    ├── DecoderBusy                         decoder_busy              every decode slot stayed busy; retry
    └── StorageUnavailable                  storage_unavailable       the photo store refused or did not answer
"""

from __future__ import annotations

from model.errors import AutoquoteError, InputError

ECHO_LIMIT = 64


def cut(value: object, limit: int = ECHO_LIMIT) -> str:
    """A value the caller sent, cut to ``limit`` characters with an ellipsis, to echo in an error message."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """A value the caller sent, quoted and cut (:func:`cut`) for an error message."""
    return repr(cut(value, limit))


class TooManyPhotos(InputError):
    code = "too_many_photos"


class RequestTooLarge(InputError):
    code = "request_too_large"


class RequestTooManyPixels(InputError):
    code = "request_too_many_pixels"


class NulCharacter(InputError):
    code = "text_has_nul"


class NoPhotos(InputError):
    code = "claim_has_no_photos"


class InvalidIdempotencyKey(InputError):
    code = "idempotency_key_invalid"


class InvalidBox(InputError):
    code = "box_invalid"


class LineTotalMismatch(InputError):
    code = "line_total_mismatch"


class InvalidModelChoice(InputError):
    code = "model_choice_invalid"


class ApprovalCommentRequired(InputError):
    code = "approval_comment_required"


class RequestInvalid(InputError):
    code = "request_invalid"


class PhotoNotAFile(RequestInvalid):
    code = "photo_not_a_file"


class BadRequest(InputError):
    code = "bad_request"


class AccessError(AutoquoteError):
    code = "access_denied"


class AuthenticationRequired(AccessError):
    code = "auth_required"


class InvalidApiKey(AccessError):
    code = "auth_invalid"


class PermissionDenied(AccessError):
    code = "forbidden"


class OwnClaimDecision(PermissionDenied):
    code = "own_claim_decision_forbidden"


class AuthThrottled(AccessError):
    """Too many wrong keys from one client; ``retry_after`` says in how many seconds it may try again."""

    code = "auth_throttled"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MethodNotAllowed(AutoquoteError):
    code = "method_not_allowed"


class NotFound(AutoquoteError):
    code = "not_found"


class ClaimNotFound(NotFound):
    code = "claim_not_found"


class PhotoNotFound(NotFound):
    code = "photo_not_found"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


class ConflictError(AutoquoteError):
    code = "conflict"


class IdempotencyConflict(ConflictError):
    code = "idempotency_conflict"


class ClaimStateConflict(ConflictError):
    code = "claim_state_conflict"


class TransitionNotAllowed(ClaimStateConflict):
    """A claim cannot make this transition now; ``allowed`` lists what the caller may do instead."""

    def __init__(self, message: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class PhotoAlreadyInClaim(ClaimStateConflict):
    code = "photo_already_in_claim"


class AutonomyNotProven(ConflictError):
    code = "autonomy_not_proven"


class AutonomyStepNotFound(NotFound):
    code = "autonomy_step_not_found"


class DecoderBusy(AutoquoteError):
    code = "decoder_busy"


class StorageUnavailable(AutoquoteError):
    code = "storage_unavailable"

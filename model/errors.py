"""The one exception tree of autoquote.

Every error a user can cause carries a stable ``code`` and a sentence that says what to do.
HTTP status codes are chosen only by the service's exception handlers, never here.

    AutoquoteError
    ├── InputError                      the caller sent something we cannot use
    │   ├── ImageError
    │   │   ├── EmptyImage              image_empty
    │   │   ├── UnsupportedImageType    image_type_unsupported
    │   │   ├── UnreadableImage         image_unreadable
    │   │   ├── ImageTooLarge           image_too_large          (bytes)
    │   │   └── ImageTooManyPixels      image_too_many_pixels    (decompression bombs)
    │   ├── FindingError
    │   │   ├── UnknownPart             unknown_part
    │   │   ├── UnknownSeverity         unknown_severity
    │   │   ├── UnknownSegment          unknown_segment
    │   │   └── InvalidArea             invalid_area
    │   ├── UnknownRegion               unknown_region
    │   ├── UnknownCurrency             unknown_currency
    │   └── UnknownJurisdiction         unknown_jurisdiction
    ├── ConfigError                     a catalogue, policy or config file is invalid (names file and line)
    │   ├── CatalogueError
    │   ├── PolicyError
    │   └── LedgerError                 an insurer's claims ledger has rows we cannot use
    └── ModelError                      a shipped or given model cannot be used
        ├── ManifestError               missing or invalid manifest
        ├── ChecksumMismatch            the ONNX file is not the one its manifest describes
        └── InferenceError              onnxruntime failed on an input

    Added for the service (subclasses of the branches above, or new branches of AutoquoteError):

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

    Added for review and the learning loop:

    InputError
    ├── InvalidBox                      box_invalid              (a corrected box outside its photo, or empty)
    └── InvalidModelChoice              model_choice_invalid     (a promoted/shadow model outside the registry,
                                                                  without a valid manifest, or failing to load)
    NotFound
    └── PhotoNotFound                   photo_not_found          (no such photo in this claim)

    Added for several replicas:

    StorageUnavailable                  storage_unavailable      (the photo store refused or did not answer)

    Added for hostile input:

    InputError
    ├── NulCharacter                    text_has_nul             (a NUL in a URL, query or header)
    └── RequestTooManyPixels            request_too_many_pixels  (photos of one request decode too large)
    DecoderBusy                         decoder_busy             (every decode slot stayed busy; retry)
"""

from __future__ import annotations

from typing import ClassVar


class AutoquoteError(Exception):
    """Base of every error autoquote raises on purpose."""

    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(AutoquoteError):
    code = "invalid_input"


class ImageError(InputError):
    code = "image_invalid"


class EmptyImage(ImageError):
    code = "image_empty"


class UnsupportedImageType(ImageError):
    code = "image_type_unsupported"


class UnreadableImage(ImageError):
    code = "image_unreadable"


class ImageTooLarge(ImageError):
    code = "image_too_large"


class ImageTooManyPixels(ImageError):
    code = "image_too_many_pixels"


class FindingError(InputError):
    code = "invalid_finding"


class UnknownPart(FindingError):
    code = "unknown_part"


class UnknownSeverity(FindingError):
    code = "unknown_severity"


class UnknownSegment(FindingError):
    code = "unknown_segment"


class InvalidArea(FindingError):
    code = "invalid_area"


class UnknownRegion(InputError):
    code = "unknown_region"


class UnknownCurrency(InputError):
    code = "unknown_currency"


class UnknownJurisdiction(InputError):
    code = "unknown_jurisdiction"


class ConfigError(AutoquoteError):
    code = "config_invalid"


class CatalogueError(ConfigError):
    code = "catalogue_invalid"


class PolicyError(ConfigError):
    code = "policy_invalid"


class LedgerError(ConfigError):
    code = "ledger_invalid"


class ModelError(AutoquoteError):
    code = "model_unavailable"


class ManifestError(ModelError):
    code = "model_manifest_invalid"


class ChecksumMismatch(ModelError):
    code = "model_checksum_mismatch"


class InferenceError(ModelError):
    code = "model_inference_failed"


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

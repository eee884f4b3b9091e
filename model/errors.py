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
    │   ├── UnknownSide                 unknown_side             a declared part's side: front, rear, left, right
    │   ├── PartNotDeclared             part_not_declared        a photo tagged with a part the claim does not declare
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

    The service's own errors (authentication, idempotency, not found, conflicts, request limits, ...)
    extend this tree in ``serve/errors.py``.
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


class UnknownSide(InputError):
    code = "unknown_side"


class PartNotDeclared(InputError):
    code = "part_not_declared"


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

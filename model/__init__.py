"""autoquote's runtime: perception, pricing and decision on onnxruntime (never torch).

Public API::

    import model
    detector = model.load_detector()          # shipped damaged-part detector, or load_detector(path)
    detections = detector.detect(pil_image)   # [Detection(box=(x1, y1, x2, y2), label, score, class_id)]
    severity = model.load_severity()
    grade = severity.grade(pil_image)         # SeverityGrade(probabilities={"minor": .., ...})
    head = model.load("cost")                 # any kind in model.kinds.KINDS, by name
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.findings import (
    SEVERITY_LEVELS,
    ClaimContext,
    Detection,
    Finding,
    LineItem,
    PriceEstimate,
    SeverityGrade,
)

if TYPE_CHECKING:
    from model.detector import Detector
    from model.severity import SeverityModel

__all__ = [
    "SEVERITY_LEVELS",
    "ClaimContext",
    "Detection",
    "Finding",
    "LineItem",
    "PriceEstimate",
    "SeverityGrade",
    "load",
    "load_detector",
    "load_severity",
]


def load(kind: str, path: str | Path | None = None, *, threads: int | None = None) -> Any:
    """Load a model of ``kind`` (a name in :data:`model.kinds.KINDS`): the shipped one, or the file at ``path``."""
    from model.kinds import get_kind

    return get_kind(kind).load(path, threads=threads)


def load_detector(path: str | Path | None = None, *, threads: int | None = None) -> Detector:
    """Load the shipped damaged-part detector, or the ONNX file at ``path`` (its manifest beside it)."""
    detector: Detector = load("detector", path, threads=threads)
    return detector


def load_severity(path: str | Path | None = None, *, threads: int | None = None) -> SeverityModel:
    """Load the shipped severity classifier, or the ONNX file at ``path`` (its manifest beside it)."""
    severity: SeverityModel = load("severity", path, threads=threads)
    return severity

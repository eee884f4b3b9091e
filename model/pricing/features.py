"""The cost head's input: one claim as a fixed-length vector, shared by training and serving (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from model.findings import ClaimContext, Finding, PriceEstimate
from model.pricing.catalogue import Catalogue
from model.pricing.estimator import Claim, Estimator
from model.vocabulary import SEGMENTS

FEATURES_VERSION = "claim-features-v1"
_PER_PART = ("present", "p_minor", "p_moderate", "p_severe", "area", "replace", "log_item")


@dataclass(frozen=True)
class FeatureSpec:
    """Names and order of the features; stored in the head's manifest and checked at load."""

    version: str
    parts: tuple[str, ...]
    regions: tuple[str, ...]
    segments: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """One name per column, in order."""
        per_part = [f"{part}.{name}" for part in self.parts for name in _PER_PART]
        return [
            *per_part,
            *(f"segment.{s}" for s in self.segments),
            *(f"region.{r}" for r in self.regions),
            "n_parts",
            "log_estimate",
            "log_parts_cost",
            "log_labour_cost",
        ]

    @property
    def size(self) -> int:
        return len(self.names)

    def as_dict(self) -> dict[str, object]:
        """The spec as plain JSON values."""
        return {
            "version": self.version,
            "parts": list(self.parts),
            "regions": list(self.regions),
            "segments": list(self.segments),
            "size": self.size,
        }


def feature_spec(catalogue: Catalogue) -> FeatureSpec:
    """The feature layout a catalogue implies."""
    return FeatureSpec(FEATURES_VERSION, tuple(catalogue.parts), tuple(catalogue.regions), SEGMENTS)


def encode(claim: Claim, estimate: PriceEstimate, spec: FeatureSpec) -> npt.NDArray[np.float32]:
    """Encode a validated claim and its catalogue estimate as one float32 row."""
    per_part = np.zeros((len(spec.parts), len(_PER_PART)), dtype=np.float32)
    items = {item.part: item for item in estimate.line_items}
    for found in claim.parts:
        row = spec.parts.index(found.part)
        item = items[found.part]
        per_part[row] = (
            1.0,
            *found.severity,
            found.area_fraction,
            1.0 if item.operation == "replace" else 0.0,
            math.log1p(item.total),
        )
    segment = [1.0 if s == claim.segment else 0.0 for s in spec.segments]
    region = [1.0 if r == claim.region else 0.0 for r in spec.regions]
    parts_cost = sum(item.parts_cost for item in estimate.line_items)
    labour = estimate.total - parts_cost
    tail = [
        len(claim.parts) / len(spec.parts),
        math.log1p(estimate.total),
        math.log1p(parts_cost),
        math.log1p(max(labour, 0.0)),
    ]
    return np.concatenate([per_part.ravel(), np.asarray([*segment, *region, *tail], dtype=np.float32)])


def claim_features(
    estimator: Estimator, findings: Sequence[Finding], context: ClaimContext, spec: FeatureSpec
) -> tuple[npt.NDArray[np.float32], PriceEstimate]:
    """The feature row for a claim and the catalogue estimate it was built from."""
    claim = estimator.claim(findings, context)
    estimate = estimator.price_claim(claim)
    return encode(claim, estimate, spec), estimate

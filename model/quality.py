"""Is this photo good enough to price from? Brightness, sharpness (variance of a Laplacian) and size.

:class:`QualityThresholds` is the one declaration of the thresholds, their bounds and their defaults; a
deployment's settings read it rather than declaring them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, model_validator
from pydantic.dataclasses import dataclass as validated_dataclass

QualityIssueCode = Literal["too_dark", "too_bright", "too_blurry", "too_small"]

# Sharpness is measured on a copy of this long side, so the score does not depend on the upload's scale.
_MEASURE_SIDE = 512


@validated_dataclass(frozen=True)
class QualityThresholds:
    """Where a photo stops being usable; per-deployment configuration, checked when built."""

    min_brightness: float = Field(default=40.0, ge=0, le=255,
                                  description="darker photos (mean luma, 0-255) are refused")
    max_brightness: float = Field(default=245.0, ge=0, le=255,
                                  description="brighter photos (mean luma, 0-255) are refused")
    min_sharpness: float = Field(default=60.0, ge=0,
                                 description="blurrier photos (variance of the 4-neighbour Laplacian at a "
                                 f"{_MEASURE_SIDE}-pixel long side) are refused")
    min_side: int = Field(default=480, ge=0,
                          description="photos with a shorter short side (pixels of the original) are refused; "
                          "0 turns the check off")

    @model_validator(mode="after")
    def _brightness_range(self) -> QualityThresholds:
        if self.min_brightness >= self.max_brightness:
            raise ValueError(f"min_brightness {self.min_brightness} must be below max_brightness "
                             f"{self.max_brightness}")
        return self


@dataclass(frozen=True)
class QualityIssue:
    """One reason to retake a photo, with a sentence the customer can act on and the values it names."""

    code: QualityIssueCode
    message: str
    params: Mapping[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class QualityReport:
    """What was measured on a photo, and the issues that make it unusable (empty when fine)."""

    brightness: float
    sharpness: float
    short_side: int
    issues: tuple[QualityIssue, ...]

    @property
    def ok(self) -> bool:
        return not self.issues


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a 2-D array: low on blurred pictures."""
    g = grey.astype(np.float32)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def measure(image: Image.Image) -> tuple[float, float]:
    """Mean luma (0-255) and Laplacian variance of a picture at a fixed measuring scale."""
    grey = image.convert("L")
    if max(grey.size) > _MEASURE_SIDE:
        grey = grey.copy()
        grey.thumbnail((_MEASURE_SIDE, _MEASURE_SIDE), Image.Resampling.BILINEAR)
    arr = np.asarray(grey)
    return float(arr.mean()), laplacian_variance(arr)


def assess_quality(
    image: Image.Image, original_size: tuple[int, int] | None, thresholds: QualityThresholds
) -> QualityReport:
    """Check one photo against the thresholds; ``original_size`` is its size before draft decoding."""
    brightness, sharpness = measure(image)
    short_side = min(original_size) if original_size else min(image.size)
    issues: list[QualityIssue] = []
    if short_side < thresholds.min_side:
        issues.append(
            QualityIssue(
                "too_small",
                f"the photo is only {short_side} pixels on its short side (at least {thresholds.min_side} "
                "needed); take it with the phone's camera at its normal resolution",
                {"short_side": short_side, "min_side": thresholds.min_side},
            )
        )
    if brightness < thresholds.min_brightness:
        issues.append(
            QualityIssue(
                "too_dark",
                "the photo is too dark to see the damage; take it again in daylight or with more light",
            )
        )
    elif brightness > thresholds.max_brightness:
        issues.append(
            QualityIssue(
                "too_bright",
                "the photo is washed out; take it again out of direct sun or without the flash reflecting",
            )
        )
    if sharpness < thresholds.min_sharpness:
        issues.append(
            QualityIssue(
                "too_blurry",
                "the photo is blurred; hold the phone still, tap the damage to focus and take it again",
            )
        )
    return QualityReport(
        brightness=brightness, sharpness=sharpness, short_side=short_side, issues=tuple(issues)
    )

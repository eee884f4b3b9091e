"""A policy's pre-registered threshold path: the steps, strict to loose, along which autonomy may be earned.

Each step names the thresholds it changes from the policy's own; the rest stay as the policy has them. The
path is written into the policy file before any evidence is seen, so the order in which steps are tested
(``model.autonomy``: a looser step only once every stricter one is proven) cannot be chosen after the fact.
``check_path`` refuses a path whose steps are not ordered strict to loose threshold by threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

# The thresholds a step may change, and which way is stricter (True: a higher value settles fewer claims).
STRICTER_WHEN_HIGHER: dict[str, bool] = {
    "min_detection_score": True,
    "min_severity_confidence": True,
    "severe_probability": False,
    "max_relative_width": False,
    "small_claim_limit": False,
}
STEP_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,39}$"


class ThresholdStep(BaseModel):
    """One step of the path: a name and the thresholds it sets (unset ones are the policy's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=STEP_NAME_PATTERN)
    min_detection_score: float | None = Field(default=None, ge=0, le=1)
    min_severity_confidence: float | None = Field(default=None, ge=0, le=1)
    severe_probability: float | None = Field(default=None, gt=0, le=1)
    max_relative_width: float | None = Field(default=None, gt=0)
    small_claim_limit: float | None = Field(default=None, gt=0)

    def overrides(self) -> dict[str, float]:
        """The thresholds this step sets, by policy field name."""
        return {k: v for k in STRICTER_WHEN_HIGHER if (v := getattr(self, k)) is not None}


def check_path(steps: Sequence[ThresholdStep], base: Mapping[str, float]) -> None:
    """Raise ``ValueError`` (the policy's validation error) on repeated names or a path not strict to loose.

    A threshold a step leaves unset is the policy's own (``base``), and is compared as such.
    """
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"threshold_path step names must be unique, got {names}")
    for key, higher_is_stricter in STRICTER_WHEN_HIGHER.items():
        values = [(s.name, base[key] if (v := getattr(s, key)) is None else v) for s in steps]
        for (a, va), (b, vb) in zip(values, values[1:], strict=False):
            if (vb > va) if higher_is_stricter else (vb < va):
                raise ValueError(
                    f"threshold_path must go from strict to loose: step {b!r} has {key}={vb}, "
                    f"stricter than {va} in the step before it, {a!r}"
                )

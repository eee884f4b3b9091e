"""Settle, send to an adjuster, or ask for a retake: a pure function of the findings, the price and a policy.

Policies are versioned YAML per jurisdiction in ``model/policies/``; nothing here knows a number.

A policy written by ``autoquote-train calibrate`` carries a ``calibration`` block: the models its thresholds
were calibrated for, the error target and the bound proven on held-out photos. Such a policy settles only
claims assessed by exactly those models; with any other model in service (after a promotion, say) every
claim goes to an adjuster with ``policy_not_calibrated``, so a calibration never carries over silently.
A policy without the block has hand-set thresholds and states no error rate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model.errors import PolicyError, UnknownJurisdiction
from model.findings import Finding, PriceEstimate
from model.quality import QualityIssue
from model.vocabulary import JURISDICTION_PATTERN

Outcome = Literal["auto_settle", "human_review", "retake_photos"]
ReasonCode = Literal[
    "low_confidence",
    "over_limit",
    "severe_damage",
    "wide_interval",
    "no_damage_found",
    "poor_photo",
    "duplicate_photo",
    "model_unavailable",
    "pipeline_error",
    "retake_limit",
    "policy_not_calibrated",
    "adjuster_check",  # what a customer is told in place of a reason about other claims
]
POLICIES_DIR = Path(__file__).resolve().parent / "policies"
_NAME = re.compile(JURISDICTION_PATTERN)


class Calibration(BaseModel):
    """How a policy's thresholds were chosen: for which models, to what error target, with what evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # name@version of each model the thresholds hold for (detector, severity, pricer), as Pipeline.versions().
    models: dict[str, str] = Field(min_length=1)
    # False when no thresholds met the target on the calibration photos: the policy then settles nothing.
    proven: bool
    target: float = Field(gt=0, lt=1)  # largest acceptable share of settled photos with wrong priced parts
    confidence: float = Field(gt=0, lt=1)  # one-sided confidence of the bound
    error_bound: float | None = Field(default=None, ge=0, le=1)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    settle_share: float = Field(ge=0, le=1)
    n_photos: int = Field(ge=0)
    n_settled: int = Field(ge=0)
    n_wrong: int = Field(ge=0)
    split: str
    method: str
    wrong_means: str
    calibrated_at: str
    command: str = ""
    dataset_sha256: str | None = None


class Policy(BaseModel):
    """One jurisdiction's rules for settling without a human."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    jurisdiction: str
    version: str
    region: str
    currency: str
    description: str = ""
    small_claim_limit: float = Field(gt=0)
    min_detection_score: float = Field(ge=0, le=1)
    min_severity_confidence: float = Field(ge=0, le=1)
    severe_probability: float = Field(gt=0, le=1)
    max_relative_width: float = Field(gt=0)
    no_damage_action: Literal["retake_photos", "human_review"] = "retake_photos"
    # Retake rounds a customer gets before the claim goes to an adjuster anyway: a claim never loops.
    max_retake_rounds: int = Field(default=2, ge=0, le=10)
    # An approved amount more than this many times above or below the model's quote needs a comment.
    approval_comment_ratio: float = Field(default=1.5, gt=1)
    calibration: Calibration | None = None

    @property
    def label(self) -> str:
        return f"{self.jurisdiction}@{self.version}"


@dataclass(frozen=True)
class Reason:
    """Why a claim was not settled alone: a stable code, a sentence, and the values the sentence names.

    ``params`` let the service say the same sentence in the customer's language.
    """

    code: ReasonCode
    message: str
    photo_id: str | None = None
    params: Mapping[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True)
class PhotoFlags:
    """What intake and the quality checks found about one photo."""

    photo_id: str
    quality_issues: tuple[QualityIssue, ...] = ()
    duplicate_of_claim: str | None = None


@dataclass(frozen=True)
class DecisionInput:
    """Everything the decision looks at; ``failures`` carry model_unavailable / pipeline_error reasons."""

    findings: tuple[Finding, ...]
    estimate: PriceEstimate | None
    photos: tuple[PhotoFlags, ...] = ()
    failures: tuple[Reason, ...] = field(default_factory=tuple)
    # name@version of the models that produced the findings; a calibrated policy settles only for its own.
    models: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome, every reason raised (also those that did not decide it) and the policy used."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    policy: str


def available_policies(directory: Path = POLICIES_DIR) -> list[str]:
    """Jurisdictions that have a policy file."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_policy(jurisdiction: str, directory: Path = POLICIES_DIR) -> Policy:
    """Read and validate the policy for ``jurisdiction``; refuse unknown names and invalid files."""
    known = available_policies(directory)
    if not _NAME.match(jurisdiction) or jurisdiction not in known:
        raise UnknownJurisdiction(
            f"no decision policy for jurisdiction {jurisdiction!r}; "
            f"choose one of {', '.join(known) or 'none'}"
        )
    path = directory / f"{jurisdiction}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"policy {path.name}{where} is not valid YAML: {exc}") from exc
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise PolicyError(f"policy {path.name}: {err['msg']} at {'.'.join(map(str, err['loc']))}") from exc
    if policy.jurisdiction != jurisdiction:
        raise PolicyError(
            f"policy {path.name} declares jurisdiction {policy.jurisdiction!r}; rename one of them"
        )
    return policy


def _finding_reasons(findings: Sequence[Finding], policy: Policy) -> list[Reason]:
    reasons: list[Reason] = []
    for f in findings:
        confidence = max(f.severity.values()) if f.severity else 0.0
        if f.score < policy.min_detection_score or confidence < policy.min_severity_confidence:
            reasons.append(
                Reason(
                    "low_confidence",
                    f"the {f.part} damage was found with low confidence (detector {f.score:.2f}, "
                    f"severity {confidence:.2f}); an adjuster will check it",
                    f.photo_id,
                    {"part": f.part, "score": round(f.score, 2), "confidence": round(confidence, 2)},
                )
            )
        severe = f.severity.get("severe", 0.0)
        if severe >= policy.severe_probability:
            reasons.append(
                Reason(
                    "severe_damage",
                    f"the {f.part} damage may be severe (p={severe:.2f}); hidden damage is likely, "
                    "so an adjuster will review it",
                    f.photo_id,
                    {"part": f.part, "probability": round(severe, 2)},
                )
            )
    return reasons


def _estimate_reasons(estimate: PriceEstimate, policy: Policy) -> list[Reason]:
    reasons: list[Reason] = []
    if estimate.currency != policy.currency:
        reasons.append(
            Reason(
                "pipeline_error",
                f"the price is in {estimate.currency} but the {policy.jurisdiction} policy counts in "
                f"{policy.currency}; an adjuster will price it",
            )
        )
        return reasons
    if estimate.total > policy.small_claim_limit:
        reasons.append(
            Reason(
                "over_limit",
                f"the estimate of {estimate.total:,.0f} {estimate.currency} is over the small-claim limit of "
                f"{policy.small_claim_limit:,.0f} {policy.currency}; an adjuster will review it",
                params={"total": estimate.total, "limit": policy.small_claim_limit, "currency": policy.currency},
            )
        )
    if estimate.relative_width > policy.max_relative_width:
        reasons.append(
            Reason(
                "wide_interval",
                f"the price is uncertain ({estimate.low:,.0f}-{estimate.high:,.0f} {estimate.currency}); "
                "an adjuster will confirm it",
                params={"low": estimate.low, "high": estimate.high, "currency": estimate.currency},
            )
        )
    return reasons


def calibration_reasons(policy: Policy, models: Mapping[str, str] | None) -> list[Reason]:
    """``policy_not_calibrated`` when a calibrated policy meets models it was not calibrated for, or proved nothing."""
    cal = policy.calibration
    if cal is None:
        return []
    if not cal.proven:
        return [
            Reason(
                "policy_not_calibrated",
                f"the {policy.label} policy could not show an error under {cal.target:.0%} for the models in "
                "service, so it settles nothing alone; an adjuster will assess the claim",
            )
        ]
    service = models or {}
    stale = [f"{kind} {want} (in service: {service.get(kind, 'unknown')})"
             for kind, want in sorted(cal.models.items()) if service.get(kind) != want]
    if not stale:
        return []
    return [
        Reason(
            "policy_not_calibrated",
            f"the {policy.label} policy was calibrated for {'; '.join(stale)}; an adjuster will assess the claim "
            "until the policy is recalibrated for the models in service (autoquote-train calibrate)",
        )
    ]


def decide(inp: DecisionInput, policy: Policy) -> Decision:
    """Apply ``policy``: failures go to a human, poor photos to a retake, any other flag to a human."""
    reasons: list[Reason] = list(inp.failures)
    reasons.extend(calibration_reasons(policy, inp.models))
    poor: list[Reason] = []
    for photo in inp.photos:
        if photo.quality_issues:
            said = "; ".join(issue.message for issue in photo.quality_issues)
            params: dict[str, str | int | float] = {"issues": ",".join(i.code for i in photo.quality_issues)}
            for issue in photo.quality_issues:
                params.update(issue.params)
            poor.append(Reason("poor_photo", f"please retake this photo: {said}", photo.photo_id, params))
        if photo.duplicate_of_claim is not None:
            reasons.append(
                Reason(
                    "duplicate_photo",
                    "this photo, or a near-identical one, was already sent with another claim; "
                    "an adjuster will check it",
                    photo.photo_id,
                )
            )
    reasons.extend(poor)
    reasons.extend(_finding_reasons(inp.findings, policy))
    if inp.estimate is not None:
        reasons.extend(_estimate_reasons(inp.estimate, policy))
    usable = len(inp.photos) - len({r.photo_id for r in poor})
    if not inp.findings and not inp.failures and (usable > 0 or not inp.photos):
        reasons.append(
            Reason(
                "no_damage_found",
                "no damage was found on the photos; take a closer photo of the damaged part",
            )
        )
    codes = {r.code for r in reasons}
    outcome: Outcome
    if codes & {"model_unavailable", "pipeline_error", "policy_not_calibrated"}:
        outcome = "human_review"
    elif poor:
        outcome = "retake_photos"
    elif codes - {"no_damage_found"}:
        outcome = "human_review"
    elif "no_damage_found" in codes:
        outcome = policy.no_damage_action
    elif inp.estimate is None:
        outcome = "human_review"
    else:
        outcome = "auto_settle"
    return Decision(outcome=outcome, reasons=tuple(reasons), policy=policy.label)

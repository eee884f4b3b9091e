"""Settle, send to an adjuster, or ask for a retake: a pure function of the findings, the price and a policy.

Policies are versioned YAML per jurisdiction in ``model/policies/``; nothing here knows a number.

A policy written by ``autoquote-train calibrate`` carries a ``calibration`` block: the models its thresholds
were calibrated for, the error target and the bound proven on held-out photos. Such a policy settles only
claims assessed by exactly those models; with any other model in service (after a promotion, say) every
claim goes to an adjuster with ``policy_not_calibrated``, so a calibration never carries over silently.
A policy without the block has hand-set thresholds and states no error rate.

A claim that declares its damaged parts (``model.declared``) is judged on what the photos confirm of them:
it settles alone only when every declared part is confirmed, nothing undeclared is found and every other
guard passes; the findings judged and priced are those that confirm a declared part. A claim without
declarations is judged on every finding.

How the outcome is chosen, first match wins (``outcome_for``):

1. a failure (``model_unavailable``, ``pipeline_error``): ``human_review``;
2. a reason a retake can fix (``poor_photo``, ``declared_not_found``, and ``no_damage_found`` where the policy
   answers it with a retake) and no reason in ``NEEDS_HUMAN``: ``retake_photos``, whatever the calibration
   state and the other flags, which are judged again on the new photos. Each such reason names the photo
   (``photo_id``) or the part (``params``) to retake. ``NEEDS_HUMAN`` holds what new photos cannot change and
   a person must see anyway: ``duplicate_photo`` (a photo of another claim) and ``undeclared_damage`` (the
   customer and an adjuster decide whether to add the part);
3. any other reason (``policy_not_calibrated`` included): ``human_review``;
4. no damage found: the policy's ``no_damage_action``;
5. otherwise ``auto_settle`` (``human_review`` when there is no price).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from model.declared import DeclaredPart, Verification, verify
from model.errors import PolicyError, UnknownJurisdiction
from model.findings import Finding, PriceEstimate
from model.quality import QualityIssue
from model.threshold_path import STRICTER_WHEN_HIGHER, ThresholdStep, check_path
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
    "declared_not_found",
    "undeclared_damage",
    "adjuster_check",  # what a customer is told in place of a reason about other claims
]
FAILURES: frozenset[ReasonCode] = frozenset({"model_unavailable", "pipeline_error"})
# Reasons new or closer photos can clear (no_damage_found too, where the policy answers it with a retake).
RETAKE_FIXES: frozenset[ReasonCode] = frozenset({"poor_photo", "declared_not_found"})
# Reasons no retake can clear and a person must see: they outrank a retake.
NEEDS_HUMAN: frozenset[ReasonCode] = frozenset({"duplicate_photo", "undeclared_damage"})
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
    # A finding counts only when the part verifier (model/verifier.py) gives its part at least this
    # probability; none: the verifier is not consulted.
    min_verifier_probability: float | None = Field(default=None, ge=0, le=1)
    calibration: Calibration | None = None
    # Autonomy earned from adjusters' decisions (model.autonomy). A proposal is wrong when its parts differ from
    # the adjuster's or its amount is off by more than the larger of ratio * final and amount (policy currency).
    grade_tolerance_ratio: float = Field(default=0.10, ge=0, lt=1)
    grade_tolerance_amount: float = Field(default=0.0, ge=0)
    blind_review_rate: float = Field(default=0.5, ge=0, le=1)  # reviews shown without the model's findings
    audit_rate: float = Field(default=0.1, gt=0, le=1)  # would-settle claims still reviewed once autonomous
    autonomy: Literal["manual", "automatic"] = "manual"  # manual: an admin confirms each switch-on
    autonomy_target: float = Field(default=0.05, gt=0, lt=0.5)  # largest acceptable wrong rate
    autonomy_confidence: float = Field(default=0.95, ge=0.5, lt=1)
    threshold_path: tuple[ThresholdStep, ...] = ()  # strict to loose, fixed before any evidence
    partial_release: bool = False  # release the confident line items of a claim once that too is proven

    @model_validator(mode="after")
    def _path_goes_strict_to_loose(self) -> Policy:
        check_path(self.threshold_path, {k: float(getattr(self, k)) for k in STRICTER_WHEN_HIGHER})
        return self

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
    part: DeclaredPart | None = None  # the declared part this photo is a close-up of; None: a wide shot


@dataclass(frozen=True)
class DecisionInput:
    """Everything the decision looks at; ``failures`` carry model_unavailable / pipeline_error reasons."""

    findings: tuple[Finding, ...]
    estimate: PriceEstimate | None
    photos: tuple[PhotoFlags, ...] = ()
    failures: tuple[Reason, ...] = field(default_factory=tuple)
    # name@version of the models that produced the findings; a calibrated policy settles only for its own.
    models: Mapping[str, str] | None = None
    # The parts the customer declared damaged; empty: the claim is judged on every finding, as before.
    declared: tuple[DeclaredPart, ...] = ()

    def verification(self, policy: Policy) -> Verification | None:
        """Declared against found at the policy's detection threshold; None without declarations."""
        if not self.declared:
            return None
        tags = {p.photo_id: p.part for p in self.photos}
        return verify(self.declared, self.findings, tags, policy.min_detection_score,
                      policy.min_verifier_probability)


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
    wanted = policy.min_verifier_probability
    for f in findings:
        confidence = max(f.severity.values()) if f.severity else 0.0
        if wanted is not None and f.agreement is None:
            reasons.append(
                Reason(
                    "model_unavailable",
                    f"the part verifier did not check the {f.part} damage; an adjuster will assess the claim",
                    f.photo_id,
                    {"stage": "part verifier"},
                )
            )
        elif wanted is not None and f.agreement is not None and f.agreement < wanted:
            reasons.append(
                Reason(
                    "low_confidence",
                    f"the {f.part} damage was not confirmed by the second check (agreement {f.agreement:.2f}); "
                    "an adjuster will check it",
                    f.photo_id,
                    {"part": f.part, "score": round(f.score, 2), "confidence": round(confidence, 2),
                     "agreement": round(f.agreement, 2)},
                )
            )
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


def declared_reasons(verification: Verification, estimate: PriceEstimate | None) -> list[Reason]:
    """``declared_not_found`` per unconfirmed part, ``undeclared_damage`` per undeclared part, and a price guard."""
    reasons: list[Reason] = []
    for check in verification.not_confirmed:
        d = check.declared
        reasons.append(
            Reason(
                "declared_not_found",
                f"the damage you declared on the {d.label} could not be confirmed on the photos; "
                f"please take a close-up photo of the {d.label}",
                check.photo_id,
                {"part": d.part, "side": d.side or ""},
            )
        )
    for part in verification.undeclared_parts:
        best = max((f for f in verification.undeclared if f.part == part), key=lambda f: f.score)
        reasons.append(
            Reason(
                "undeclared_damage",
                f"damage was also found on the {part}, which the claim does not declare: should it be added? "
                "It is not priced unless it is; an adjuster will check it",
                best.photo_id,
                {"part": part},
            )
        )
    if estimate is not None:
        confirmed = verification.confirmed_parts
        unconfirmed = sorted({i.part for i in estimate.line_items if i.part.casefold() not in confirmed})
        if unconfirmed:  # the pipeline prices confirmed parts only; a caller that did not must not settle
            reasons.append(
                Reason(
                    "pipeline_error",
                    f"the price covers {', '.join(unconfirmed)}, which the photos did not confirm; "
                    "an adjuster will price the claim",
                )
            )
    return reasons


def decide(inp: DecisionInput, policy: Policy) -> Decision:
    """Apply ``policy`` to one claim: every reason raised, and the outcome ``outcome_for`` gives them."""
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
    verification = inp.verification(policy)
    judged = inp.findings
    if verification is not None:
        reasons.extend(declared_reasons(verification, inp.estimate))
        judged = verification.priced
    reasons.extend(_finding_reasons(judged, policy))
    if inp.estimate is not None:
        reasons.extend(_estimate_reasons(inp.estimate, policy))
    usable = len(inp.photos) - len({r.photo_id for r in poor})
    if verification is None and not inp.findings and not inp.failures and (usable > 0 or not inp.photos):
        reasons.append(
            Reason(
                "no_damage_found",
                "no damage was found on the photos; take a closer photo of the damaged part",
            )
        )
    outcome = outcome_for(reasons, policy, inp.estimate is not None)
    return Decision(outcome=outcome, reasons=tuple(reasons), policy=policy.label)


def outcome_for(reasons: Sequence[Reason], policy: Policy, priced: bool) -> Outcome:
    """The outcome the reasons give under ``policy`` (the order is the module docstring's)."""
    codes = {r.code for r in reasons}
    fixes = RETAKE_FIXES | ({"no_damage_found"} if policy.no_damage_action == "retake_photos" else set())
    if codes & FAILURES:
        return "human_review"
    if codes & fixes and not codes & NEEDS_HUMAN:
        return "retake_photos"
    if codes - {"no_damage_found"}:
        return "human_review"
    if "no_damage_found" in codes:
        return policy.no_damage_action
    return "auto_settle" if priced else "human_review"

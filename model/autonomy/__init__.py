"""Auto-settlement earned from adjusters' decisions: grading, shadow proposals, anytime-valid bounds, audits.

Why a claim was or was not settled alone, and what it would take to settle more:

* A policy names a threshold path, strict to loose, before any evidence. Every quote records, per step,
  whether that step would have settled the claim (``shadow_steps``); every claim still goes to an adjuster.
* Each review grades the model's proposal against the adjuster's decision (``grade``): wrong when the parts
  differ or the amount is off by more than the policy's tolerance. A random share of reviews is blind (the
  adjuster does not see the model's answer); only those count, so agreement cannot be flattered by anchoring.
* ``evaluate_path`` turns the graded claims into a bound on each step's wrong rate that stays valid however
  often it is read. A step switches on when that bound is at or below the target (5 % at 95 %) and every
  stricter step is on; with no error that takes 63 counted reviews of claims the step would settle.
* A claim is settled alone only when an autonomous step would have settled it and its audit draw did not
  send it to an adjuster (``settle_alone``); otherwise the policy's own reasons stand.
* Audits keep the test running; when they show the rate above the target the step is revoked at once.
* To settle more: more blind reviews of claims a step would settle (``StepStatus.more_needed`` says how
  many at the current error rate), fewer wrong proposals (better models), or a path whose next step settles
  more claims. The lab calibration (``autoquote-train calibrate``) is reported beside and never switches
  autonomy on.
"""

from model.autonomy.bounds import lower_bound, more_needed, upper_bound
from model.autonomy.draws import Draw, audit_draw, blind_draw
from model.autonomy.grading import AdjusterDecision, Grading, Proposal, grade, tolerance
from model.autonomy.path import GradedClaim, PathStatus, StepState, StepStatus, evaluate_path
from model.autonomy.shadow import (
    AutonomyVerdict,
    PartialRelease,
    StepShadow,
    partial_evidence,
    settle_alone,
    shadow_steps,
    split_claim,
    step_policy,
)

__all__ = [
    "AdjusterDecision",
    "AutonomyVerdict",
    "Draw",
    "GradedClaim",
    "Grading",
    "PartialRelease",
    "PathStatus",
    "Proposal",
    "StepShadow",
    "StepState",
    "StepStatus",
    "audit_draw",
    "blind_draw",
    "evaluate_path",
    "grade",
    "partial_evidence",
    "lower_bound",
    "more_needed",
    "settle_alone",
    "shadow_steps",
    "split_claim",
    "step_policy",
    "tolerance",
    "upper_bound",
]

"""Auto-settlement earned from adjusters' decisions: grading, shadow proposals, anytime-valid bounds, audits.

Why a claim was or was not settled alone, and what it would take to settle more:

* A policy fixes a threshold path, strict to loose, before any evidence. Each quote records, per step,
  whether that step would have settled the claim (``shadow_steps``); meanwhile every claim goes to a person.
* Each review grades the model's proposal against the adjuster (``grade``): wrong when the parts differ or
  the amount is off by more than the tolerance. Only blind reviews count, so anchoring cannot flatter it.
* ``evaluate_path`` bounds each step's wrong rate in a way that stays valid however often it is read. A step
  switches on when its bound is at or below the target (5 % at 95 %) and every stricter step is on: 63
  counted reviews of claims it would settle, if none is wrong.
* A claim settles alone only when an autonomous step would settle it and its audit draw did not pick it
  (``settle_alone``); otherwise the policy's own reasons stand. Audits that show the rate above the target
  revoke the step at once.
* To settle more: more blind reviews (``StepStatus.more_needed`` says how many at the current error rate),
  fewer wrong proposals (better models), or a next step that is proven too. Lab calibration never switches
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

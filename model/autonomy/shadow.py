"""Shadow proposals: what each step of a policy's threshold path would have done with a claim.

At quote time the service records, per step, whether that step would have settled the claim alone
(``decide`` under the step's thresholds, the lab calibration's gate left out) and, where the policy allows
partial release, which of its line items the step would release. Nothing here settles anything:
``settle_alone`` turns the shadow, the path's status and the claim's draws into what the service does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from model.autonomy.draws import Draw
from model.autonomy.grading import AdjusterDecision, Proposal, grade
from model.autonomy.path import GradedClaim, StepState
from model.decision import DecisionInput, Policy, decide
from model.errors import PolicyError
from model.findings import LineItem

# The only reasons a partial release may leave to the adjuster: a doubt about a part, or the total's size.
PARTIAL_REASONS = frozenset({"low_confidence", "severe_damage", "over_limit"})
PER_PART_REASONS = frozenset({"low_confidence", "severe_damage"})


def step_policy(policy: Policy, name: str) -> Policy:
    """``policy`` with the thresholds of its path's step ``name`` and without the lab calibration's gate.

    Whether a step may settle alone is decided by the evidence from adjusters, never by calibration photos.
    """
    step = next((s for s in policy.threshold_path if s.name == name), None)
    if step is None:
        known = ", ".join(s.name for s in policy.threshold_path) or "none"
        raise PolicyError(f"the {policy.label} policy has no threshold step {name!r}; its steps: {known}")
    return Policy.model_validate({**policy.model_dump(), **step.overrides(), "calibration": None})


@dataclass(frozen=True)
class PartialRelease:
    """A claim split by one step: the confident line items (paid now) and the rest (for the adjuster)."""

    step: str
    released: tuple[LineItem, ...]
    held: tuple[LineItem, ...]
    currency: str

    @property
    def released_amount(self) -> float:
        return sum(i.total for i in self.released)

    @property
    def held_amount(self) -> float:
        return sum(i.total for i in self.held)

    def proposal(self) -> Proposal:
        """The released part as a proposal, to grade against the adjuster's decision on those parts."""
        items: dict[str, float] = {}
        for line in self.released:
            items[line.part] = items.get(line.part, 0.0) + line.total
        return Proposal(items, self.released_amount, self.currency)


@dataclass(frozen=True)
class StepShadow:
    """What one step would have done: settle the claim alone, release part of it, or neither."""

    step: str
    would_settle: bool
    partial: PartialRelease | None = None


def split_claim(inp: DecisionInput, policy: Policy, name: str) -> PartialRelease | None:
    """The confident part of a claim that step ``name`` would not settle whole, or None.

    A split exists only when the step's reasons are all about single parts' doubts or the total's size,
    at least one priced part has a finding and no doubt, those parts fit under the step's limit, and at least
    one priced part is doubted. Failures, photos to retake, duplicates and undeclared damage never split.
    """
    stepped = step_policy(policy, name)
    decision = decide(inp, stepped)
    estimate = inp.estimate
    if decision.outcome == "auto_settle" or estimate is None or estimate.currency != stepped.currency:
        return None
    codes = {r.code for r in decision.reasons}
    if not codes <= PARTIAL_REASONS:  # failures, retakes, duplicates, undeclared damage: never split
        return None
    doubted = {str(r.params.get("part", "")).casefold() for r in decision.reasons if r.code in PER_PART_REASONS}
    verification = inp.verification(stepped)
    judged = verification.priced if verification is not None else inp.findings
    confident = {f.part.casefold() for f in judged} - doubted
    released = tuple(i for i in estimate.line_items if i.part.casefold() in confident)
    held = tuple(i for i in estimate.line_items if i.part.casefold() not in confident)
    if not released or not any(i.part.casefold() in doubted for i in held):
        return None
    split = PartialRelease(name, released, held, estimate.currency)
    return split if split.released_amount <= stepped.small_claim_limit else None


def shadow_steps(inp: DecisionInput, policy: Policy) -> tuple[StepShadow, ...]:
    """Per step of ``policy``'s path, strict to loose: would it have settled this claim, or released part?

    ``decide`` under each step's thresholds, so a failure, a photo to retake or anything else that stops a
    settlement stops the step too.
    """
    shadows: list[StepShadow] = []
    for step in policy.threshold_path:
        settles = decide(inp, step_policy(policy, step.name)).outcome == "auto_settle"
        partial = split_claim(inp, policy, step.name) if policy.partial_release and not settles else None
        shadows.append(StepShadow(step.name, settles, partial))
    return tuple(shadows)


def partial_evidence(
    shadow: Sequence[StepShadow],
    final: AdjusterDecision,
    policy: Policy,
    *,
    blind: bool,
    autonomous: bool = False,
    audit_drawn: bool = False,
) -> GradedClaim:
    """Evidence for partial release: per step, its released part graded against the adjuster on those parts."""
    gradings = tuple(
        None
        if s.partial is None
        else grade(s.partial.proposal(), final.restricted_to(i.part for i in s.partial.released), policy, blind=blind)
        for s in shadow
    )
    return GradedClaim(blind, gradings, autonomous, audit_drawn)


Alone = Literal["auto_settle", "auto_partial", "audit", "review"]


@dataclass(frozen=True)
class AutonomyVerdict:
    """What the service does with a claim given the evidence, and what it records beside the claim.

    ``audit``: an autonomous step would have settled it (or released part), but the audit draw sends it to
    an adjuster; the customer sees the normal review wording. ``review``: no autonomous step would; the
    policy's own decision stands. ``blind``: show the adjuster the photos and statements, not the model's
    findings (audits always are). ``autonomy_on`` / ``partial_autonomy_on``: record them with the claim's
    grading (``GradedClaim.autonomous`` of each evidence key).
    """

    action: Alone
    step: str | None
    blind: bool
    autonomy_on: bool
    partial_autonomy_on: bool
    explanation: str


def settle_alone(
    shadow: Sequence[StepShadow],
    settle: Mapping[str, StepState],
    partial: Mapping[str, StepState] | None,
    audit: Draw,
    blind: Draw,
) -> AutonomyVerdict:
    """The verdict for one claim: the loosest autonomous step that settles it whole, else releases part."""
    autonomous = {step for step, state in settle.items() if state == "autonomous"}
    partial_ok = {step for step, state in partial.items() if state == "autonomous"} if partial is not None else set()
    on, partial_on = bool(autonomous), bool(partial_ok)
    audited = audit.drawn and (on or partial_on)
    whole = [s for s in shadow if s.would_settle and s.step in autonomous]
    parts = [(s.step, s.partial) for s in shadow if s.partial is not None and s.step in partial_ok]

    def verdict(action: Alone, step: str | None, explanation: str) -> AutonomyVerdict:
        return AutonomyVerdict(action, step, blind.drawn or audited, on, partial_on, explanation)

    if whole:
        step = whole[-1].step
        if audited:
            return verdict("audit", step, f"step {step} would settle it alone; drawn for audit "
                           f"({audit.rate:.0%} of such claims)")
        return verdict("auto_settle", step, f"step {step} has proven its error rate and settles it")
    if parts:
        step, split = parts[-1]
        if audited:
            return verdict("audit", step, f"step {step} would release part of it; drawn for audit "
                           f"({audit.rate:.0%} of such claims)")
        return verdict("auto_partial", step, f"step {step} releases {split.released_amount:,.2f} {split.currency} "
                       f"now; {split.held_amount:,.2f} {split.currency} goes to an adjuster")
    proven = [step for step, state in settle.items() if state in ("autonomous", "pending_confirmation")]
    why = (f"no autonomous step would settle it (proven: {', '.join(proven)})" if proven
           else "no step of the policy's path has proven its error rate yet")
    return verdict("review", None, why)

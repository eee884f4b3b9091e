"""The state of each step of a policy's threshold path, from the graded claims in the order they were graded.

A step's evidence is the graded claims it would have settled (its shadow at quote time), blind reviews
only unless asked otherwise. Once a step is autonomous, the claims it settles reach an adjuster only when
audited, so from then on every step counts audited claims only: each step's evidence stays a uniform
random sample of the claims it would settle, whichever step is autonomous.

Fixed-sequence testing keeps the whole path at the policy's confidence: a step is tested only once every
stricter step is proven, so a false grant needs the first step whose rate is above the target to pass its
own test, which happens with probability at most ``1 - autonomy_confidence``, ever.

A step is ``shadow`` (collecting evidence) until its upper bound reaches the target while every stricter
step is proven; then ``autonomous`` (``pending_confirmation`` under ``autonomy: manual`` until an admin
confirms it). It is ``revoked`` when its own evidence shows the rate above the target, or when a stricter
step is revoked; revoked stays revoked for this evidence (new models or a new policy version start anew).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from model.autonomy.bounds import (
    grant_reached,
    lower_bound,
    more_needed,
    revoke_reached,
    upper_bound,
)
from model.autonomy.grading import Grading
from model.decision import Policy
from model.errors import InputError

StepState = Literal["shadow", "pending_confirmation", "autonomous", "revoked"]
EvidenceKind = Literal["settle", "partial_release"]
METHOD = (
    "betting confidence sequences (Waudby-Smith & Ramdas 2023): switching on when the mixture-bet upper bound "
    "is at or below the target, revoking when the forgetting plug-in bet shows the rate above it; "
    "fixed-sequence order along the path"
)


@dataclass(frozen=True)
class GradedClaim:
    """One graded claim as evidence, with what was recorded about it when it was decided.

    ``gradings``: per step of the path, in order, the grading of what that step would have done with the
    claim (settled it, or released part of it for the partial-release evidence); None where it would not
    have. ``blind``: the review did not show the model's proposal. ``autonomous``: a step of this evidence
    was autonomous when the claim was decided. ``audit_drawn``: its audit draw came up.
    """

    blind: bool
    gradings: tuple[Grading | None, ...]
    autonomous: bool = False
    audit_drawn: bool = False

    @classmethod
    def settled(
        cls, grading: Grading, would_settle: Sequence[bool], *, autonomous: bool = False, audit_drawn: bool = False
    ) -> GradedClaim:
        """Evidence for settling whole: one grading of the model's quote, for the steps that would settle it."""
        return cls(grading.blind, tuple(grading if w else None for w in would_settle), autonomous, audit_drawn)

    def sampled(self) -> bool:
        """Whether the claim is part of the uniform sample: always before autonomy, then audits only."""
        return not self.autonomous or self.audit_drawn


@dataclass(frozen=True)
class StepStatus:
    """One step of the path: its state and the evidence behind it.

    ``graded``: counted gradings of any claim; ``would_settle``, ``wrong``, ``overpay``, ``underpay``: among
    the counted gradings of claims this step would settle. ``bound`` / ``lower_bound``: anytime-valid bounds
    on its wrong rate. ``more_needed``: more counted would-settle gradings until ``bound`` reaches the target
    if they err at the current rate (0 once proven; None: not at this rate). ``anchored_*``: the same counts
    from reviews that showed the model's proposal, reported beside, never counted unless asked.
    ``proven_at`` / ``revoked_at``: index in the claims given of the grading that switched it.
    """

    step: str
    state: StepState
    testable: bool
    graded: int
    would_settle: int
    wrong: int
    overpay: int
    underpay: int
    bound: float
    lower_bound: float
    more_needed: int | None
    anchored_would_settle: int
    anchored_wrong: int
    proven_at: int | None
    revoked_at: int | None
    revoked_by: str | None


@dataclass(frozen=True)
class PathStatus:
    """Every step of a policy's path, strict to loose, for one kind of evidence."""

    policy: str
    kind: EvidenceKind
    target: float
    confidence: float
    blind_only: bool
    steps: tuple[StepStatus, ...]
    method: str = METHOD

    @property
    def states(self) -> dict[str, StepState]:
        """Each step's state by name, strict to loose (what ``settle_alone`` reads)."""
        return {s.step: s.state for s in self.steps}

    @property
    def autonomous_step(self) -> str | None:
        """The loosest step that settles alone now, if any."""
        names = [s.step for s in self.steps if s.state == "autonomous"]
        return names[-1] if names else None


def _first(mask: npt.NDArray[np.bool_], positions: npt.NDArray[np.intp], not_before: int) -> int | None:
    """The first stream position at or after ``not_before`` where ``mask`` (one per evidence item) holds.

    At ``not_before`` itself the state is that after the last evidence item at or before it.
    """
    upto = np.flatnonzero(positions <= not_before)
    if upto.size and mask[upto[-1]]:
        return not_before
    hits = np.flatnonzero(mask & (positions > not_before))
    return int(positions[hits[0]]) if hits.size else None


def evaluate_path(
    claims: Sequence[GradedClaim],
    policy: Policy,
    *,
    confirmed: Collection[str] = (),
    blind_only: bool = True,
    kind: EvidenceKind = "settle",
) -> PathStatus:
    """Replay ``claims`` (in grading order) through ``policy``'s path: each step's state, counts and bounds.

    ``claims`` are the gradings of one evidence key: the same models and the same policy version, and one
    kind (whole settlements, or partial releases with their own gradings). ``confirmed``: steps an admin
    has confirmed (``autonomy: manual``). Pure: the same claims give the same status, so the service may
    recompute it whenever it likes.
    """
    path = policy.threshold_path
    for i, c in enumerate(claims):
        if len(c.gradings) != len(path):
            raise InputError(
                f"graded claim {i} has a shadow for {len(c.gradings)} steps but the {policy.label} policy's "
                f"path has {len(path)}; evidence from another policy version belongs to that version"
            )
    target, confidence = policy.autonomy_target, policy.autonomy_confidence
    counted = np.array([c.sampled() and (c.blind or not blind_only) for c in claims], dtype=bool)
    anchored = np.array([c.sampled() and not c.blind for c in claims], dtype=bool)
    statuses: list[StepStatus] = []
    proven_before: int | None = -1  # the stricter step's proof time; -1: the first step is testable at once
    revoked_before: tuple[int, str] | None = None
    for j, step in enumerate(path):
        graded = [c.gradings[j] for c in claims]
        settles = np.array([g is not None for g in graded], dtype=bool)
        wrong_all = np.array([g is not None and g.wrong for g in graded], dtype=bool)
        picked = np.flatnonzero(settles & counted)
        wrong = wrong_all[picked]
        k = np.cumsum(wrong)
        n = np.arange(1, len(picked) + 1)
        own_revoked = revoke_reached(wrong, target, confidence) if len(picked) else np.zeros(0, dtype=bool)
        own_revoked_at = int(picked[np.argmax(own_revoked)]) if own_revoked.any() else None
        revoked: tuple[int, str] | None = revoked_before
        if own_revoked_at is not None and (revoked is None or own_revoked_at < revoked[0]):
            revoked = (own_revoked_at, step.name)
        proven: int | None = None
        if proven_before is not None and len(picked):
            proven = _first(grant_reached(k, n, target, confidence), picked, proven_before)
        if proven is not None and revoked is not None and revoked[0] <= proven:
            proven = None  # revoked before it could be proven: never granted on this evidence
        state: StepState = "shadow"
        if revoked is not None:
            state = "revoked"
        elif proven is not None:
            state = "autonomous" if policy.autonomy == "automatic" or step.name in confirmed else "pending_confirmation"
        total_k = int(k[-1]) if len(k) else 0
        anchor = np.flatnonzero(settles & anchored)
        statuses.append(
            StepStatus(
                step=step.name,
                state=state,
                testable=proven_before is not None and revoked_before is None,
                graded=int(counted.sum()),
                would_settle=len(picked),
                wrong=total_k,
                overpay=sum(1 for i in picked if (g := graded[i]) is not None and g.overpay),
                underpay=sum(1 for i in picked if (g := graded[i]) is not None and g.underpay),
                bound=upper_bound(total_k, len(picked), confidence),
                lower_bound=lower_bound(wrong, target, confidence),
                more_needed=0 if proven is not None else more_needed(total_k, len(picked), target, confidence),
                anchored_would_settle=len(anchor),
                anchored_wrong=int(wrong_all[anchor].sum()),
                proven_at=proven,
                revoked_at=revoked[0] if revoked is not None else None,
                revoked_by=revoked[1] if revoked is not None else None,
            )
        )
        proven_before, revoked_before = proven, revoked
    return PathStatus(policy.label, kind, target, confidence, blind_only, tuple(statuses))

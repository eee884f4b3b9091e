"""The claim state machine: every status, every allowed transition, who may make it and the audit event it writes.

A change is made with :func:`change` (lock, :func:`check`, the work, :func:`apply`, commit), after
:func:`allowed_now` where slow work comes first; no other code changes ``ClaimRow.status``. A transition that
is not in :data:`TRANSITIONS` is refused with ``claim_state_conflict`` (409) and the list of actions allowed
now. ``make claim-states`` rewrites the state diagram in the README from this table
(``serve.claims.diagram``); a test fails when the two disagree.

Every claim reaches an end: the model settles it, an adjuster decides it, or the customer withdraws it. Retake
requests are counted per claim; past the policy's ``max_retake_rounds`` an assessment that would ask for
another retake sends the claim to an adjuster instead (reason ``retake_limit``).

A transition may hold from some statuses only on a :class:`Condition`: the customer changes the declared parts
of a claim in review only to answer the model's question about damage they did not declare, before an adjuster
has quoted it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy.orm import Session

from model.decision import Policy, Reason
from model.pipeline import Quote
from serve.db import audit, claims
from serve.db.keys import Principal
from serve.db.rows import AuditEventRow, ClaimRow, QuoteRow, utcnow
from serve.errors import ApprovalCommentRequired, ClaimStateConflict, OwnClaimDecision, TransitionNotAllowed

Actor = Literal["customer", "adjuster", "admin", "system"]


class ClaimStatus(StrEnum):
    SUBMITTED = "submitted"
    RETAKE_REQUESTED = "retake_requested"
    ASSESSED = "assessed"  # settled by the model: the quote is the payout offer
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    OPEN = "open"
    ADD_PHOTOS = "add_photos"
    REPLACE_PHOTO = "replace_photo"
    WITHDRAW_PHOTO = "withdraw_photo"
    DECLARE_PARTS = "declare_parts"
    ASSESS = "assess"
    SETTLE = "settle"
    ROUTE_TO_REVIEW = "route_to_review"
    REQUEST_RETAKE = "request_retake"
    REQUEST_REVIEW = "request_review"
    EDIT_LINE_ITEMS = "edit_line_items"
    CORRECT_BOXES = "correct_boxes"
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"


S = ClaimStatus
# "customer" is the key that opened the claim, whatever its role; the other actors are key roles.
CUSTOMER: frozenset[Actor] = frozenset({"customer"})
STAFF: frozenset[Actor] = frozenset({"adjuster", "admin"})
SYSTEM: frozenset[Actor] = frozenset({"system"})
ENDS = frozenset({S.ASSESSED, S.APPROVED, S.REJECTED, S.WITHDRAWN})
PHOTO_STATES = frozenset({S.SUBMITTED, S.RETAKE_REQUESTED})


@dataclass(frozen=True)
class Condition:
    """What a claim in one of ``statuses`` must meet for a transition to be made from there."""

    statuses: frozenset[ClaimStatus]
    holds: Callable[[ClaimRow], bool]
    says: str  # what it asks, for refusals
    short: str  # the same in a few words, for the README's diagram and table


@dataclass(frozen=True)
class Transition:
    """One row of the table: from which statuses, to which (None: unchanged), by whom, and the event written."""

    action: Action
    sources: frozenset[ClaimStatus]
    target: ClaimStatus | None
    actors: frozenset[Actor]
    event: str
    says: str  # what it means, for the README and for refusals
    condition: Condition | None = None

    def target_from(self, status: ClaimStatus) -> ClaimStatus:
        return self.target if self.target is not None else status

    def holds_for(self, claim: ClaimRow | None, status: ClaimStatus) -> bool:
        """True unless a claim in ``status`` fails this transition's condition (no claim: assumed to meet it)."""
        cond = self.condition
        return cond is None or claim is None or status not in cond.statuses or cond.holds(claim)


def asks_about_undeclared_damage(claim: ClaimRow) -> bool:
    """The claim's quote in force is the model's and asks the customer about damage they did not declare."""
    quote = claim.quotes[-1] if claim.quotes else None
    return quote is not None and quote.source == "model" and any(
        r.get("code") == "undeclared_damage" for r in quote.reasons
    )


ANSWER_UNDECLARED = Condition(
    frozenset({S.IN_REVIEW}),
    asks_about_undeclared_damage,
    "only to answer the model's question about damage the claim does not declare, before an adjuster quotes it",
    "if asked about undeclared damage",
)


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        Transition(Action.OPEN, frozenset(), S.SUBMITTED, CUSTOMER | STAFF, "claim.created", "open a claim"),
        Transition(Action.ADD_PHOTOS, PHOTO_STATES, S.SUBMITTED, CUSTOMER, "photo.added", "add photos"),
        Transition(Action.REPLACE_PHOTO, PHOTO_STATES, S.SUBMITTED, CUSTOMER, "photo.replaced", "replace a photo"),
        Transition(Action.WITHDRAW_PHOTO, PHOTO_STATES, S.SUBMITTED, CUSTOMER, "photo.withdrawn", "withdraw a photo"),
        Transition(
            Action.DECLARE_PARTS,
            PHOTO_STATES | {S.IN_REVIEW},
            S.SUBMITTED,
            CUSTOMER,
            "claim.parts_declared",
            "change the declared parts",
            ANSWER_UNDECLARED,
        ),
        Transition(
            Action.ASSESS,
            frozenset({S.SUBMITTED}),
            None,
            CUSTOMER | {"admin"},
            "quote.decided",
            "assess the photos",
        ),
        Transition(Action.SETTLE, frozenset({S.SUBMITTED}), S.ASSESSED, SYSTEM, "claim.settled", "settle it (model)"),
        Transition(
            Action.ROUTE_TO_REVIEW,
            frozenset({S.SUBMITTED}),
            S.IN_REVIEW,
            SYSTEM,
            "claim.routed_to_review",
            "send it to an adjuster (model)",
        ),
        Transition(
            Action.REQUEST_RETAKE,
            frozenset({S.SUBMITTED}),
            S.RETAKE_REQUESTED,
            SYSTEM,
            "claim.retake_requested",
            "ask for a retake (model)",
        ),
        Transition(
            Action.REQUEST_REVIEW,
            frozenset({S.ASSESSED}),
            S.IN_REVIEW,
            CUSTOMER,
            "claim.review_requested",
            "ask an adjuster to review the settlement",
        ),
        Transition(
            Action.EDIT_LINE_ITEMS,
            frozenset({S.IN_REVIEW}),
            None,
            STAFF,
            "quote.edited",
            "edit the line items",
        ),
        Transition(
            Action.CORRECT_BOXES,
            frozenset({S.ASSESSED, S.IN_REVIEW}),
            None,
            STAFF,
            "boxes.corrected",
            "correct the boxes",
        ),
        Transition(Action.APPROVE, frozenset({S.IN_REVIEW}), S.APPROVED, STAFF, "claim.approved", "approve it"),
        Transition(Action.REJECT, frozenset({S.IN_REVIEW}), S.REJECTED, STAFF, "claim.rejected", "reject it"),
        Transition(
            Action.WITHDRAW,
            frozenset({S.SUBMITTED, S.RETAKE_REQUESTED, S.IN_REVIEW}),
            S.WITHDRAWN,
            CUSTOMER | {"admin"},
            "claim.withdrawn",
            "withdraw the claim",
        ),
    )
}
OUTCOME_ACTION = {
    "auto_settle": Action.SETTLE,
    "human_review": Action.ROUTE_TO_REVIEW,
    "retake_photos": Action.REQUEST_RETAKE,
}


def actors_of(principal: Principal | None, claim: ClaimRow | None) -> frozenset[Actor]:
    """Who the caller is for this claim: its customer if they opened it, and their staff role if any."""
    if principal is None:
        return SYSTEM
    found: set[Actor] = set()
    if claim is None or claim.owner_key_id == principal.key_id:
        found.add("customer")
    if principal.role in ("adjuster", "admin"):
        found.add(principal.role)
    return frozenset(found)


def allowed(status: ClaimStatus, actors: Iterable[Actor], claim: ClaimRow | None = None) -> list[Action]:
    """The actions these actors may take on a claim in ``status`` (this ``claim``, when given), in table order."""
    who = set(actors)
    return [
        t.action
        for t in TRANSITIONS.values()
        if status in t.sources and who & t.actors and t.holds_for(claim, status)
    ]


def status_of(claim: ClaimRow) -> ClaimStatus:
    return ClaimStatus(claim.status)


def _refusal(claim: ClaimRow, transition: Transition, actors: frozenset[Actor]) -> TransitionNotAllowed:
    status = status_of(claim)
    now = allowed(status, actors, claim)
    others = [a for a in allowed(status, {"customer", "adjuster", "admin"}, claim) if a not in now]
    needs = ", ".join(sorted(transition.sources)) or "a new claim"
    cond = transition.condition
    if cond is not None and status in cond.statuses:
        needs += f"; when it is {status.value}, {cond.says}"
    message = (
        f"claim {claim.id} is {status.value}: you cannot {transition.says} now (only when it is {needs}); "
        f"allowed now: {', '.join(now) if now else 'nothing for this key'}"
    )
    if others:
        message += f" (others may: {', '.join(others)})"
    return TransitionNotAllowed(message, [a.value for a in now])


def check(claim: ClaimRow, principal: Principal | None, action: Action) -> Transition:
    """The transition for ``action``, or claim_state_conflict saying what is allowed now."""
    transition = TRANSITIONS[action]
    actors = actors_of(principal, claim)
    status = status_of(claim)
    if status not in transition.sources or not actors & transition.actors or not transition.holds_for(claim, status):
        raise _refusal(claim, transition, actors)
    return transition


def apply(
    session: Session,
    principal: Principal | None,
    claim: ClaimRow,
    action: Action,
    detail: dict[str, Any] | None = None,
) -> AuditEventRow:
    """Make the transition (re-checked: call this with the claim locked) and write its audit event."""
    transition = check(claim, principal, action)
    before = status_of(claim)
    after = transition.target_from(before)
    claim.status = after.value
    if action is Action.REQUEST_RETAKE:
        claim.retake_rounds += 1
    claim.updated_at = utcnow()
    session.flush()
    body = dict(detail or {})
    body["status"] = {"from": before.value, "to": after.value}
    return audit.claim_transition(session, principal, claim.id, transition.event, body)


def allowed_now(session: Session, principal: Principal, claim_id: str, action: Action) -> ClaimRow:
    """The claim, if ``action`` is allowed on it now: checked before slow work (uploads, models) without the
    lock, and checked again under it."""
    claim = claims.get_claim(session, principal, claim_id)
    check(claim, principal, action)
    return claim


@dataclass
class Change:
    """A change in progress on a locked claim; ``detail`` is what its audit event records."""

    claim: ClaimRow
    detail: dict[str, Any] | None = dataclasses.field(default_factory=dict)  # None: nothing changed


@contextmanager
def change(session: Session, principal: Principal, claim_id: str, action: Action) -> Iterator[Change]:
    """Lock the claim and refuse ``action`` if it is not allowed now; after the block's work, make the
    transition with the block's ``detail`` (none when it set ``detail = None``) and commit."""
    claim = claims.lock_claim(session, principal, claim_id)
    check(claim, principal, action)
    step = Change(claim)
    yield step
    if step.detail is not None:
        apply(session, principal, claim, action, step.detail)
    session.commit()


def opened(session: Session, principal: Principal, claim: ClaimRow, detail: dict[str, Any]) -> AuditEventRow:
    """Record a new claim: the one transition without a source status."""
    transition = TRANSITIONS[Action.OPEN]
    claim.status = ClaimStatus.SUBMITTED.value
    return audit.claim_transition(session, principal, claim.id, transition.event, detail)


def outcome_of(quote: Quote, claim: ClaimRow, policy: Policy) -> tuple[Quote, Action]:
    """What the system does with an assessment; past the retake limit a retake becomes a review."""
    if quote.decision.outcome != "retake_photos" or claim.retake_rounds < policy.max_retake_rounds:
        return quote, OUTCOME_ACTION[quote.decision.outcome]
    reason = Reason(
        "retake_limit",
        f"photos were retaken {claim.retake_rounds} times and the assessment still asks for another; "
        "an adjuster will look at the claim",
    )
    decision = dataclasses.replace(quote.decision, outcome="human_review", reasons=(*quote.decision.reasons, reason))
    return dataclasses.replace(quote, decision=decision), Action.ROUTE_TO_REVIEW


def ensure_model_may_quote(claim: ClaimRow) -> None:
    """An adjuster's quote is never replaced by a model quote."""
    if any(q.source == "adjuster" for q in claim.quotes):
        raise ClaimStateConflict(f"claim {claim.id} carries an adjuster's quote; the model does not quote it again")


def check_decision(claim: ClaimRow, principal: Principal) -> None:
    """Nobody decides a claim they opened."""
    if claim.owner_key_id == principal.key_id:
        raise OwnClaimDecision(f"claim {claim.id} was opened with this key; another adjuster must decide it")


def check_approval(claim: ClaimRow, principal: Principal, amount: float, comment: str, policy: Policy) -> None:
    """Approving far from the model's quote (``approval_comment_ratio`` either way) needs a comment."""
    check_decision(claim, principal)
    if comment.strip():
        return
    model = [q for q in claim.quotes if q.source == "model" and q.total]
    reference: QuoteRow | None = model[-1] if model else None
    if reference is None or reference.total is None:
        raise ApprovalCommentRequired(
            f"claim {claim.id} has no model quote to compare {amount:,.2f} with; "
            "add a comment saying how the amount was reached"
        )
    ratio = max(amount / reference.total, reference.total / amount)
    if ratio > policy.approval_comment_ratio:
        raise ApprovalCommentRequired(
            f"{amount:,.2f} is {ratio:.1f} times away from the model's quote of {reference.total:,.2f} "
            f"{reference.currency} (more than {policy.approval_comment_ratio:g}); "
            "add a comment saying why"
        )

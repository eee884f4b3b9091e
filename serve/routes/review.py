"""The adjuster's API: the review queue, one claim with its boxes, line-item edits, box corrections,
approve and reject; and the photo bytes (adjusters any claim, customers only their own)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from model.fields import Finite, Money, Part, Text, no_nul
from model.findings import LineItem
from model.pipeline import Pipeline
from model.vocabulary import OPERATIONS
from serve.claims import autonomy, states
from serve.claims.states import Action
from serve.db import audit, review
from serve.db import claims as repo
from serve.deps import MetricsDep, PipelineDep, PrincipalDep, SessionDep
from serve.errors import LineTotalMismatch
from serve.http.access import AccessRoute, allow
from serve.http.error_responses import ERROR_RESPONSES
from serve.http.locale import Locale, LocaleDep
from serve.http.schemas import (
    AuditEventOut,
    ClaimOut,
    ClaimSummary,
    Offset,
    QuoteOut,
    audit_out,
    claim_out,
    quote_out,
)
from serve.routes.autonomy import AutonomyOut
from serve.routes.autonomy import report as autonomy_report

router = APIRouter(
    prefix="/v1",
    tags=["review"],
    route_class=AccessRoute,
    dependencies=[allow("adjuster", "admin")],
    responses=ERROR_RESPONSES,
)


class QueueItemOut(ClaimSummary):
    updated_at: datetime
    segment: str
    reasons: list[str] = Field(description="codes of the reasons the claim was routed to a human")
    edited: bool = Field(description="an adjuster already edited the quote")


class QueuePage(BaseModel):
    items: list[QueueItemOut]
    count: int = Field(description="claims matching the filters, all pages together")
    limit: int
    offset: int


class BoxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part: Part
    box: tuple[Finite, Finite, Finite, Finite] = Field(description="x1, y1, x2, y2 in pixels of the photo")


class BoxesIn(BaseModel):
    """The photo's full set of boxes after the adjuster's changes (relabelled, deleted, drawn)."""

    model_config = ConfigDict(extra="forbid")

    boxes: list[BoxIn] = Field(max_length=100)


class BoxOut(BaseModel):
    part: str
    box: tuple[float, float, float, float]
    score: float | None = Field(default=None, description="detector score; absent for an adjuster's box")


class PhotoBoxesOut(BaseModel):
    photo_id: str
    corrected: bool = Field(description="an adjuster replaced the model's boxes")
    boxes: list[BoxOut]


class LineItemIn(LineItem):
    """A line item as an adjuster enters it: the domain's fields and limits, and nothing else.

    Its total is what its costs add up to: left out, it is derived from them; given beside costs that add up to
    another amount (by more than a cent), the line is refused with ``line_total_mismatch``. A line without costs
    is a lump sum and needs its total."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total: Money | None = Field(  # type: ignore[assignment]
        default=None, description="parts + labour + refinish + materials; absent: derived from them"
    )

    def to_domain(self, number: int) -> LineItem:
        """The line with its total derived from its costs; refused when the total given contradicts them."""
        costs = self.breakdown
        if self.total is None or (costs > 0 and abs(self.total - costs) <= 0.01):
            return LineItem.model_validate({**self.model_dump(), "total": costs})
        if costs > 0:
            raise LineTotalMismatch(
                f"line {number} ({self.part}): its costs add up to {costs:,.2f} but its total is {self.total:,.2f}; "
                "leave the total out (it is derived from the costs) or make them agree"
            )
        return LineItem.model_validate(self.model_dump())


class LineItemsIn(BaseModel):
    """The quote's full list of line items after the adjuster's change; the total is their sum."""

    model_config = ConfigDict(extra="forbid")

    line_items: list[LineItemIn] = Field(max_length=50)


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Annotated[Finite, Field(gt=0, le=1e8, description="the final amount, in the quote's currency")]
    comment: Text = Field(default="", max_length=2000)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(no_nul)
    ] = Field(description="why the claim is rejected (required)")


class ReleasedLineOut(BaseModel):
    part: str
    total: float


class PartialReleaseOut(BaseModel):
    """The proven part of a claim, released when it was assessed (``auto_partial``); the rest awaits a decision."""

    step: str = Field(description="the threshold step whose partial releases are proven")
    released_amount: float = Field(description="paid when the claim was assessed")
    held_amount: float = Field(description="under review: what the adjuster decides")
    currency: str
    released: list[ReleasedLineOut]
    held: list[ReleasedLineOut]


class ReviewClaimOut(BaseModel):
    """Everything the adjuster's claim view shows."""

    claim: ClaimOut
    model_quote: QuoteOut | None = Field(description="the models' quote, before any adjuster edit")
    boxes: list[PhotoBoxesOut]
    parts: list[str] = Field(description="parts a box or line item may name (the detector's classes)")
    operations: list[str]
    audit: list[AuditEventOut]
    partial_release: PartialReleaseOut | None = Field(
        default=None, description="the part released before review (auto_partial), with the amount under review"
    )
    blind: bool = Field(
        default=False,
        description="a blind review: the model's parts, boxes, amounts and its events are not shown; decide from "
        "the photos and the customer's statements (only such reviews count toward autonomy)",
    )


def known_parts(pipeline: Pipeline) -> list[str]:
    """The parts a box or line item may name: the detector's classes (the catalogue's while it is missing)."""
    if pipeline.detector is not None:
        return list(pipeline.detector.manifest.classes)
    return list(pipeline.catalogue.parts) if pipeline.catalogue is not None else []


@router.get("/review/queue", response_model=QueuePage)
def queue(
    principal: PrincipalDep,
    session: SessionDep,
    reason: Annotated[
        str | None, Query(pattern=r"^[a-z_]{1,40}$", description="a reason code, e.g. over_limit")
    ] = None,
    min_total: Annotated[float | None, Query(ge=0, le=1e12, allow_inf_nan=False)] = None,
    max_total: Annotated[float | None, Query(ge=0, le=1e12, allow_inf_nan=False)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> QueuePage:
    """Claims routed to a human, oldest first, with how many match (adjusters and admins)."""
    rows, count = review.review_queue(session, review.QueueFilter(reason or None, min_total, max_total), limit, offset)
    items = []
    for row in rows:
        quote = review.latest_quote(row)
        reasons = list(dict.fromkeys(r["code"] for r in quote.reasons)) if quote else []
        edited = any(q.source == "adjuster" for q in row.quotes)
        items.append(autonomy.blind_summary(row, QueueItemOut.of_claim(row, reasons=reasons, edited=edited)))
    return QueuePage(items=items, count=count, limit=limit, offset=offset)


def _review_view(
    session: SessionDep, principal: PrincipalDep, claim_id: str, parts: list[str], locale: Locale
) -> ReviewClaimOut:
    claim = repo.get_claim(session, principal, claim_id)
    model = review.model_quote(claim)
    boxes = review.current_boxes(session, claim)
    blind = autonomy.blind(claim)
    shown = claim_out(claim, adjuster=True, locale=locale)
    events = [audit_out(e) for e in audit.events_for_claim(session, claim_id)]
    if blind:  # photos and the customer's statements only, until an adjuster has quoted it
        boxes = {pid: (found, True) if corrected else ([], False) for pid, (found, corrected) in boxes.items()}
        if autonomy.hides_quote(claim):
            shown = shown.model_copy(update={"quote": None})
        elif shown.quote is not None:  # the adjuster's own quote, without what it inherited from the model
            shown = shown.model_copy(update={"quote": autonomy.blind_quote(shown.quote)})
        events = [autonomy.blind_event(e) for e in events if not autonomy.hidden_event(e.actor_role, e.action)]
    return ReviewClaimOut(
        claim=shown,
        blind=blind,
        partial_release=autonomy.release_of(model),
        model_quote=quote_out(model, locale) if model and not blind else None,
        boxes=[
            PhotoBoxesOut(
                photo_id=pid,
                corrected=corrected,
                boxes=[BoxOut(part=b.part, box=(b.x1, b.y1, b.x2, b.y2), score=b.score) for b in found],
            )
            for pid, (found, corrected) in boxes.items()
        ],
        parts=parts,
        operations=list(OPERATIONS),
        audit=events,
    )


@router.get("/review/claims/{claim_id}", response_model=ReviewClaimOut)
def review_claim(
    claim_id: str, principal: PrincipalDep, session: SessionDep, pipeline: PipelineDep, locale: LocaleDep
) -> ReviewClaimOut:
    """One claim as the adjuster sees it: photos, boxes, quote, the models' quote, audit trail."""
    return _review_view(session, principal, claim_id, known_parts(pipeline), locale)


@router.put("/claims/{claim_id}/line-items", response_model=ReviewClaimOut)
def edit_line_items(
    claim_id: str,
    body: LineItemsIn,
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
    locale: LocaleDep,
) -> ReviewClaimOut:
    """Replace the quote's line items (change, add, remove): a new adjuster quote supersedes the old one."""
    parts = known_parts(pipeline)
    with states.change(session, principal, claim_id, Action.EDIT_LINE_ITEMS) as change:
        lines = [line.to_domain(n) for n, line in enumerate(body.line_items, start=1)]
        change.detail = review.edit_line_items(session, principal, change.claim, lines, parts)
    return _review_view(session, principal, claim_id, parts, locale)


@router.put(
    "/claims/{claim_id}/photos/{photo_id}/boxes",
    response_model=ReviewClaimOut,
)
def correct_boxes(
    claim_id: str,
    photo_id: str,
    body: BoxesIn,
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
    locale: LocaleDep,
) -> ReviewClaimOut:
    """Replace a photo's boxes with the adjuster's; they become detector labels when exported."""
    boxes = [review.Box(b.part, *b.box) for b in body.boxes]
    parts = known_parts(pipeline)
    with states.change(session, principal, claim_id, Action.CORRECT_BOXES) as change:
        change.detail = review.correct_boxes(session, principal, change.claim, photo_id, boxes, parts)
    return _review_view(session, principal, claim_id, parts, locale)


@router.post("/claims/{claim_id}/approve", response_model=ClaimOut)
def approve_claim(
    claim_id: str,
    body: ApproveIn,
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
    metrics: MetricsDep,
    locale: LocaleDep,
) -> ClaimOut:
    """Close a claim in review as approved for the final amount; far from the model's quote it needs a comment.

    Nobody approves a claim they opened."""
    with states.change(session, principal, claim_id, Action.APPROVE) as change:
        policy = pipeline.policy(change.claim.jurisdiction)
        if autonomy.blind(change.claim):  # compared with nothing: a refusal would say where the model's amount is
            states.check_decision(change.claim, principal)
        else:
            states.check_approval(change.claim, principal, body.amount, body.comment, policy)
        change.detail = review.approve(session, principal, change.claim, body.amount, body.comment)
        # Graded in the decision's transaction: a crash keeps both or neither.
        change.detail["gradings"] = autonomy.grade_decision(
            session, change.claim, change.detail["review_id"], "approved", change.detail["amount"], policy, metrics
        )
    return claim_out(repo.get_claim(session, principal, claim_id), principal.sees_all_claims, locale)


@router.post("/claims/{claim_id}/reject", response_model=ClaimOut)
def reject_claim(
    claim_id: str,
    body: RejectIn,
    principal: PrincipalDep,
    session: SessionDep,
    pipeline: PipelineDep,
    metrics: MetricsDep,
    locale: LocaleDep,
) -> ClaimOut:
    """Close the claim as rejected; the comment is required and shown to the customer."""
    with states.change(session, principal, claim_id, Action.REJECT) as change:
        states.check_decision(change.claim, principal)
        change.detail = review.reject(session, principal, change.claim, body.comment)
        policy = pipeline.policy(change.claim.jurisdiction)
        change.detail["gradings"] = autonomy.grade_decision(
            session, change.claim, change.detail["review_id"], "rejected", None, policy, metrics
        )
    return claim_out(repo.get_claim(session, principal, claim_id), principal.sees_all_claims, locale)


@router.get("/review/autonomy", response_model=AutonomyOut)
def autonomy_for_adjusters(principal: PrincipalDep, session: SessionDep, pipeline: PipelineDep) -> dict[str, Any]:
    """What the admin endpoint shows, read-only: per policy and step, the state and the evidence behind it."""
    return autonomy_report(session, pipeline)


@router.get("/claims/{claim_id}/audit", response_model=list[AuditEventOut])
def claim_audit(claim_id: str, principal: PrincipalDep, session: SessionDep) -> list[AuditEventOut]:
    """Every recorded change and decision of a claim, oldest first."""
    claim = repo.get_claim(session, principal, claim_id)
    events = [audit_out(e) for e in audit.events_for_claim(session, claim_id)]
    if autonomy.blind(claim):  # staff only: the model's decision waits until the claim is decided
        events = [e for e in events if not autonomy.hidden_event(e.actor_role, e.action)]
    return events

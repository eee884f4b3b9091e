"""API schemas (requests and responses) and their conversion from rows: the one way a quote reaches the API."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from model.decision import RETAKE_FIXES, Outcome, Reason, ReasonCode
from model.declared import DeclaredPart, PartStatus
from model.fields import Text
from model.findings import LineItem
from model.pipeline import PhotoFinding, Quote
from model.quality import QualityIssue
from model.vocabulary import JURISDICTION_PATTERN, REGION_PATTERN, SIDES, Segment, Side
from serve.db.claims import declared_of, tag_of
from serve.db.quotes import quote_row
from serve.db.rows import AuditEventRow, ClaimReviewRow, ClaimRow, PhotoRow, QuoteRow
from serve.http.locale import DEFAULT_LOCALE, Locale, issue_message, reason_message
from serve.http.outcome import customer_amount, customer_quote, customer_summary
from serve.photos.store import PhotoFile

# A page offset beyond any real table; larger values would overflow the database's integers.
Offset = Annotated[int, Field(ge=0, le=1_000_000_000)]


class View(BaseModel):
    """An API view of a row or a domain object: the fields it shares with its source are read from it."""

    @classmethod
    def of(cls, source: object, **computed: Any) -> Self:
        """The view of ``source``: each field from the attribute of the same name, except those given here."""
        read = {name: getattr(source, name) for name in cls.model_fields if name not in computed}
        return cls.model_validate({**read, **computed})


class DeclaredPartOut(BaseModel):
    """A part the customer says is damaged: a part of the vocabulary and, optionally, where on the car."""

    part: str = Field(description="a part as the vocabulary spells it (GET /v1/models lists them), e.g. Door")
    side: Side | None = Field(default=None, description="front, rear, left or right; null when not said")

    @classmethod
    def of_domain(cls, declared: DeclaredPart) -> DeclaredPartOut:
        return cls(part=declared.part, side=declared.side)


class DeclaredPartIn(DeclaredPartOut):
    """A declared part as sent: the part in any case (``door``), checked against the vocabulary."""

    model_config = ConfigDict(extra="forbid")

    part: str = Field(
        min_length=1, max_length=64, description="a part of the vocabulary (GET /v1/models: parts), any case"
    )

    def text(self) -> str:
        """Its text form, as ``model.declared.parse_declared_part`` reads it: ``Door`` or ``Door:left``."""
        return f"{self.part}:{self.side}" if self.side else self.part


DeclaredParts = Annotated[
    list[DeclaredPartIn],
    Field(max_length=20, description="the damaged parts; a part given twice counts once; empty: none declared"),
]


class DeclaredPartsIn(BaseModel):
    """The parts a claim declares, replacing those it declared before."""

    model_config = ConfigDict(extra="forbid")

    declared_parts: DeclaredParts


class ClaimCreate(BaseModel):
    """Open a claim; photos are added to it afterwards."""

    model_config = ConfigDict(extra="forbid")

    region: str = Field(default="CN", pattern=REGION_PATTERN, description="pricing region, e.g. CN or US")
    jurisdiction: str | None = Field(
        default=None,
        pattern=JURISDICTION_PATTERN,
        description="decision policy, e.g. CN or CN-single-vehicle; defaults to the region",
    )
    segment: Segment = "mid"
    description: Text = Field(default="", max_length=2000)
    declared_parts: DeclaredParts = Field(default_factory=list)


class PhotoOut(PhotoFile, View):
    id: str
    part: DeclaredPartOut | None = Field(
        default=None, description="the declared part this photo is a close-up of; null: a wide shot"
    )
    duplicate: bool | None = Field(
        description="this photo, or a near-identical one, was already sent with another claim "
        "(adjusters and admins only; null for customers)"
    )
    duplicate_of_claim_id: str | None = Field(
        default=None, description="the other claim holding it (adjusters and admins only)"
    )
    duplicate_of_url: str | None = Field(
        default=None, description="the adjuster's page of the other claim (adjusters and admins only)"
    )


class PhotoReportOut(BaseModel):
    photo_id: str
    findings: list[PhotoFinding]
    quality_issues: list[QualityIssue]


class VersionsOut(BaseModel):
    detector: str
    severity: str
    pricer: str
    catalogue: str
    policy: str


class PartCheckOut(DeclaredPartOut):
    """One declared part checked against the photos."""

    status: PartStatus = Field(description="confirmed: the detector found this part's damage at the threshold")
    photo_id: str | None = Field(description="the photo that confirmed it; else its close-up to retake, if any")
    close_ups: list[str] = Field(description="the photos tagged with this part")
    score: float | None = Field(description="the detector's score of the confirming damage")


class UndeclaredOut(BaseModel):
    """Damage found at the threshold on a part the claim does not declare: never priced."""

    part: str
    photo_id: str | None = Field(description="the photo it was found on with the highest score")
    score: float


class VerificationOut(BaseModel):
    """Declared against found, part by part, at the policy's detection threshold."""

    threshold: float
    parts: list[PartCheckOut]
    undeclared: list[UndeclaredOut]


class QuoteOut(BaseModel):
    """Findings per photo, priced line items, the total with its interval, the decision and its reasons."""

    id: str | None = Field(default=None, description="absent for one-shot quotes, which are not stored")
    source: str = "model"
    decision: Outcome
    reasons: list[Reason]
    total: float | None
    low: float | None
    high: float | None
    level: float | None = Field(description="nominal coverage of the [low, high] prediction interval")
    currency: str
    line_items: list[LineItem]
    photos: list[PhotoReportOut]
    versions: VersionsOut
    verification: VerificationOut | None = Field(
        default=None, description="the declared parts checked against the photos; null when none are declared"
    )
    created_at: datetime | None = None


class RetakeOut(BaseModel):
    """One photo to take again, or a close-up to add, and why."""

    code: ReasonCode = Field(description="poor_photo, declared_not_found or no_damage_found")
    photo_id: str | None = Field(description="the photo to replace; null: add a photo")
    part: DeclaredPartOut | None = Field(description="the declared part the photo should show; null: a wide shot")
    message: str


class ReviewOut(View):
    """An adjuster's closing decision: what the customer is told once the claim is decided."""

    outcome: Literal["approved", "rejected"]
    amount: float | None = Field(description="the approved amount (absent when rejected)")
    currency: str
    comment: str
    at: datetime


class SummaryOut(BaseModel):
    """The outcome in the customer's words: one sentence on what happens next, at most three plain reasons."""

    next: str
    reasons: list[str] = Field(max_length=3, description="why a person looks at the claim, one per kind of reason")


class ClaimOut(View):
    id: str
    status: str
    region: str
    jurisdiction: str
    segment: str
    description: str
    created_at: datetime
    updated_at: datetime
    declared_parts: list[DeclaredPartOut] = Field(description="the parts the customer says are damaged")
    photos: list[PhotoOut]
    retake_rounds: int = Field(default=0, description="how many times the assessment asked for retakes")
    retake: list[RetakeOut] = Field(
        default_factory=list,
        description="after a retake request, until the claim is assessed again: each photo still to replace "
        "(photo_id) or close-up to add (part), and why",
    )
    quote: QuoteOut | None = Field(
        description="the latest quote, if the claim was assessed; a customer sees the models' quote until an "
        "adjuster decides (interim edits are not shown), then the one decided on"
    )
    review: ReviewOut | None = Field(default=None, description="the adjuster's decision, once made")
    summary: SummaryOut | None = Field(
        default=None, description="what the customer is told: what happens next and, in review, why (customers only)"
    )


class ClaimSummary(View):
    id: str
    status: str
    region: str
    jurisdiction: str
    created_at: datetime
    photo_count: int
    decision: Outcome | None
    total: float | None = Field(description="for a customer: the approved amount once decided, else the models' total")
    currency: str | None
    parts: list[str] = Field(default_factory=list, description="the declared parts, else the quote's parts")

    @classmethod
    def of_claim(cls, row: ClaimRow, adjuster: bool = True, **computed: Any) -> Self:
        """One line of a claim list: the claim, how many photos it holds, its parts and its quote's result (for a
        customer, the quote and amount they may see)."""
        latest = (row.quotes[-1] if row.quotes else None) if adjuster else customer_quote(row)
        total = (latest.total if latest else None) if adjuster else customer_amount(row)
        parts = [d.part for d in declared_of(row)]
        if not parts and latest is not None:
            parts = list(dict.fromkeys(li.to_domain().part for li in latest.line_items))
        return cls.of(
            row,
            photo_count=len(row.photos),
            decision=latest.decision if latest else None,
            total=total,
            currency=latest.currency if latest else None,
            parts=parts,
            **computed,
        )


class ClaimPage(BaseModel):
    items: list[ClaimSummary]
    limit: int
    offset: int


class AuditEventOut(View):
    id: int
    at: datetime
    actor_key_id: str | None
    actor_role: str
    action: str
    detail: dict[str, Any]


class PolicyOut(View):
    jurisdiction: str
    description: str = Field(default="", description="what the policy covers, in words")
    version: str
    region: str
    currency: str
    small_claim_limit: float


class ModelsOut(BaseModel):
    ready: bool
    versions: dict[str, str]
    parts: list[str] = Field(description="the parts a claim may declare (the detector's classes)")
    problems: list[str]
    policies: list[PolicyOut]


class HealthOut(BaseModel):
    status: str


class AuditBreakOut(BaseModel):
    event_id: int | None
    problem: Literal["edited", "deleted", "reordered", "inserted"]
    why: str


class AuditHeadOut(BaseModel):
    """The audit log as far as this process verified it (``autoquote audit verify`` walks all of it)."""

    intact: bool
    complete: bool  # False while a long log is still being verified, a slice per readiness check
    events: int
    last_id: int
    hash: str
    verified_at: datetime
    broken: AuditBreakOut | None


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, bool]
    problems: list[str]
    audit: AuditHeadOut | None = None  # None when the database is not reachable


def photo_out(row: PhotoRow, adjuster: bool = False) -> PhotoOut:
    """API view of a stored photo; cross-claim signals only for adjusters and admins."""
    other = row.duplicate_of_claim_id if adjuster else None
    tag = tag_of(row)
    return PhotoOut.of(
        row,
        part=DeclaredPartOut.of_domain(tag) if tag is not None else None,
        duplicate=(row.duplicate_of_claim_id is not None) if adjuster else None,
        duplicate_of_claim_id=other,
        duplicate_of_url=f"/review#claim={other}" if other else None,
    )


def _said(reason: Reason, locale: Locale, asks_for_photos: bool = True) -> Reason:
    """The reason in ``locale``; one a retake could fix asks for a photo only when new photos are wanted."""
    message = reason_message(reason.code, reason.params, locale, reason.message, asks_for_photos)
    return dataclasses.replace(reason, message=message)


def _said_issue(issue: QualityIssue, locale: Locale) -> QualityIssue:
    return dataclasses.replace(issue, message=issue_message(issue.code, issue.params, locale, issue.message))


def quote_out(row: QuoteRow, locale: Locale = DEFAULT_LOCALE, photos_open: bool = True) -> QuoteOut:
    """API view of a quote's row, its sentences in ``locale``; a retake is asked for only while its claim takes
    photos (``photos_open``)."""
    asks_for_photos = row.decision == "retake_photos" and photos_open
    checks = {c["photo_id"]: c for c in row.photo_checks}
    photos: dict[str, PhotoReportOut] = {
        pid: PhotoReportOut(
            photo_id=pid,
            findings=[],
            quality_issues=[_said_issue(QualityIssue(**i), locale) for i in c.get("issues", [])],
        )
        for pid, c in checks.items()
    }
    for f in row.findings:
        report = photos.setdefault(f.photo_id, PhotoReportOut(photo_id=f.photo_id, findings=[], quality_issues=[]))
        report.findings.append(f.to_domain())
    return QuoteOut(
        id=row.id,
        source=row.source,
        decision=row.decision,
        reasons=[_said(Reason(**r), locale, asks_for_photos) for r in row.reasons],
        total=row.total,
        low=row.low,
        high=row.high,
        level=row.level,
        currency=row.currency,
        line_items=[li.to_domain() for li in row.line_items],
        photos=list(photos.values()),
        versions=VersionsOut.model_validate(row.versions()),
        verification=VerificationOut.model_validate(row.verification) if row.verification is not None else None,
        created_at=row.created_at,
    )


def unsaved_quote_out(quote: Quote, locale: Locale = DEFAULT_LOCALE) -> QuoteOut:
    """API view of a quote that is not stored (the one-shot endpoint): the view of its row, never saved."""
    return quote_out(quote_row(quote), locale)


# What a customer is told instead of a reason that would reveal another claim.
_CUSTOMER_REASONS: dict[str, tuple[ReasonCode, str]] = {
    "duplicate_photo": (
        "adjuster_check",
        "an adjuster will look at this claim before it is decided; nothing more is needed from you now",
    )
}


def for_customer(quote: QuoteOut, locale: Locale = DEFAULT_LOCALE) -> QuoteOut:
    """A quote without signals about other claims (reasons replaced by what the customer may know)."""
    reasons = []
    for r in quote.reasons:
        if r.code in _CUSTOMER_REASONS:
            code, message = _CUSTOMER_REASONS[r.code]
            r = _said(Reason(code, message, None), locale)
        if r not in reasons:
            reasons.append(r)
    return quote.model_copy(update={"reasons": reasons})


def retake_of(row: ClaimRow, quote: QuoteOut | None, photos_open: bool) -> list[RetakeOut]:
    """After a retake request, until the claim is assessed again: each photo still to replace or close-up to add,
    from the reasons of the quote (a photo replaced or withdrawn since is not asked for again)."""
    if not photos_open or quote is None or quote.decision != "retake_photos":
        return []
    tags = {p.id: tag_of(p) for p in row.photos}
    out: list[RetakeOut] = []
    for r in quote.reasons:
        if r.code not in RETAKE_FIXES and r.code != "no_damage_found":
            continue
        if r.photo_id is not None and r.photo_id not in tags:
            continue  # replaced or withdrawn already
        photo_id = r.photo_id
        tag = tags.get(photo_id) if photo_id else None
        if r.code == "declared_not_found":
            side = next((s for s in SIDES if s == r.params.get("side")), None)
            tag = DeclaredPart(str(r.params.get("part", "")), side)
        part = DeclaredPartOut.of_domain(tag) if tag is not None else None
        out.append(RetakeOut(code=r.code, photo_id=photo_id, part=part, message=r.message))
    return out


def claim_out(row: ClaimRow, adjuster: bool = False, locale: Locale = DEFAULT_LOCALE) -> ClaimOut:
    """API view of a claim with its declared parts, photos and latest quote, and what to retake when asked;
    customers get no cross-claim signal."""
    # The statuses in which the claim takes photos (serve.claims.states.PHOTO_STATES).
    photos_open = row.status in ("submitted", "retake_requested")
    shown = (row.quotes[-1] if row.quotes else None) if adjuster else customer_quote(row)
    quote = quote_out(shown, locale, photos_open) if shown is not None else None
    summary = None
    if not adjuster:
        quote = for_customer(quote, locale) if quote is not None else None
        said = customer_summary(row, quote.reasons if quote is not None else [], locale)
        summary = SummaryOut(next=said.next, reasons=list(said.reasons))
    return ClaimOut.of(
        row,
        declared_parts=[DeclaredPartOut.of_domain(d) for d in declared_of(row)],
        photos=[photo_out(p, adjuster) for p in row.photos],
        quote=quote,
        retake=retake_of(row, quote, photos_open),
        review=review_out(row.reviews[-1]) if row.reviews else None,
        summary=summary,
    )


def review_out(row: ClaimReviewRow) -> ReviewOut:
    """API view of an adjuster's decision."""
    return ReviewOut.of(row, at=row.created_at)


def audit_out(row: AuditEventRow) -> AuditEventOut:
    """API view of one audit event."""
    return AuditEventOut.of(row)

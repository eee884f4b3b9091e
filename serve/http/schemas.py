"""API schemas (requests and responses) and their conversion from rows: the one way a quote reaches the API."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from model.decision import Outcome, Reason, ReasonCode
from model.fields import Text
from model.findings import LineItem
from model.pipeline import PhotoFinding, Quote
from model.quality import QualityIssue
from model.vocabulary import JURISDICTION_PATTERN, REGION_PATTERN, Segment
from serve.db.quotes import quote_row
from serve.db.rows import AuditEventRow, ClaimReviewRow, ClaimRow, PhotoRow, QuoteRow
from serve.http.locale import DEFAULT_LOCALE, Locale, issue_message, reason_message
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


class PhotoOut(PhotoFile, View):
    id: str
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
    created_at: datetime | None = None


class ReviewOut(View):
    """An adjuster's closing decision: what the customer is told once the claim is decided."""

    outcome: Literal["approved", "rejected"]
    amount: float | None = Field(description="the approved amount (absent when rejected)")
    currency: str
    comment: str
    at: datetime


class ClaimOut(View):
    id: str
    status: str
    region: str
    jurisdiction: str
    segment: str
    description: str
    created_at: datetime
    updated_at: datetime
    photos: list[PhotoOut]
    retake_rounds: int = Field(default=0, description="how many times the assessment asked for retakes")
    quote: QuoteOut | None = Field(description="the latest quote, if the claim was assessed")
    review: ReviewOut | None = Field(default=None, description="the adjuster's decision, once made")


class ClaimSummary(View):
    id: str
    status: str
    region: str
    jurisdiction: str
    created_at: datetime
    photo_count: int
    decision: Outcome | None
    total: float | None
    currency: str | None

    @classmethod
    def of_claim(cls, row: ClaimRow, **computed: Any) -> Self:
        """One line of a claim list: the claim, how many photos it holds, and its latest quote's result."""
        latest = row.quotes[-1] if row.quotes else None
        return cls.of(
            row,
            photo_count=len(row.photos),
            decision=latest.decision if latest else None,
            total=latest.total if latest else None,
            currency=latest.currency if latest else None,
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
    problems: list[str]
    policies: list[PolicyOut]


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, bool]
    problems: list[str]


def photo_out(row: PhotoRow, adjuster: bool = False) -> PhotoOut:
    """API view of a stored photo; cross-claim signals only for adjusters and admins."""
    other = row.duplicate_of_claim_id if adjuster else None
    return PhotoOut.of(
        row,
        duplicate=(row.duplicate_of_claim_id is not None) if adjuster else None,
        duplicate_of_claim_id=other,
        duplicate_of_url=f"/review#claim={other}" if other else None,
    )


def _said(reason: Reason, locale: Locale) -> Reason:
    return dataclasses.replace(reason, message=reason_message(reason.code, reason.params, locale, reason.message))


def _said_issue(issue: QualityIssue, locale: Locale) -> QualityIssue:
    return dataclasses.replace(issue, message=issue_message(issue.code, issue.params, locale, issue.message))


def quote_out(row: QuoteRow, locale: Locale = DEFAULT_LOCALE) -> QuoteOut:
    """API view of a quote's row, its sentences in ``locale``."""
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
        reasons=[_said(Reason(**r), locale) for r in row.reasons],
        total=row.total,
        low=row.low,
        high=row.high,
        level=row.level,
        currency=row.currency,
        line_items=[li.to_domain() for li in row.line_items],
        photos=list(photos.values()),
        versions=VersionsOut.model_validate(row.versions()),
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


def claim_out(row: ClaimRow, adjuster: bool = False, locale: Locale = DEFAULT_LOCALE) -> ClaimOut:
    """API view of a claim with its photos and latest quote; customers get no cross-claim signal."""
    quote = quote_out(row.quotes[-1], locale) if row.quotes else None
    if quote is not None and not adjuster:
        quote = for_customer(quote, locale)
    return ClaimOut.of(
        row,
        photos=[photo_out(p, adjuster) for p in row.photos],
        quote=quote,
        review=review_out(row.reviews[-1]) if row.reviews else None,
    )


def review_out(row: ClaimReviewRow) -> ReviewOut:
    """API view of an adjuster's decision."""
    return ReviewOut.of(row, at=row.created_at)


def audit_out(row: AuditEventRow) -> AuditEventOut:
    """API view of one audit event."""
    return AuditEventOut.of(row)

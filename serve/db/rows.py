"""Database rows: keys, claims, photos, quotes with their findings and line items, and the audit log.

A claim's quotes are never updated in place: an adjuster's edit is a new quote row (``source="adjuster"``,
``supersedes_id`` pointing at the one it replaces), so every quote keeps the versions that produced it and
the learning loop can compare the model's quote with the approved one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, get_origin

from pydantic.fields import FieldInfo
from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column, relationship

from model.findings import LineItem
from model.kinds import quote_keys
from model.pipeline import PhotoFinding


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A random identifier for a row that callers see."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite forgets the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use serve.db.rows.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class ClaimRow(Base):
    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("owner_key_id", "idempotency_key", name="uq_claims_owner_idempotency"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    # Changed only through serve.claims.states, which also writes the audit event.
    status: Mapped[str] = mapped_column(String(24), default="submitted", index=True)
    retake_rounds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    region: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str] = mapped_column(String(64))
    segment: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    # The parts the customer says are damaged, in their text form (``Door:left``; model.declared), in order.
    declared_parts: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # The photos in force; withdrawn and replaced ones stay in ``all_photos`` (and in the store).
    photos: Mapped[list[PhotoRow]] = relationship(
        primaryjoin=lambda: and_(ClaimRow.id == PhotoRow.claim_id, PhotoRow.withdrawn_at.is_(None)),
        order_by="PhotoRow.position",
        viewonly=True,
    )
    all_photos: Mapped[list[PhotoRow]] = relationship(back_populates="claim", order_by="PhotoRow.created_at")
    quotes: Mapped[list[QuoteRow]] = relationship(back_populates="claim", order_by="QuoteRow.created_at")
    reviews: Mapped[list[ClaimReviewRow]] = relationship(order_by="ClaimReviewRow.created_at")


class PhotoRow(Base):
    __tablename__ = "photos"
    __table_args__ = (
        UniqueConstraint("claim_id", "sha256", name="uq_photos_claim_sha256"),
        # One photo in force per position; a withdrawn photo gives its position up.
        Index(
            "uq_photos_claim_position_in_force",
            "claim_id",
            "position",
            unique=True,
            sqlite_where=text("withdrawn_at IS NULL"),
            postgresql_where=text("withdrawn_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    byte_size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255), default="")
    duplicate_of_claim_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # Perceptual hash (hex) and its four 16-bit bands, indexed to find near-duplicates (model.phash).
    phash: Mapped[str | None] = mapped_column(String(16), default=None)
    phash_band0: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    phash_band1: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    phash_band2: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    phash_band3: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    uploaded_by: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    replaces_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # The declared part this photo is a close-up of, in its text form (``Door:left``); None: a wide shot.
    part: Mapped[str | None] = mapped_column(String(80), default=None)

    claim: Mapped[ClaimRow] = relationship(back_populates="all_photos")


# What produced a quote, one ``<name>_version`` column each: the models, the pricer, the catalogue, the policy.
VERSIONED = (*quote_keys(), "catalogue", "policy")  # the model kinds a quote records (model/kinds.py), then the rest


class QuoteRow(Base):
    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="model")  # model | adjuster
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("quotes.id"), default=None)
    author_key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"), default=None)
    decision: Mapped[str] = mapped_column(String(24), index=True)
    total: Mapped[float | None] = mapped_column(Float, default=None)
    low: Mapped[float | None] = mapped_column(Float, default=None)
    high: Mapped[float | None] = mapped_column(Float, default=None)
    level: Mapped[float | None] = mapped_column(Float, default=None)
    currency: Mapped[str] = mapped_column(String(8), default="")
    region: Mapped[str] = mapped_column(String(16))
    segment: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str] = mapped_column(String(64))
    detector_version: Mapped[str] = mapped_column(String(120))
    severity_version: Mapped[str] = mapped_column(String(120))
    pricer_version: Mapped[str] = mapped_column(String(120))
    catalogue_version: Mapped[str] = mapped_column(String(120))
    policy_version: Mapped[str] = mapped_column(String(120))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    photo_checks: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[list[Any]] = mapped_column(default=list)
    # The declared parts checked against the findings (serve.db.quotes.verification_detail); None: none declared.
    verification: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # Per step of the policy's path, what it would have done; the blind and audit draws; the verdict
    # (serve.claims.autonomy.record). None: a quote from before autonomy, or a policy without a path.
    autonomy: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    claim: Mapped[ClaimRow] = relationship(back_populates="quotes")
    findings: Mapped[list[FindingRow]] = relationship(order_by="FindingRow.position", cascade="all")
    line_items: Mapped[list[LineItemRow]] = relationship(order_by="LineItemRow.position", cascade="all")

    def versions(self) -> dict[str, str]:
        """The version of each part that produced this quote, by :data:`VERSIONED` name."""
        return {name: getattr(self, f"{name}_version") for name in VERSIONED}

    @staticmethod
    def version_columns(versions: Mapping[str, str]) -> dict[str, str]:
        """The ``*_version`` columns for these versions ("" where one is not given)."""
        return {f"{name}_version": versions.get(name, "") for name in VERSIONED}


class FindingRow(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"), index=True)
    photo_id: Mapped[str] = mapped_column(ForeignKey("photos.id"))
    position: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(64))
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    severity: Mapped[dict[str, Any]] = mapped_column()
    area_fraction: Mapped[float] = mapped_column(Float)
    agreement: Mapped[float | None] = mapped_column(Float, nullable=True)  # the part verifier's; none: not run

    @classmethod
    def from_domain(cls, photo_id: str, position: int, finding: PhotoFinding) -> FindingRow:
        x1, y1, x2, y2 = finding.box
        return cls(
            photo_id=photo_id,
            position=position,
            part=finding.part,
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            score=finding.score,
            severity=dict(finding.severity),
            area_fraction=finding.area_fraction,
            agreement=finding.agreement,
        )

    def to_domain(self) -> PhotoFinding:
        box = (self.x1, self.y1, self.x2, self.y2)
        return PhotoFinding(self.part, box, self.score, dict(self.severity), self.area_fraction, self.agreement)


class LineItemRow(Base):
    """One line item of a quote: its place, and one column per field of :class:`model.findings.LineItem`."""

    __tablename__ = "line_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)

    @classmethod
    def from_domain(cls, position: int, item: LineItem) -> LineItemRow:
        return cls(position=position, **item.model_dump())

    def to_domain(self) -> LineItem:
        # Stored rows are trusted as written (an older row may hold a value the API no longer accepts).
        return LineItem.model_construct(**{name: getattr(self, name) for name in LineItem.model_fields})


def column_for(field: FieldInfo) -> MappedColumn[Any]:
    """The column a domain field is stored in: a code or a short name as a string, longer text as text."""
    kind = get_origin(field.annotation) or field.annotation
    if kind is float:
        sql_type: Any = Float
    elif kind is int:
        sql_type = Integer
    elif kind is Literal:
        sql_type = String(16)
    elif kind is str:
        limits = [m.max_length for m in field.metadata if getattr(m, "max_length", None) is not None]
        longest = min(limits, default=None)
        sql_type = String(longest) if longest is not None and longest <= 255 else Text
    else:
        raise TypeError(f"no column type for {field.annotation!r}; add one to serve.db.rows.column_for")
    default = None if field.is_required() else field.default
    return mapped_column(sql_type, default=default) if default is not None else mapped_column(sql_type)


for _name, _field in LineItem.model_fields.items():
    setattr(LineItemRow, _name, column_for(_field))


class AuditEventRow(Base):
    """Append-only: a database trigger refuses UPDATE and DELETE (see the first migration); each event carries
    the hash of the one before it, in the whole log and in its claim (``serve.db.audit_chain``)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    claim_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    claim_prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The audit log's head, one row: how many events it holds and the last one's hash (locked by appends)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    events: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class BoxCorrectionRow(Base):
    """An adjuster's full set of boxes for one photo; the latest row of a photo replaces the model's boxes."""

    __tablename__ = "box_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    photo_id: Mapped[str] = mapped_column(ForeignKey("photos.id"), index=True)
    quote_id: Mapped[str | None] = mapped_column(ForeignKey("quotes.id"), default=None)
    boxes: Mapped[list[Any]] = mapped_column(default=list)  # [{"part", "x1", "y1", "x2", "y2"}] in pixels
    author_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClaimReviewRow(Base):
    """An adjuster's closing decision on a claim: approved with a final amount, or rejected with a comment."""

    __tablename__ = "claim_reviews"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # approved | rejected
    amount: Mapped[float | None] = mapped_column(Float, default=None)
    currency: Mapped[str] = mapped_column(String(8), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    quote_id: Mapped[str | None] = mapped_column(ForeignKey("quotes.id"), default=None)
    author_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ShadowQuoteRow(Base):
    """A candidate model's quote on a live request: stored for comparison, never shown or used."""

    __tablename__ = "shadow_quotes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    main_quote_id: Mapped[str | None] = mapped_column(ForeignKey("quotes.id"), default=None)
    decision: Mapped[str] = mapped_column(String(24))
    total: Mapped[float | None] = mapped_column(Float, default=None)
    low: Mapped[float | None] = mapped_column(Float, default=None)
    high: Mapped[float | None] = mapped_column(Float, default=None)
    currency: Mapped[str] = mapped_column(String(8), default="")
    versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    findings: Mapped[list[Any]] = mapped_column(default=list)
    line_items: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ModelPromotionRow(Base):
    """A promotion, in order: every replica runs the models of the latest row (paths relative to the registry)."""

    __tablename__ = "model_promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    detector: Mapped[str | None] = mapped_column(String(1000), default=None)
    severity: Mapped[str | None] = mapped_column(String(1000), default=None)
    versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    chosen_by: Mapped[str | None] = mapped_column(String(64), default=None)
    chosen_at: Mapped[datetime] = mapped_column(default=utcnow)


class GradingRow(Base):
    """One graded decision (append-only, like the audit log): what the model proposed against what the adjuster
    decided, with the versions that proposed it and, per step of the policy's path, that step's grading (None:
    the step would not have settled it). One row per kind per review; ``serve.claims.autonomy`` replays them."""

    __tablename__ = "gradings"
    __table_args__ = (UniqueConstraint("review_id", "kind", name="uq_gradings_review_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("claim_reviews.id"))
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"))
    kind: Mapped[str] = mapped_column(String(24))  # settle | partial_release
    models: Mapped[str] = mapped_column(String(400), index=True)  # detector|severity|pricer: the evidence key
    detector_version: Mapped[str] = mapped_column(String(120))
    severity_version: Mapped[str] = mapped_column(String(120))
    pricer_version: Mapped[str] = mapped_column(String(120))
    catalogue_version: Mapped[str] = mapped_column(String(120))
    policy_version: Mapped[str] = mapped_column(String(120), index=True)
    blind: Mapped[bool] = mapped_column(default=False)
    action: Mapped[str] = mapped_column(String(16))  # approve | edit | reject
    proposed_amount: Mapped[float] = mapped_column(Float)
    final_amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(8), default="")
    wrong: Mapped[bool] = mapped_column(default=False)
    overpay: Mapped[bool] = mapped_column(default=False)
    underpay: Mapped[bool] = mapped_column(default=False)
    would_settle: Mapped[list[Any]] = mapped_column(default=list)  # per step, strict to loose
    steps: Mapped[list[Any]] = mapped_column(default=list)  # per step: the grading's fields, or None
    autonomous: Mapped[bool] = mapped_column(default=False)  # a step was autonomous when it was decided
    audit_drawn: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutonomyStateRow(Base):
    """A step's state as last recorded (append-only): each change, and each admin's confirmation of a switch-on,
    per evidence key (models, policy version, kind) and step."""

    __tablename__ = "autonomy_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    models: Mapped[str] = mapped_column(String(400), index=True)
    policy_version: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(24))
    step: Mapped[str] = mapped_column(String(80))
    event: Mapped[str] = mapped_column(String(16))  # state | confirmed
    state: Mapped[str] = mapped_column(String(24))  # shadow | pending_confirmation | autonomous | revoked
    actor_key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)

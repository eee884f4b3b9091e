"""Claims, their photos and quotes in the database; every change leaves an audit event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from model.errors import ClaimNotFound, ClaimStateConflict, IdempotencyConflict, TooManyPhotos
from model.pipeline import Quote
from serve.auth import Principal
from serve.db import audit
from serve.db.rows import (
    CLOSED_STATUSES,
    ClaimRow,
    FindingRow,
    LineItemRow,
    PhotoRow,
    QuoteRow,
    utcnow,
)

STATUS_AFTER = {"auto_settle": "assessed", "human_review": "in_review", "retake_photos": "retake_requested"}


@dataclass(frozen=True)
class NewClaim:
    """What a caller asks for when opening a claim."""

    region: str
    jurisdiction: str
    segment: str
    description: str = ""


@dataclass(frozen=True)
class StoredPhoto:
    """A photo already written to the photo store, ready to be attached to a claim."""

    sha256: str
    content_type: str
    byte_size: int
    width: int
    height: int
    filename: str


def find_idempotent(session: Session, principal: Principal, key: str, request_hash: str) -> ClaimRow | None:
    """The claim this caller already opened with ``key``; refuse a different body under the same key."""
    row = session.scalar(
        select(ClaimRow).where(ClaimRow.owner_key_id == principal.key_id, ClaimRow.idempotency_key == key)
    )
    if row is not None and row.request_hash != request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request body; "
            "send the same body to get the same claim, or use a new key for a new claim"
        )
    return row


def create_claim(
    session: Session,
    principal: Principal,
    new: NewClaim,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> ClaimRow:
    """Open a claim owned by the caller."""
    row = ClaimRow(
        owner_key_id=principal.key_id,
        region=new.region,
        jurisdiction=new.jurisdiction,
        segment=new.segment,
        description=new.description,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        principal,
        "claim.created",
        row.id,
        {"region": new.region, "jurisdiction": new.jurisdiction, "segment": new.segment},
    )
    return row


def get_claim(session: Session, principal: Principal, claim_id: str) -> ClaimRow:
    """A claim the caller may see; another customer's claim is 'not found', not 'forbidden'."""
    stmt = (
        select(ClaimRow)
        .where(ClaimRow.id == claim_id)
        .options(
            selectinload(ClaimRow.photos),
            selectinload(ClaimRow.quotes).selectinload(QuoteRow.findings),
            selectinload(ClaimRow.quotes).selectinload(QuoteRow.line_items),
            selectinload(ClaimRow.reviews),
        )
    )
    row = session.scalar(stmt)
    if row is None or (not principal.sees_all_claims and row.owner_key_id != principal.key_id):
        raise ClaimNotFound(f"no claim {claim_id!r} for this key; list yours with GET /v1/claims")
    return row


def list_claims(
    session: Session, principal: Principal, status: str | None, limit: int, offset: int
) -> Sequence[ClaimRow]:
    """The caller's claims (every claim for adjusters and admins), newest first."""
    stmt = select(ClaimRow).options(selectinload(ClaimRow.photos), selectinload(ClaimRow.quotes))
    if not principal.sees_all_claims:
        stmt = stmt.where(ClaimRow.owner_key_id == principal.key_id)
    if status:
        stmt = stmt.where(ClaimRow.status == status)
    stmt = stmt.order_by(ClaimRow.created_at.desc(), ClaimRow.id).limit(limit).offset(offset)
    return session.scalars(stmt).all()


def duplicate_of(session: Session, sha256: str, claim_id: str | None) -> str | None:
    """The id of another claim that already holds a photo with this sha256, if any."""
    stmt = select(PhotoRow.claim_id).where(PhotoRow.sha256 == sha256)
    if claim_id is not None:
        stmt = stmt.where(PhotoRow.claim_id != claim_id)
    return session.scalar(stmt.order_by(PhotoRow.created_at).limit(1))


def ensure_open(claim: ClaimRow) -> None:
    """Refuse changes to a claim an adjuster has closed."""
    if claim.status in CLOSED_STATUSES:
        raise ClaimStateConflict(f"claim {claim.id} is {claim.status}; open a new claim for new damage")


def add_photos(
    session: Session, principal: Principal, claim: ClaimRow, photos: Sequence[StoredPhoto], max_photos: int
) -> list[PhotoRow]:
    """Attach stored photos to a claim; the same photo sent twice to one claim is attached once."""
    ensure_open(claim)
    have = {p.sha256: p for p in claim.photos}
    fresh = [p for p in dict((p.sha256, p) for p in photos).values() if p.sha256 not in have]
    if len(have) + len(fresh) > max_photos:
        raise TooManyPhotos(
            f"a claim holds at most {max_photos} photos and this one has {len(have)}; "
            f"send at most {max(0, max_photos - len(have))} more"
        )
    rows: list[PhotoRow] = []
    for photo in photos:
        if photo.sha256 in have:
            rows.append(have[photo.sha256])
            continue
        row = PhotoRow(
            claim_id=claim.id,
            position=len(have),
            sha256=photo.sha256,
            content_type=photo.content_type,
            byte_size=photo.byte_size,
            width=photo.width,
            height=photo.height,
            filename=photo.filename[:255],
            duplicate_of_claim_id=duplicate_of(session, photo.sha256, claim.id),
            uploaded_by=principal.key_id,
        )
        claim.photos.append(row)
        have[photo.sha256] = row
        rows.append(row)
        session.flush()
        audit.record(
            session,
            principal,
            "photo.added",
            claim.id,
            {"photo_id": row.id, "sha256": row.sha256, "duplicate_of_claim": row.duplicate_of_claim_id},
        )
    if claim.status == "retake_requested" and fresh:
        claim.status = "submitted"
    claim.updated_at = utcnow()
    return rows


def save_quote(session: Session, principal: Principal, claim: ClaimRow, quote: Quote) -> QuoteRow:
    """Record a model quote with its findings, line items, reasons and versions; move the claim on."""
    est = quote.estimate
    versions = quote.versions
    row = QuoteRow(
        claim_id=claim.id,
        source="model",
        decision=quote.decision.outcome,
        total=est.total if est else None,
        low=est.low if est else None,
        high=est.high if est else None,
        level=est.level if est else None,
        currency=quote.currency,
        region=quote.context.region,
        segment=quote.context.segment,
        jurisdiction=quote.jurisdiction,
        detector_version=versions.get("detector", ""),
        severity_version=versions.get("severity", ""),
        pricer_version=versions.get("pricer", ""),
        catalogue_version=versions.get("catalogue", ""),
        policy_version=versions.get("policy", ""),
        reasons=[
            {"code": r.code, "message": r.message, "photo_id": r.photo_id} for r in quote.decision.reasons
        ],
        photo_checks=[
            {
                "photo_id": p.photo_id,
                "brightness": round(p.quality.brightness, 2),
                "sharpness": round(p.quality.sharpness, 2),
                "issues": [{"code": i.code, "message": i.message} for i in p.quality.issues],
            }
            for p in quote.photos
        ],
        notes=list(est.notes) if est else [],
    )
    position = 0
    for photo in quote.photos:
        for f in photo.findings:
            x1, y1, x2, y2 = f.box
            row.findings.append(
                FindingRow(
                    photo_id=photo.photo_id,
                    position=position,
                    part=f.part,
                    x1=x1,
                    y1=y1,
                    x2=x2,
                    y2=y2,
                    score=f.score,
                    severity=dict(f.severity),
                    area_fraction=f.area_fraction,
                )
            )
            position += 1
    for i, item in enumerate(est.line_items if est else ()):
        row.line_items.append(
            LineItemRow(
                position=i,
                part=item.part,
                operation=item.operation,
                parts_cost=item.parts_cost,
                labour_hours=item.labour_hours,
                labour_cost=item.labour_cost,
                refinish_hours=item.refinish_hours,
                refinish_cost=item.refinish_cost,
                materials_cost=item.materials_cost,
                total=item.total,
                description=item.description,
            )
        )
    claim.quotes.append(row)
    previous = claim.status
    claim.status = STATUS_AFTER[quote.decision.outcome]
    claim.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        principal,
        "quote.decided",
        claim.id,
        {
            "quote_id": row.id,
            "decision": row.decision,
            "reasons": [r.code for r in quote.decision.reasons],
            "total": row.total,
            "currency": row.currency,
            "versions": dict(versions),
            "status": {"from": previous, "to": claim.status},
        },
    )
    return row

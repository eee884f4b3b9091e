"""The adjuster's work on claims in the database: the queue, line-item edits, box corrections, approve, reject.

Nothing is updated in place: a line-item edit is a new quote row (``source="adjuster"``, ``supersedes_id``),
a box correction is a new row holding the photo's full set of boxes, a decision is a review row; each
action's audit event (with the adjuster's key and the time) is written by ``serve.claims.states`` from the
detail these functions return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from model.errors import UnknownPart
from model.findings import LineItem
from serve.db.keys import Principal
from serve.db.rows import (
    VERSIONED,
    BoxCorrectionRow,
    ClaimReviewRow,
    ClaimRow,
    FindingRow,
    LineItemRow,
    PhotoRow,
    QuoteRow,
)
from serve.errors import ClaimStateConflict, InvalidBox, PhotoNotFound, shown

QUEUE_STATUSES = ("in_review",)
# What an adjuster's quote keeps from the quote it supersedes: the decision, the context and what produced it.
_KEPT = ("decision", "currency", "region", "segment", "jurisdiction", *(f"{n}_version" for n in VERSIONED))


@dataclass(frozen=True)
class Box:
    """One box on one photo, in pixels of the upright photo."""

    part: str
    x1: float
    y1: float
    x2: float
    y2: float
    score: float | None = None  # the detector's score; None for a box an adjuster drew or relabelled

    def as_dict(self) -> dict[str, float | str]:
        return {"part": self.part, "x1": self.x1, "y1": self.y1, "x2": self.x2, "y2": self.y2}


@dataclass(frozen=True)
class QueueFilter:
    reason: str | None = None
    min_total: float | None = None
    max_total: float | None = None


def latest_quote(claim: ClaimRow) -> QuoteRow | None:
    """The quote in force: the newest one, whoever wrote it."""
    return claim.quotes[-1] if claim.quotes else None


def model_quote(claim: ClaimRow) -> QuoteRow | None:
    """The newest quote the models produced (what the adjuster's edits started from)."""
    model = [q for q in claim.quotes if q.source == "model"]
    return model[-1] if model else None


def _matches(claim: ClaimRow, wanted: QueueFilter) -> bool:
    quote = latest_quote(claim)
    if quote is None:
        return wanted.reason is None and wanted.min_total is None and wanted.max_total is None
    if wanted.reason and wanted.reason not in {r.get("code") for r in quote.reasons}:
        return False
    total = quote.total
    if wanted.min_total is not None and (total is None or total < wanted.min_total):
        return False
    return not (wanted.max_total is not None and (total is None or total > wanted.max_total))


def review_queue(
    session: Session, wanted: QueueFilter, limit: int, offset: int
) -> tuple[list[ClaimRow], int]:
    """Claims routed to a human, oldest first, filtered by reason and amount; and how many match."""
    stmt = (
        select(ClaimRow)
        .where(ClaimRow.status.in_(QUEUE_STATUSES))
        .options(selectinload(ClaimRow.photos), selectinload(ClaimRow.quotes))
        .order_by(ClaimRow.created_at, ClaimRow.id)
    )
    # Reasons live in a JSON column; filtering them in Python keeps SQLite and PostgreSQL alike.
    rows = [c for c in session.scalars(stmt).all() if _matches(c, wanted)]
    return rows[offset : offset + limit], len(rows)


def photo_of(claim: ClaimRow, photo_id: str) -> PhotoRow:
    """A photo of this claim (also a withdrawn one), or photo_not_found."""
    for photo in claim.all_photos:
        if photo.id == photo_id:
            return photo
    raise PhotoNotFound(f"claim {claim.id} has no photo {shown(photo_id)}; GET /v1/claims/{claim.id} lists them")


def corrections(session: Session, claim_id: str) -> dict[str, BoxCorrectionRow]:
    """The latest box correction of each photo of a claim."""
    stmt = (
        select(BoxCorrectionRow)
        .where(BoxCorrectionRow.claim_id == claim_id)
        .order_by(BoxCorrectionRow.created_at, BoxCorrectionRow.id)
    )
    return {row.photo_id: row for row in session.scalars(stmt).all()}


def current_boxes(session: Session, claim: ClaimRow) -> dict[str, tuple[list[Box], bool]]:
    """Each photo's boxes (the adjuster's latest correction, else the model's) and whether corrected."""
    corrected = corrections(session, claim.id)
    quote = model_quote(claim)
    out: dict[str, tuple[list[Box], bool]] = {}
    for photo in claim.photos:
        if photo.id in corrected:
            out[photo.id] = ([Box(**b) for b in corrected[photo.id].boxes], True)
            continue
        found = [f for f in (quote.findings if quote else []) if f.photo_id == photo.id]
        out[photo.id] = ([Box(f.part, f.x1, f.y1, f.x2, f.y2, f.score) for f in found], False)
    return out


def check_part(part: str, parts: Sequence[str]) -> None:
    """Refuse a part the detector does not know (when the detector's classes are known)."""
    if parts and part not in parts:
        raise UnknownPart(f"unknown part {part!r}; choose one of {', '.join(parts)}")


def correct_boxes(
    session: Session,
    principal: Principal,
    claim: ClaimRow,
    photo_id: str,
    boxes: Sequence[Box],
    parts: Sequence[str],
) -> dict[str, Any]:
    """Replace a photo's boxes with the adjuster's (relabelled, deleted, drawn); every box must fit the photo.

    Returns the audit detail."""
    photo = photo_of(claim, photo_id)
    for box in boxes:
        check_part(box.part, parts)
        inside = 0 <= box.x1 < box.x2 <= photo.width and 0 <= box.y1 < box.y2 <= photo.height
        if not inside:
            raise InvalidBox(
                f"the {box.part} box ({box.x1:.0f}, {box.y1:.0f}, {box.x2:.0f}, {box.y2:.0f}) is empty or "
                f"outside the {photo.width}x{photo.height} photo; draw it inside the photo"
            )
    before = current_boxes(session, claim)[photo_id][0]
    quote = model_quote(claim)
    row = BoxCorrectionRow(
        claim_id=claim.id,
        photo_id=photo_id,
        quote_id=quote.id if quote else None,
        boxes=[b.as_dict() for b in boxes],
        author_key_id=principal.key_id,
    )
    session.add(row)
    session.flush()
    return {"photo_id": photo_id, "before": [b.as_dict() for b in before], "after": row.boxes}


def edit_line_items(
    session: Session,
    principal: Principal,
    claim: ClaimRow,
    lines: Sequence[LineItem],
    parts: Sequence[str],
) -> dict[str, Any]:
    """A new adjuster quote with these line items, superseding the one in force; the total is their sum.

    Returns the audit detail."""
    base = latest_quote(claim)
    if base is None:
        raise ClaimStateConflict(f"claim {claim.id} has no quote to edit yet; assess it first")
    for line in lines:
        check_part(line.part, parts)
    total = round(sum(line.total for line in lines), 2)
    row = QuoteRow(
        claim_id=claim.id,
        source="adjuster",
        supersedes_id=base.id,
        author_key_id=principal.key_id,
        total=total,  # exact: no interval (low, high, level stay empty)
        **{name: getattr(base, name) for name in _KEPT},
        reasons=list(base.reasons),
        photo_checks=list(base.photo_checks),
        verification=base.verification,
        notes=[*base.notes, f"line items edited by an adjuster ({principal.name})"],
    )
    row.findings.extend(FindingRow.from_domain(f.photo_id, f.position, f.to_domain()) for f in base.findings)
    row.line_items.extend(LineItemRow.from_domain(i, line) for i, line in enumerate(lines))
    claim.quotes.append(row)
    session.flush()
    return {
        "quote_id": row.id,
        "supersedes_id": base.id,
        "total": {"from": base.total, "to": total},
        "currency": row.currency,
        "before": [_line_detail(li.to_domain()) for li in base.line_items],
        "after": [_line_detail(line) for line in lines],
    }


def _line_detail(line: LineItem) -> dict[str, object]:
    return {"part": line.part, "operation": line.operation, "total": line.total}


def approve(
    session: Session, principal: Principal, claim: ClaimRow, amount: float, comment: str = ""
) -> dict[str, Any]:
    """Close the claim as approved for ``amount`` (in the quote's currency)."""
    return _decide(session, principal, claim, "approved", round(amount, 2), comment)


def reject(session: Session, principal: Principal, claim: ClaimRow, comment: str) -> dict[str, Any]:
    """Close the claim as rejected; the comment says why."""
    return _decide(session, principal, claim, "rejected", None, comment)


def _decide(
    session: Session, principal: Principal, claim: ClaimRow, outcome: str, amount: float | None, comment: str
) -> dict[str, Any]:
    quote = latest_quote(claim)
    if quote is None:
        raise ClaimStateConflict(f"claim {claim.id} was never assessed; assess it before deciding it")
    row = ClaimReviewRow(
        claim_id=claim.id,
        outcome=outcome,
        amount=amount,
        currency=quote.currency,
        comment=comment,
        quote_id=quote.id,
        author_key_id=principal.key_id,
    )
    claim.reviews.append(row)
    session.flush()
    return {
        "review_id": row.id,
        "quote_id": quote.id,
        "amount": row.amount,
        "quoted_total": quote.total,
        "currency": row.currency,
        "comment": row.comment,
    }

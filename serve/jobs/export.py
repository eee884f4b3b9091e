"""Reviewed claims out as training data: ``autoquote export-reviewed --out DIR``.

The folder the training commands read (``training/`` never imports the service)::

    detect/images/aq-<sha256[:16]>.<ext>   photos of reviewed claims, copied from the photo store
    detect/labels/aq-<sha256[:16]>.txt     their boxes (adjuster-corrected, else the model's) as YOLO rows
    detect/classes.txt                     the class names, one a line, in class-id order
    ledger.csv                             approved amounts in the claims-ledger schema (model/ledger.py)
    shadow_quotes.jsonl                    each shadow quote beside the quote in service and the final decision
    export.json                            counts and what was skipped, and why

Photos of approved claims are exported, and of rejected claims only where an adjuster corrected the boxes
(a rejection is not a statement about the boxes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from model.ledger import LedgerFinding, LedgerRow, write_ledger
from serve.db import review
from serve.db.rows import ClaimRow, QuoteRow, ShadowQuoteRow, utcnow
from serve.photos.store import PhotoStore

LEDGER_SOURCE = "adjuster-approved"
SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
# A box an adjuster drew has no severity grade; this prior marks it as moderate (documented in export.json).
DRAWN_SEVERITY = {"minor": 0.0, "moderate": 1.0, "severe": 0.0}


@dataclass
class ExportReport:
    """What one export wrote: claims read (and why any part of one was left out), images, ledger rows."""

    claims: int = 0
    approved: int = 0
    skipped: list[str] = field(default_factory=list)
    images: int = 0
    boxes: int = 0
    corrected_photos: int = 0
    ledger_rows: int = 0
    shadow_quotes: int = 0


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _severity(box: review.Box, photo_id: str, quote: QuoteRow | None) -> dict[str, float]:
    """The model's grade of the finding this box overlaps most (IoU >= 0.5), else the drawn-box prior."""
    best, grade = 0.5, DRAWN_SEVERITY
    for f in quote.findings if quote else []:
        if f.photo_id != photo_id:
            continue
        overlap = _iou((box.x1, box.y1, box.x2, box.y2), (f.x1, f.y1, f.x2, f.y2))
        if overlap >= best:
            best, grade = overlap, {k: float(v) for k, v in f.severity.items()}
    return dict(grade)


def _reviewed(session: Session) -> list[ClaimRow]:
    stmt = (
        select(ClaimRow)
        .where(ClaimRow.status.in_(("approved", "rejected")))
        .options(
            selectinload(ClaimRow.photos),
            selectinload(ClaimRow.reviews),
            selectinload(ClaimRow.quotes).selectinload(QuoteRow.findings),
        )
        .order_by(ClaimRow.created_at, ClaimRow.id)
    )
    return list(session.scalars(stmt).all())


def export_reviewed(session: Session, store: PhotoStore, out: Path, classes: Sequence[str]) -> ExportReport:
    """Write reviewed claims under ``out`` (see the module docstring); returns what was written."""
    report = ExportReport()
    images, labels = out / "detect" / "images", out / "detect" / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    (out / "detect" / "classes.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
    class_id = {name: i for i, name in enumerate(classes)}
    ledger: list[LedgerRow] = []
    for claim in _reviewed(session):
        report.claims += 1
        decision = claim.reviews[-1] if claim.reviews else None
        approved = decision is not None and decision.outcome == "approved"
        report.approved += int(approved)
        boxes = review.current_boxes(session, claim)
        quote = review.model_quote(claim)
        findings: list[LedgerFinding] = []
        for photo in claim.photos:
            found, corrected = boxes[photo.id]
            if not approved and not corrected:
                continue
            stem = f"aq-{photo.sha256[:16]}"
            rows = []
            for box in found:
                if box.part not in class_id:
                    report.skipped.append(
                        f"claim {claim.id} photo {photo.id}: part {box.part!r} is not a class"
                    )
                    continue
                cx, cy = (box.x1 + box.x2) / 2 / photo.width, (box.y1 + box.y2) / 2 / photo.height
                w, h = (box.x2 - box.x1) / photo.width, (box.y2 - box.y1) / photo.height
                rows.append(f"{class_id[box.part]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
                area = (box.x2 - box.x1) * (box.y2 - box.y1) / float(photo.width * photo.height)
                findings.append(
                    LedgerFinding(
                        part=box.part,
                        severity=_severity(box, photo.id, quote),
                        area_fraction=round(min(1.0, area), 6),
                        photo_id=photo.id,
                    )
                )
            (images / (stem + SUFFIX.get(photo.content_type, ".jpg"))).write_bytes(store.get(photo.sha256))
            (labels / (stem + ".txt")).write_text("".join(rows), encoding="utf-8")
            report.images += 1
            report.boxes += len(rows)
            report.corrected_photos += int(corrected)
        if approved and decision is not None and decision.amount is not None:
            if not findings:
                report.skipped.append(f"claim {claim.id}: approved without any box, no ledger row")
                continue
            ledger.append(
                LedgerRow(
                    claim_id=claim.id,
                    date=decision.created_at.date(),
                    region=claim.region,
                    segment=claim.segment,
                    currency=decision.currency,
                    paid=decision.amount,
                    findings=tuple(findings),
                    source=LEDGER_SOURCE,
                )
            )
    write_ledger(ledger, out / "ledger.csv")
    report.ledger_rows = len(ledger)
    report.shadow_quotes = _export_shadow(session, out / "shadow_quotes.jsonl")
    summary = {
        **report.__dict__,
        "exported_at": utcnow().isoformat(timespec="seconds"),
        "classes": list(classes),
        "drawn_box_severity": DRAWN_SEVERITY,
    }
    (out / "export.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return report


def _export_shadow(session: Session, path: Path) -> int:
    stmt = select(ShadowQuoteRow).order_by(ShadowQuoteRow.created_at, ShadowQuoteRow.id)
    shadows = list(session.scalars(stmt).all())
    claims = {
        c.id: c
        for c in session.scalars(
            select(ClaimRow)
            .where(ClaimRow.id.in_({s.claim_id for s in shadows}))
            .options(selectinload(ClaimRow.quotes), selectinload(ClaimRow.reviews))
        ).all()
    }
    with path.open("w", encoding="utf-8") as fh:
        for s in shadows:
            claim = claims[s.claim_id]
            main = next((q for q in claim.quotes if q.id == s.main_quote_id), None)
            final = claim.reviews[-1] if claim.reviews else None
            record = {
                "claim_id": s.claim_id,
                "at": s.created_at.isoformat(),
                "service": {
                    "decision": main.decision if main else None,
                    "total": main.total if main else None,
                    "versions": {
                        "detector": main.detector_version,
                        "severity": main.severity_version,
                        "pricer": main.pricer_version,
                    }
                    if main
                    else {},
                },
                "shadow": {
                    "decision": s.decision,
                    "total": s.total,
                    "low": s.low,
                    "high": s.high,
                    "versions": s.versions,
                    "reasons": [r.get("code") for r in s.reasons],
                },
                "currency": s.currency,
                "final": {"outcome": final.outcome, "amount": final.amount} if final else None,
            }
            fh.write(json.dumps(record) + "\n")
    return len(shadows)

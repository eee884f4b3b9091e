"""A quote as rows: the domain :class:`~model.pipeline.Quote` converted, in this module only, to the quote the
service records (with its findings and line items), to a shadow candidate's quote, and to an audit detail.

The API reads the recorded shape (``serve.http.schemas.quote_out``), so a quote has one way into the
database and one way out to the API; a quote that is never stored (the one-shot endpoint) is shown through
an unsaved row.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from model.declared import Verification
from model.findings import PriceEstimate
from model.pipeline import Quote
from serve.db.rows import ClaimRow, FindingRow, LineItemRow, QuoteRow, ShadowQuoteRow


def priced(estimate: PriceEstimate | None) -> tuple[float | None, float | None, float | None, float | None]:
    """A price as the columns it is recorded in: total, low, high and the interval's level (None unpriced)."""
    if estimate is None:
        return None, None, None, None
    return estimate.total, estimate.low, estimate.high, estimate.level


def verification_detail(verification: Verification | None) -> dict[str, Any] | None:
    """Declared against found as the quote records it: each declared part with its status, the photo that
    confirmed it (else the close-up to retake) and the score; each undeclared part once, where it was seen best."""
    if verification is None:
        return None
    undeclared = []
    for part in verification.undeclared_parts:
        best = max((f for f in verification.undeclared if f.part == part), key=lambda f: f.score)
        undeclared.append({"part": part, "photo_id": best.photo_id, "score": round(best.score, 4)})
    return {
        "threshold": verification.threshold,
        "parts": [
            {
                "part": check.declared.part,
                "side": check.declared.side,
                "status": check.status,
                "photo_id": check.photo_id,
                "close_ups": list(check.close_ups),
                "score": round(check.finding.score, 4) if check.finding is not None else None,
            }
            for check in verification.parts
        ],
        "undeclared": undeclared,
    }


def quote_row(quote: Quote) -> QuoteRow:
    """A model quote as a row, not yet in any session: findings, line items, reasons, photo checks, versions."""
    est = quote.estimate
    total, low, high, level = priced(est)
    row = QuoteRow(
        source="model",
        decision=quote.decision.outcome,
        total=total,
        low=low,
        high=high,
        level=level,
        currency=quote.currency,
        region=quote.context.region,
        segment=quote.context.segment,
        jurisdiction=quote.jurisdiction,
        **QuoteRow.version_columns(quote.versions),
        reasons=[asdict(r) for r in quote.decision.reasons],
        photo_checks=[
            {
                "photo_id": p.photo_id,
                "brightness": round(p.quality.brightness, 2),
                "sharpness": round(p.quality.sharpness, 2),
                "issues": [asdict(i) for i in p.quality.issues],
            }
            for p in quote.photos
        ],
        notes=list(est.notes) if est else [],
        verification=verification_detail(quote.verification),
    )
    found = [(photo.photo_id, f) for photo in quote.photos for f in photo.findings]
    row.findings.extend(FindingRow.from_domain(pid, i, f) for i, (pid, f) in enumerate(found))
    row.line_items.extend(LineItemRow.from_domain(i, item) for i, item in enumerate(est.line_items if est else ()))
    return row


def save_quote(
    session: Session, claim: ClaimRow, quote: Quote, autonomy: dict[str, Any] | None = None
) -> QuoteRow:
    """Record a model quote of a claim (flushed, not committed), with its steps' shadow and draws if any."""
    row = quote_row(quote)
    row.autonomy = autonomy
    claim.quotes.append(row)
    session.flush()
    return row


def quote_detail(row: QuoteRow) -> dict[str, Any]:
    """What the audit trail records about a model quote (and, when parts are declared, what was confirmed)."""
    detail: dict[str, Any] = {
        "quote_id": row.id,
        "decision": row.decision,
        "reasons": [r["code"] for r in row.reasons],
        "photos": [c["photo_id"] for c in row.photo_checks],
        "total": row.total,
        "currency": row.currency,
        "versions": row.versions(),
    }
    if row.autonomy is not None:
        verdict = row.autonomy["verdict"]
        detail["autonomy"] = {"action": verdict["action"], "step": verdict["step"], "why": verdict["explanation"]}
        release = row.autonomy.get("release")
        if release is not None:  # auto_partial: paid now, and what an adjuster decides
            detail["autonomy"]["released_amount"] = release["released_amount"]
            detail["autonomy"]["held_amount"] = release["held_amount"]
    if row.verification is not None:
        parts = row.verification["parts"]
        detail["declared"] = {(f"{p['part']}:{p['side']}" if p["side"] else p["part"]): p["status"] for p in parts}
        detail["undeclared"] = [u["part"] for u in row.verification["undeclared"]]
    return detail


def shadow_row(claim_id: str, main_quote_id: str | None, quote: Quote) -> ShadowQuoteRow:
    """A candidate's quote as a row (findings and line items as JSON: nothing else reads them)."""
    est = quote.estimate
    total, low, high, _level = priced(est)
    return ShadowQuoteRow(
        claim_id=claim_id,
        main_quote_id=main_quote_id,
        decision=quote.decision.outcome,
        total=total,
        low=low,
        high=high,
        currency=quote.currency,
        versions=dict(quote.versions),
        reasons=[{"code": r.code, "message": r.message} for r in quote.decision.reasons],
        findings=[
            {
                "photo_id": p.photo_id,
                "part": f.part,
                "box": list(f.box),
                "score": f.score,
                "severity": dict(f.severity),
                "area_fraction": f.area_fraction,
            }
            for p in quote.photos
            for f in p.findings
        ],
        line_items=[
            {"part": li.part, "operation": li.operation, "total": li.total}
            for li in (est.line_items if est else ())
        ],
    )

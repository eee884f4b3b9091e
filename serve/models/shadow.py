"""Shadow mode: a candidate quotes live claims after the response; its quotes are stored, never shown or used."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from model.findings import ClaimContext
from model.pipeline import PhotoInput, Pipeline, Quote
from serve.db.rows import ShadowQuoteRow
from serve.photos.store import PhotoStore

log = logging.getLogger(__name__)


def shadow_row(claim_id: str, main_quote_id: str | None, quote: Quote) -> ShadowQuoteRow:
    """A candidate's quote as a row (findings and line items as JSON: nothing else reads them)."""
    est = quote.estimate
    return ShadowQuoteRow(
        claim_id=claim_id,
        main_quote_id=main_quote_id,
        decision=quote.decision.outcome,
        total=est.total if est else None,
        low=est.low if est else None,
        high=est.high if est else None,
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


def run_shadow(
    shadow: Pipeline,
    sessions: sessionmaker[Session],
    store: PhotoStore,
    claim_id: str,
    main_quote_id: str | None,
    photos: Sequence[tuple[str, str, str | None]],
    context: ClaimContext,
    jurisdiction: str,
    on_failure: Callable[[], None] = lambda: None,
) -> None:
    """Quote a claim with the candidate and store it; runs after the response and never raises."""
    try:
        inputs = [PhotoInput(pid, shadow.decode(store.get(sha)), dup) for pid, sha, dup in photos]
        quote = shadow.quote(inputs, context, jurisdiction)
        with sessions() as session:
            session.add(shadow_row(claim_id, main_quote_id, quote))
            session.commit()
    except Exception:
        log.exception("shadow quote of claim %s failed (the customer's quote is not affected)", claim_id)
        on_failure()

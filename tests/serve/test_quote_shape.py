"""One quote shape: the models' quote goes into a row one way (serve/db/quotes.py) and out to the API one way
(serve/http/schemas.py); a stored quote reads back as the quote the models made."""

from __future__ import annotations

from sqlalchemy.orm import Session

from model.findings import ClaimContext
from model.pipeline import PhotoInput
from serve.db import claims, quotes
from serve.db.rows import QuoteRow
from serve.http.locale import LOCALES
from serve.http.schemas import VersionsOut, quote_out, unsaved_quote_out
from tests.fakes import fake_pipeline, photo_bytes
from tests.serve.factories import make_claim, make_key, make_stored_photo, principal_of


def test_domain_to_row_to_api_equals_domain_to_api(db_session: Session) -> None:
    alice, _ = make_key(db_session)
    claim = make_claim(db_session, alice)
    sent = [make_stored_photo(1), make_stored_photo(2)]
    photos = claims.add_photos(db_session, principal_of(alice), claim, sent, max_photos=3)
    pipe = fake_pipeline()
    dark = photo_bytes(seed=2, brightness=15, noise=5)
    inputs = [
        PhotoInput(photos[0].id, pipe.decode(photo_bytes(seed=1))),
        PhotoInput(photos[1].id, pipe.decode(dark)),
    ]
    quote = pipe.quote(inputs, ClaimContext("mid", "CN"))
    # Every part of the shape is exercised: a price with line items, findings, a quality issue, reasons.
    est = quote.estimate
    assert est is not None and est.line_items and quote.photos[0].findings
    assert quote.photos[1].quality.issues and quote.decision.reasons

    row_id = quotes.save_quote(db_session, claim, quote).id
    db_session.commit()
    db_session.expunge_all()  # read back from the database, not from this session's memory
    stored = db_session.get(QuoteRow, row_id)
    assert stored is not None

    for locale in LOCALES:
        through_db = quote_out(stored, locale)
        direct = unsaved_quote_out(quote, locale)
        assert through_db.model_dump(exclude={"id", "created_at"}) == direct.model_dump(exclude={"id", "created_at"})
    assert through_db.id == row_id and through_db.created_at is not None
    assert direct.id is None and direct.created_at is None and direct.source == "model"

    # ... and what the API says is what the models said.
    assert (direct.decision, direct.currency) == (quote.decision.outcome, quote.currency)
    assert (direct.total, direct.low, direct.high, direct.level) == (est.total, est.low, est.high, est.level)
    assert [r.code for r in direct.reasons] == [r.code for r in quote.decision.reasons]
    assert [li.model_dump() for li in direct.line_items] == [li.model_dump() for li in est.line_items]
    assert [(p.photo_id, p.findings, [i.code for i in p.quality_issues]) for p in direct.photos] == [
        (p.photo_id, list(p.findings), [i.code for i in p.quality.issues]) for p in quote.photos
    ]
    assert direct.versions == VersionsOut(**{k: quote.versions.get(k, "") for k in VersionsOut.model_fields})


def test_an_unpriced_quote_has_no_total_in_any_shape() -> None:
    pipe = fake_pipeline(missing=True)
    quote = pipe.quote([PhotoInput("1", fake_pipeline().decode(photo_bytes()))], ClaimContext("mid", "CN"))
    assert quote.estimate is None
    row = quotes.quote_row(quote)
    out = unsaved_quote_out(quote)
    assert (row.total, row.low, row.high, row.level) == (None, None, None, None)
    assert (out.total, out.low, out.high, out.level, out.line_items) == (None, None, None, None, [])
    shadow = quotes.shadow_row("claim", None, quote)
    assert (shadow.total, shadow.low, shadow.high) == (None, None, None)

"""Shadow mode: a candidate quotes live claims after the response; its quotes are stored, never shown or used."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy.orm import Session, sessionmaker

from model.declared import DeclaredPart
from model.findings import ClaimContext
from model.pipeline import PhotoInput, Pipeline
from serve.db.quotes import shadow_row
from serve.photos.store import PhotoStore

log = logging.getLogger(__name__)


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
    declared: Sequence[DeclaredPart] = (),
    tags: Mapping[str, DeclaredPart | None] | None = None,
) -> None:
    """Quote a claim with the candidate and store it (its declared parts and photo tags as the service read them);
    runs after the response and never raises."""
    try:
        tagged = tags or {}
        inputs = [PhotoInput(pid, shadow.decode(store.get(sha)), dup, tagged.get(pid)) for pid, sha, dup in photos]
        quote = shadow.quote(inputs, context, jurisdiction, declared)
        with sessions() as session:
            session.add(shadow_row(claim_id, main_quote_id, quote))
            session.commit()
    except Exception:
        log.exception("shadow quote of claim %s failed (the customer's quote is not affected)", claim_id)
        on_failure()

"""Assessment: the models quote a claim's photos; the claim is settled, sent to an adjuster or asked for retakes.

The models run without the claim's lock (seconds of CPU). The result is recorded only if, under the lock,
the claim still allows an assessment and holds the same photos; then the quote, the ``assess`` transition
and the system's transition for the outcome are committed together. A shadow candidate, when one runs,
quotes the same photos after the response (``serve.models.shadow``); it never affects the claim.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from model.findings import ClaimContext
from model.pipeline import PhotoInput, Pipeline
from serve.claims import autonomy, states
from serve.claims.states import Action
from serve.db import claims as repo
from serve.db import quotes
from serve.db.keys import Principal
from serve.errors import ClaimStateConflict, NoPhotos
from serve.http.metrics import Metrics
from serve.models.in_service import ModelsInService
from serve.models.shadow import run_shadow
from serve.photos.decoding import Decoder
from serve.photos.store import PhotoStore


@dataclass(frozen=True)
class Assessor:
    """What assessing a claim needs: the pipeline of this request, the decoder and store of its photos, the
    models in service (for the shadow), the sessions the shadow quote is stored with, the metrics, the draws' key."""

    pipeline: Pipeline
    decoder: Decoder
    store: PhotoStore
    models: ModelsInService
    sessions: sessionmaker[Session]
    metrics: Metrics
    secret: bytes  # the key of the blind-review and audit draws

    def assess(self, session: Session, principal: Principal, claim_id: str) -> Callable[[], None] | None:
        """Quote the claim, record the quote and its outcome, commit; returns the shadow run to start once the
        response is sent (None when no candidate runs in shadow)."""
        pipeline, metrics = self.pipeline, self.metrics
        claim = states.allowed_now(session, principal, claim_id, Action.ASSESS)
        states.ensure_model_may_quote(claim)
        if not claim.photos:
            raise NoPhotos(f"claim {claim_id} has no photos yet; add some with POST /v1/claims/{claim_id}/photos")
        photos = [(p.id, p.sha256, p.duplicate_of_claim_id) for p in claim.photos]
        tags = {p.id: repo.tag_of(p) for p in claim.photos}
        declared = repo.declared_of(claim)
        inputs = [
            PhotoInput(pid, self.decoder.decode(pipeline, self.store.get(sha), sha), dup, tags[pid])
            for pid, sha, dup in photos
        ]
        context = ClaimContext(segment=claim.segment, region=claim.region)
        quote = pipeline.quote(inputs, context, claim.jurisdiction, declared)
        # The models ran without the lock; record the result only if nothing changed meanwhile.
        claim = repo.lock_claim(session, principal, claim_id)
        states.check(claim, principal, Action.ASSESS)
        states.ensure_model_may_quote(claim)
        if [p.id for p in claim.photos] != [pid for pid, _sha, _dup in photos] or repo.declared_of(claim) != declared:
            raise ClaimStateConflict(
                f"the photos or declared parts of claim {claim_id} changed during the assessment; assess it again"
            )
        policy = pipeline.policy(claim.jurisdiction)
        quote, outcome = states.outcome_of(quote, claim, policy)
        # Earned autonomy: each step's shadow and the draws go with the quote; a proven step may settle it.
        quote, outcome, shadow_steps = autonomy.at_assessment(session, claim.id, quote, outcome, policy, self.secret)
        row = quotes.save_quote(session, claim, quote, shadow_steps)
        detail = quotes.quote_detail(row)
        states.apply(session, principal, claim, Action.ASSESS, detail)
        states.apply(session, None, claim, outcome, {**detail, "requested_by": principal.key_id})
        session.commit()
        metrics.decisions.labels(quote.decision.outcome, "claim").inc()
        for stage in quote.failed_stages:
            metrics.model_errors.labels(stage).inc()
        shadow = self.models.shadow
        if shadow is None:
            return None
        return functools.partial(
            run_shadow,
            shadow,
            self.sessions,
            self.store,
            claim.id,
            row.id,
            photos,
            context,
            claim.jurisdiction,
            lambda: metrics.model_errors.labels("shadow").inc(),
            declared,
            tags,
        )

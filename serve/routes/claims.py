"""/v1/claims: open a claim, add, replace and withdraw photos, assess it, ask for a review, withdraw it, read it,
list them, read its audit trail. Each change is a transition of ``serve.claim_states``.

Handlers that decode photos or run onnxruntime are plain ``def``: FastAPI runs them in its threadpool.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Header, Query, Request, Response, UploadFile, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from model.findings import ClaimContext
from model.pipeline import PhotoInput
from serve import claim_states
from serve.claim_states import Action
from serve.db import claims as repo
from serve.db import quotes, review
from serve.db.keys import Principal
from serve.deps import DecoderDep, IntakeDep, MetricsDep, ModelsDep, PipelineDep, PrincipalDep, SessionDep, StoreDep
from serve.errors import ClaimStateConflict, InvalidIdempotencyKey, NoPhotos, TooManyPhotos
from serve.http.access import AccessRoute, allow
from serve.http.error_responses import ERROR_RESPONSES
from serve.http.locale import Locale, LocaleDep
from serve.http.schemas import (
    ClaimCreate,
    ClaimOut,
    ClaimPage,
    ClaimSummary,
    Offset,
    claim_out,
)
from serve.models.shadow import run_shadow

router = APIRouter(
    prefix="/v1/claims",
    tags=["claims"],
    route_class=AccessRoute,
    dependencies=[allow()],
    responses=ERROR_RESPONSES,
)
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimOut,
    responses={
        200: {"model": ClaimOut, "description": "the claim opened before with this Idempotency-Key and body"},
    },
)
def create_claim(
    body: ClaimCreate,
    principal: PrincipalDep,
    locale: LocaleDep,
    session: SessionDep,
    pipeline: PipelineDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> ClaimOut:
    """Open a claim. With an Idempotency-Key, the same key and body return the same claim (200)."""
    region = body.region.upper()
    jurisdiction = body.jurisdiction or region
    pipeline.check_context(ClaimContext(segment=body.segment, region=region), jurisdiction)
    request_hash = hashlib.sha256(json.dumps(body.model_dump(), sort_keys=True).encode()).hexdigest()
    if idempotency_key is not None:
        if not _IDEMPOTENCY_KEY.match(idempotency_key):
            raise InvalidIdempotencyKey("Idempotency-Key must be 1-200 printable ASCII characters, e.g. a UUID")
        existing = repo.find_idempotent(session, principal, idempotency_key, request_hash)
        if existing is not None:
            response.status_code = status.HTTP_200_OK
            return _claim_view(session, principal, existing.id, locale)
    new = repo.NewClaim(region=region, jurisdiction=jurisdiction, segment=body.segment, description=body.description)
    try:
        row = repo.create_claim(session, principal, new, idempotency_key, request_hash)
        claim_states.opened(
            session,
            principal,
            row,
            {"region": new.region, "jurisdiction": new.jurisdiction, "segment": new.segment},
        )
        session.commit()
    except IntegrityError:
        # Two requests with one key raced; the other one won, answer with its claim.
        session.rollback()
        if idempotency_key is None:
            raise
        existing = repo.find_idempotent(session, principal, idempotency_key, request_hash)
        if existing is None:
            raise
        response.status_code = status.HTTP_200_OK
        row = existing
    return _claim_view(session, principal, row.id, locale)


def _claim_view(session: Session, principal: Principal, claim_id: str, locale: Locale) -> ClaimOut:
    """The claim as this caller may see it, in its state now."""
    return claim_out(repo.get_claim(session, principal, claim_id), principal.sees_all_claims, locale)


@router.post("/{claim_id}/photos", status_code=status.HTTP_201_CREATED, response_model=ClaimOut)
def add_photos(
    claim_id: str,
    files: Annotated[list[UploadFile], File(description="one or more JPEG, PNG, WebP or HEIC photos")],
    principal: PrincipalDep,
    locale: LocaleDep,
    session: SessionDep,
    intake: IntakeDep,
) -> ClaimOut:
    """Add photos to a claim (also while a retake is requested); the photo limit holds under concurrency."""
    claim = claim_states.allowed_now(session, principal, claim_id, Action.ADD_PHOTOS)
    if len(claim.photos) + len(files) > intake.max_photos:
        raise TooManyPhotos(
            f"a claim holds at most {intake.max_photos} photos and this one has {len(claim.photos)}; "
            "send fewer photos"
        )
    stored = intake.store_uploads(files)
    # Counted again under the claim's lock: concurrent uploads cannot pass the limit together.
    with claim_states.change(session, principal, claim_id, Action.ADD_PHOTOS) as change:
        before = {p.id for p in change.claim.photos}
        rows = repo.add_photos(session, principal, change.claim, stored, intake.max_photos)
        added = [r for r in rows if r.id not in before]
        change.detail = repo.photos_detail(added) if added else None
    return _claim_view(session, principal, claim_id, locale)


@router.put("/{claim_id}/photos/{photo_id}", response_model=ClaimOut)
def replace_photo(
    claim_id: str,
    photo_id: str,
    file: Annotated[UploadFile, File(description="the new JPEG, PNG, WebP or HEIC photo")],
    principal: PrincipalDep,
    locale: LocaleDep,
    session: SessionDep,
    intake: IntakeDep,
) -> ClaimOut:
    """Replace one photo (e.g. the one a retake names); the old photo stays stored and in the audit trail."""
    repo.photo_in_force(claim_states.allowed_now(session, principal, claim_id, Action.REPLACE_PHOTO), photo_id)
    [stored] = intake.store_uploads([file])
    with claim_states.change(session, principal, claim_id, Action.REPLACE_PHOTO) as change:
        change.detail = repo.replace_photo(session, principal, change.claim, photo_id, stored)
    return _claim_view(session, principal, claim_id, locale)


@router.delete("/{claim_id}/photos/{photo_id}", response_model=ClaimOut)
def withdraw_photo(
    claim_id: str, photo_id: str, principal: PrincipalDep, locale: LocaleDep, session: SessionDep
) -> ClaimOut:
    """Withdraw one photo from the claim; it stays stored and in the audit trail."""
    with claim_states.change(session, principal, claim_id, Action.WITHDRAW_PHOTO) as change:
        change.detail = repo.withdraw_photo(session, change.claim, photo_id)
    return _claim_view(session, principal, claim_id, locale)


@router.post("/{claim_id}/assess", response_model=ClaimOut)
def assess_claim(
    claim_id: str,
    principal: PrincipalDep,
    locale: LocaleDep,
    session: SessionDep,
    pipeline: PipelineDep,
    store: StoreDep,
    metrics: MetricsDep,
    models: ModelsDep,
    decoder: DecoderDep,
    background: BackgroundTasks,
    request: Request,
) -> ClaimOut:
    """Run the pipeline on the claim's photos, record the quote, and settle, route or ask for a retake."""
    claim = claim_states.allowed_now(session, principal, claim_id, Action.ASSESS)
    claim_states.ensure_model_may_quote(claim)
    if not claim.photos:
        raise NoPhotos(f"claim {claim_id} has no photos yet; add some with POST /v1/claims/{claim_id}/photos")
    photos = [(p.id, p.sha256, p.duplicate_of_claim_id) for p in claim.photos]
    inputs = [PhotoInput(pid, decoder.decode(pipeline, store.get(sha), sha), dup) for pid, sha, dup in photos]
    context = ClaimContext(segment=claim.segment, region=claim.region)
    quote = pipeline.quote(inputs, context, claim.jurisdiction)
    # The models ran without the lock; record the result only if nothing changed meanwhile.
    claim = repo.lock_claim(session, principal, claim_id)
    claim_states.check(claim, principal, Action.ASSESS)
    claim_states.ensure_model_may_quote(claim)
    if [p.id for p in claim.photos] != [pid for pid, _sha, _dup in photos]:
        raise ClaimStateConflict(f"the photos of claim {claim_id} changed during the assessment; assess it again")
    quote, outcome = claim_states.outcome_of(quote, claim, pipeline.policy(claim.jurisdiction))
    row = quotes.save_quote(session, claim, quote)
    detail = quotes.quote_detail(row)
    claim_states.apply(session, principal, claim, Action.ASSESS, detail)
    claim_states.apply(session, None, claim, outcome, {**detail, "requested_by": principal.key_id})
    session.commit()
    metrics.decisions.labels(quote.decision.outcome, "claim").inc()
    for stage in quote.failed_stages:
        metrics.model_errors.labels(stage).inc()
    if models.shadow is not None:  # after the response is sent; never affects it
        background.add_task(
            run_shadow,
            models.shadow,
            request.app.state.sessionmaker,
            store,
            claim.id,
            row.id,
            photos,
            context,
            claim.jurisdiction,
            lambda: metrics.model_errors.labels("shadow").inc(),
        )
    return _claim_view(session, principal, claim_id, locale)


@router.post("/{claim_id}/request-review", response_model=ClaimOut)
def request_review(claim_id: str, principal: PrincipalDep, locale: LocaleDep, session: SessionDep) -> ClaimOut:
    """The customer does not accept the settlement: an adjuster reviews the claim."""
    with claim_states.change(session, principal, claim_id, Action.REQUEST_REVIEW):
        pass  # the status alone changes
    return _claim_view(session, principal, claim_id, locale)


@router.post("/{claim_id}/withdraw", response_model=ClaimOut)
def withdraw_claim(claim_id: str, principal: PrincipalDep, locale: LocaleDep, session: SessionDep) -> ClaimOut:
    """The customer withdraws the claim: it ends here."""
    with claim_states.change(session, principal, claim_id, Action.WITHDRAW):
        pass  # the status alone changes
    return _claim_view(session, principal, claim_id, locale)


@router.get("/{claim_id}", response_model=ClaimOut)
def read_claim(claim_id: str, principal: PrincipalDep, locale: LocaleDep, session: SessionDep) -> ClaimOut:
    """A claim with its photos and latest quote."""
    return _claim_view(session, principal, claim_id, locale)


@router.get("", response_model=ClaimPage)
def list_claims(
    principal: PrincipalDep,
    session: SessionDep,
    claim_status: Annotated[str | None, Query(alias="status", pattern=r"^[a-z_]{1,24}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> ClaimPage:
    """The caller's claims, newest first (adjusters and admins see every claim)."""
    rows = repo.list_claims(session, principal, claim_status, limit, offset)
    return ClaimPage(items=[ClaimSummary.of_claim(r) for r in rows], limit=limit, offset=offset)


@router.get(
    "/{claim_id}/photos/{photo_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
def photo_bytes(
    claim_id: str, photo_id: str, principal: PrincipalDep, session: SessionDep, store: StoreDep
) -> Response:
    """The stored bytes of one photo (adjusters and admins: any claim; customers: their own)."""
    claim = repo.get_claim(session, principal, claim_id)
    photo = review.photo_of(claim, photo_id)
    return Response(
        store.get(photo.sha256),
        media_type=photo.content_type,
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )

"""/v1/claims: open a claim, change its declared parts, add, replace and withdraw photos, assess it, ask for a
review, withdraw it, read it, list them, read its photos. The work is the claim service's (``serve.claims``);
each change is a transition of ``serve.claims.states``.

Handlers that decode photos or run onnxruntime are plain ``def``: FastAPI runs them in its threadpool.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, Header, Query, Response, UploadFile, status
from sqlalchemy.orm import Session

from model.declared import DeclaredPart, parse_declared
from model.pipeline import Pipeline
from serve.claims import autonomy, intake, states
from serve.claims.states import Action
from serve.db import claims as repo
from serve.db import review
from serve.db.keys import Principal
from serve.deps import AssessorDep, IntakeDep, PipelineDep, PrincipalDep, SessionDep, StoreDep
from serve.http.access import AccessRoute, allow
from serve.http.error_responses import ERROR_RESPONSES
from serve.http.locale import Locale, LocaleDep
from serve.http.schemas import (
    ClaimCreate,
    ClaimOut,
    ClaimPage,
    ClaimSummary,
    DeclaredPartIn,
    DeclaredPartsIn,
    Offset,
    claim_out,
)

router = APIRouter(
    prefix="/v1/claims",
    tags=["claims"],
    route_class=AccessRoute,
    dependencies=[allow()],
    responses=ERROR_RESPONSES,
)


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
    """Open a claim, with the parts the customer says are damaged (``unknown_part`` outside the vocabulary).
    With an Idempotency-Key, the same key and body return the same claim (200)."""
    region = body.region.upper()
    new = repo.NewClaim(
        region=region,
        jurisdiction=body.jurisdiction or region,
        segment=body.segment,
        description=body.description,
        declared_parts=_declared(body.declared_parts, pipeline),
    )
    request_hash = hashlib.sha256(json.dumps(body.model_dump(), sort_keys=True).encode()).hexdigest()
    claim_id, opened = intake.open_claim(session, principal, pipeline, new, request_hash, idempotency_key)
    if not opened:
        response.status_code = status.HTTP_200_OK
    return _claim_view(session, principal, claim_id, locale)


def _declared(parts: list[DeclaredPartIn], pipeline: Pipeline) -> tuple[DeclaredPart, ...]:
    """Declared parts as sent, read against the part vocabulary."""
    return parse_declared((p.text() for p in parts), pipeline.parts)


# A photo's tag, as a form field of the upload.
PartField = Annotated[
    str | None,
    Form(
        max_length=80,
        description="the declared part the photos are close-ups of: Door or Door:left (any case); absent: wide "
        "shots, or on replace what the replaced photo showed (withdraw a close-up to send a wide shot instead)",
    ),
]


@router.put("/{claim_id}/declared-parts", response_model=ClaimOut)
def declare_parts(
    claim_id: str,
    body: DeclaredPartsIn,
    principal: PrincipalDep,
    locale: LocaleDep,
    session: SessionDep,
    pipeline: PipelineDep,
) -> ClaimOut:
    """Replace the parts the claim declares (while it is open or a retake is requested; in review only to add
    damage the model asked about). Assess it again afterwards."""
    intake.declare_parts(session, principal, claim_id, _declared(body.declared_parts, pipeline))
    return _claim_view(session, principal, claim_id, locale)


def _claim_view(session: Session, principal: Principal, claim_id: str, locale: Locale) -> ClaimOut:
    """The claim as this caller may see it, in its state now (staff: not the model's quote of a blind review)."""
    claim = repo.get_claim(session, principal, claim_id)
    shown = claim_out(claim, principal.sees_all_claims, locale)
    if principal.sees_all_claims and claim.owner_key_id != principal.key_id and autonomy.hides_quote(claim):
        shown = shown.model_copy(update={"quote": None})
    return shown


@router.post("/{claim_id}/photos", status_code=status.HTTP_201_CREATED, response_model=ClaimOut)
def add_photos(
    claim_id: str,
    files: Annotated[list[UploadFile], File(description="one or more JPEG, PNG, WebP or HEIC photos")],
    principal: PrincipalDep,
    locale: LocaleDep,
    session: SessionDep,
    photos: IntakeDep,
    part: PartField = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> ClaimOut:
    """Add photos to a claim (also while a retake is requested), as close-ups of a declared ``part`` or wide
    shots; the photo limit holds under concurrency. A photo the claim holds already (or held, withdrawn) is
    refused with 409 ``photo_already_in_claim``; a retry with the same Idempotency-Key and photos answers as the
    first request did and adds nothing."""
    photos.add_photos(session, principal, claim_id, files, part, idempotency_key)
    return _claim_view(session, principal, claim_id, locale)


@router.put("/{claim_id}/photos/{photo_id}", response_model=ClaimOut)
def replace_photo(
    claim_id: str,
    photo_id: str,
    file: Annotated[UploadFile, File(description="the new JPEG, PNG, WebP or HEIC photo")],
    principal: PrincipalDep,
    locale: LocaleDep,
    session: SessionDep,
    photos: IntakeDep,
    part: PartField = None,
) -> ClaimOut:
    """Replace one photo (e.g. the one a retake names); the old photo stays stored and in the audit trail."""
    photos.replace_photo(session, principal, claim_id, photo_id, file, part)
    return _claim_view(session, principal, claim_id, locale)


@router.delete("/{claim_id}/photos/{photo_id}", response_model=ClaimOut)
def withdraw_photo(
    claim_id: str, photo_id: str, principal: PrincipalDep, locale: LocaleDep, session: SessionDep
) -> ClaimOut:
    """Withdraw one photo from the claim; it stays stored and in the audit trail."""
    intake.withdraw_photo(session, principal, claim_id, photo_id)
    return _claim_view(session, principal, claim_id, locale)


@router.post("/{claim_id}/assess", response_model=ClaimOut)
def assess_claim(
    claim_id: str,
    principal: PrincipalDep,
    locale: LocaleDep,
    session: SessionDep,
    assessor: AssessorDep,
    background: BackgroundTasks,
) -> ClaimOut:
    """Run the pipeline on the claim's photos, record the quote, and settle, route or ask for a retake."""
    shadow = assessor.assess(session, principal, claim_id)
    if shadow is not None:
        background.add_task(shadow)  # after the response is sent; never affects it
    return _claim_view(session, principal, claim_id, locale)


@router.post("/{claim_id}/request-review", response_model=ClaimOut)
def request_review(claim_id: str, principal: PrincipalDep, locale: LocaleDep, session: SessionDep) -> ClaimOut:
    """The customer does not accept the settlement: an adjuster reviews the claim."""
    with states.change(session, principal, claim_id, Action.REQUEST_REVIEW):
        pass  # the status alone changes
    return _claim_view(session, principal, claim_id, locale)


@router.post("/{claim_id}/withdraw", response_model=ClaimOut)
def withdraw_claim(claim_id: str, principal: PrincipalDep, locale: LocaleDep, session: SessionDep) -> ClaimOut:
    """The customer withdraws the claim: it ends here."""
    with states.change(session, principal, claim_id, Action.WITHDRAW):
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
    items = [ClaimSummary.of_claim(r, principal.sees_all_claims) for r in rows]
    if principal.sees_all_claims:  # staff: a claim awaiting a blind review shows nothing the model proposed
        items = [autonomy.blind_summary(r, item) for r, item in zip(rows, items, strict=True)]
    return ClaimPage(items=items, limit=limit, offset=offset)


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

"""Intake: opening a claim (idempotently), and adding, replacing and withdrawing its photos.

Photos are read, checked and decoded, then written to the photo store before the claim is locked; the
change is recorded under the lock (``serve.claims.states.change``), where the photo limit is counted again
so concurrent uploads cannot pass it together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import UploadFile
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from model.findings import ClaimContext
from model.phash import dhash
from model.pipeline import Pipeline
from serve.claims import states
from serve.claims.states import Action
from serve.db import claims as repo
from serve.db.keys import Principal
from serve.errors import InvalidIdempotencyKey, TooManyPhotos
from serve.photos.decoding import Decoder
from serve.photos.store import PhotoStore
from serve.photos.uploads import decode_uploads

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def open_claim(
    session: Session,
    principal: Principal,
    pipeline: Pipeline,
    new: repo.NewClaim,
    request_hash: str,
    idempotency_key: str | None = None,
) -> tuple[str, bool]:
    """Open a claim; returns its id and whether this call opened it (False: the claim opened before with the
    same Idempotency-Key and request, whose hash is ``request_hash``)."""
    pipeline.check_context(ClaimContext(segment=new.segment, region=new.region), new.jurisdiction)
    if idempotency_key is not None:
        if not _IDEMPOTENCY_KEY.match(idempotency_key):
            raise InvalidIdempotencyKey("Idempotency-Key must be 1-200 printable ASCII characters, e.g. a UUID")
        existing = repo.find_idempotent(session, principal, idempotency_key, request_hash)
        if existing is not None:
            return existing.id, False
    try:
        row = repo.create_claim(session, principal, new, idempotency_key, request_hash)
        states.opened(
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
        return existing.id, False
    return row.id, True


def withdraw_photo(session: Session, principal: Principal, claim_id: str, photo_id: str) -> None:
    """Take one photo out of the claim; it stays stored and in the audit trail."""
    with states.change(session, principal, claim_id, Action.WITHDRAW_PHOTO) as change:
        change.detail = repo.withdraw_photo(session, change.claim, photo_id)


@dataclass(frozen=True)
class PhotoIntake:
    """What taking photos into a claim needs: the pipeline and decoder that check them, the store, the limits."""

    pipeline: Pipeline
    decoder: Decoder
    store: PhotoStore
    max_bytes: int  # per photo
    max_photos: int  # per claim

    def store_uploads(self, files: list[UploadFile]) -> list[repo.StoredPhoto]:
        """Validate every upload, then write each durably (fsync + rename) before any commit acknowledges it."""
        stored = []
        for data, image, filename in decode_uploads(files, self.pipeline, self.decoder, self.max_bytes):
            sha256 = self.store.put(data)
            stored.append(
                repo.StoredPhoto(
                    sha256=sha256,
                    content_type=image.content_type,
                    byte_size=image.byte_size,
                    width=image.original_size[0],
                    height=image.original_size[1],
                    filename=filename,
                    phash=dhash(image.image),
                )
            )
        return stored

    def add_photos(self, session: Session, principal: Principal, claim_id: str, files: list[UploadFile]) -> None:
        """Add photos to a claim (also while a retake is requested); the photo limit holds under concurrency."""
        claim = states.allowed_now(session, principal, claim_id, Action.ADD_PHOTOS)
        if len(claim.photos) + len(files) > self.max_photos:
            raise TooManyPhotos(
                f"a claim holds at most {self.max_photos} photos and this one has {len(claim.photos)}; "
                "send fewer photos"
            )
        stored = self.store_uploads(files)
        # Counted again under the claim's lock: concurrent uploads cannot pass the limit together.
        with states.change(session, principal, claim_id, Action.ADD_PHOTOS) as change:
            before = {p.id for p in change.claim.photos}
            rows = repo.add_photos(session, principal, change.claim, stored, self.max_photos)
            added = [r for r in rows if r.id not in before]
            change.detail = repo.photos_detail(added) if added else None

    def replace_photo(
        self, session: Session, principal: Principal, claim_id: str, photo_id: str, file: UploadFile
    ) -> None:
        """Put a new photo in the place of one (e.g. the one a retake names); the old one stays stored."""
        repo.photo_in_force(states.allowed_now(session, principal, claim_id, Action.REPLACE_PHOTO), photo_id)
        [stored] = self.store_uploads([file])
        with states.change(session, principal, claim_id, Action.REPLACE_PHOTO) as change:
            change.detail = repo.replace_photo(session, principal, change.claim, photo_id, stored)

"""Intake: opening a claim (idempotently), its declared parts, and adding, replacing and withdrawing its photos.

Photos are read, checked and decoded, then written to the photo store before the claim is locked; the
change is recorded under the lock (``serve.claims.states.change``), where the photo limit is counted again
so concurrent uploads cannot pass it together.

Declared parts and photo tags are read against the part vocabulary (``Pipeline.parts``; ``unknown_part``,
``unknown_side``); a photo may be tagged only with a part the claim declares, and a declaration cannot drop a
part a photo is tagged with (``part_not_declared``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import UploadFile
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from model.declared import DeclaredPart, check_tags, parse_declared_part
from model.findings import ClaimContext
from model.phash import dhash
from model.pipeline import Pipeline
from serve.claims import states
from serve.claims.states import Action
from serve.db import claims as repo
from serve.db.keys import Principal
from serve.db.rows import ClaimRow
from serve.errors import InvalidIdempotencyKey, TooManyPhotos
from serve.photos.decoding import Decoder
from serve.photos.store import PhotoStore
from serve.photos.uploads import decode_uploads

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


# The audit event of added photos: where a photo upload's Idempotency-Key is recorded (as its hash).
ADDED = states.TRANSITIONS[Action.ADD_PHOTOS].event


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_idempotency_key(key: str) -> str:
    """``key`` if it is a usable Idempotency-Key: 1-200 printable ASCII characters."""
    if not _IDEMPOTENCY_KEY.match(key):
        raise InvalidIdempotencyKey("Idempotency-Key must be 1-200 printable ASCII characters, e.g. a UUID")
    return key


def uploads_hash(files: Sequence[UploadFile], part: str | None) -> str:
    """What identifies a photo upload for its Idempotency-Key: the bytes of each file, in order, and the part."""
    digest = hashlib.sha256((part or "").strip().lower().encode())
    for upload in files:
        digest.update(_sha256(upload.file.read()).encode())
        upload.file.seek(0)
    return digest.hexdigest()


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
        check_idempotency_key(idempotency_key)
        existing = repo.find_idempotent(session, principal, idempotency_key, request_hash)
        if existing is not None:
            return existing.id, False
    try:
        row = repo.create_claim(session, principal, new, idempotency_key, request_hash)
        detail = {"region": new.region, "jurisdiction": new.jurisdiction, "segment": new.segment}
        states.opened(session, principal, row, {**detail, "declared_parts": list(row.declared_parts)})
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


def declare_parts(
    session: Session, principal: Principal, claim_id: str, declared: Sequence[DeclaredPart]
) -> None:
    """Replace the parts a claim declares (parsed by the caller); no photo may be left tagged with a dropped part."""
    with states.change(session, principal, claim_id, Action.DECLARE_PARTS) as change:
        tags = {p.id: repo.tag_of(p) for p in change.claim.photos}
        check_tags(declared, tags)
        change.detail = repo.declare_parts(change.claim, declared)


def check_tag(claim: ClaimRow, tag: DeclaredPart | None, which: str) -> None:
    """Refuse a close-up (``which`` names it) of a part the claim does not declare."""
    check_tags(repo.declared_of(claim), {which: tag})


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

    def tag(self, text: str | None) -> DeclaredPart | None:
        """A photo's tag (``Door``, ``door:left``) read against the part vocabulary; None or empty: a wide shot."""
        return parse_declared_part(text, self.pipeline.parts) if text and text.strip() else None

    def add_photos(
        self,
        session: Session,
        principal: Principal,
        claim_id: str,
        files: list[UploadFile],
        part: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Add photos to a claim (also while a retake is requested), each a close-up of the declared ``part``
        (None: wide shots); the photo limit holds under concurrency. A request sent again with the same
        Idempotency-Key changes nothing and is answered as the first was (a retry after a lost answer)."""
        tag = self.tag(part)
        replay: tuple[str, str] | None = None
        if idempotency_key is not None:
            replay = (_sha256(check_idempotency_key(idempotency_key).encode()), uploads_hash(files, part))
            repo.get_claim(session, principal, claim_id)  # claim_not_found before anything about the key
            if repo.find_photo_upload(session, principal, claim_id, ADDED, *replay):
                return
        claim = states.allowed_now(session, principal, claim_id, Action.ADD_PHOTOS)
        names = ", ".join(f.filename or "photo" for f in files)
        check_tag(claim, tag, names)
        if len(claim.photos) + len(files) > self.max_photos:
            raise TooManyPhotos(
                f"a claim holds at most {self.max_photos} photos and this one has {len(claim.photos)}; "
                "send fewer photos"
            )
        stored = self.store_uploads(files)
        # Counted again under the claim's lock: concurrent uploads cannot pass the limit together.
        with states.change(session, principal, claim_id, Action.ADD_PHOTOS) as change:
            if replay is not None and repo.find_photo_upload(session, principal, claim_id, ADDED, *replay):
                change.detail = None  # a concurrent retry with the same key added them
                return
            check_tag(change.claim, tag, names)
            rows = repo.add_photos(session, principal, change.claim, stored, self.max_photos, tag)
            detail = repo.photos_detail(rows)
            if replay is not None:
                detail.update(idempotency_key_sha256=replay[0], request_sha256=replay[1])
            change.detail = detail

    def replace_photo(
        self,
        session: Session,
        principal: Principal,
        claim_id: str,
        photo_id: str,
        file: UploadFile,
        part: str | None = None,
    ) -> None:
        """Put a new photo in the place of one (e.g. the one a retake names); the old one stays stored. The new
        photo is a close-up of ``part``, or without it of what the old one showed."""
        given = self.tag(part) if part is not None else None
        claim = states.allowed_now(session, principal, claim_id, Action.REPLACE_PHOTO)
        repo.photo_in_force(claim, photo_id)
        check_tag(claim, given, file.filename or "photo")
        [stored] = self.store_uploads([file])
        with states.change(session, principal, claim_id, Action.REPLACE_PHOTO) as change:
            old = repo.photo_in_force(change.claim, photo_id)
            tag = given if part is not None else repo.tag_of(old)
            check_tag(change.claim, tag, file.filename or "photo")
            change.detail = repo.replace_photo(session, principal, change.claim, photo_id, stored, tag)

"""Claims, their photos and quotes in the database.

Statuses and audit events are not changed here: each change is made through ``serve.claims.states``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from model.declared import DeclaredPart, parse_declared_part
from model.phash import NEAR_DUPLICATE_BITS, informative
from model.phash import bands as phash_bands
from model.phash import distance as phash_distance
from model.phash import to_hex as phash_hex
from serve.db.keys import Principal
from serve.db.rows import (
    AuditEventRow,
    ClaimRow,
    PhotoRow,
    QuoteRow,
    utcnow,
)
from serve.errors import (
    ClaimNotFound,
    IdempotencyConflict,
    PhotoAlreadyInClaim,
    PhotoNotFound,
    TooManyPhotos,
    shown,
)
from serve.photos.store import PhotoFile


@dataclass(frozen=True)
class NewClaim:
    """What a caller asks for when opening a claim."""

    region: str
    jurisdiction: str
    segment: str
    description: str = ""
    declared_parts: tuple[DeclaredPart, ...] = ()


class StoredPhoto(PhotoFile):
    """A photo already written to the photo store, ready to be attached to a claim."""

    model_config = ConfigDict(frozen=True)

    phash: int | None = None

    def columns(self) -> dict[str, object]:
        """Its columns of the photo table: the file's facts (the name cut to fit), the hash and its bands."""
        return {
            **self.model_dump(exclude={"phash"}),
            "filename": self.filename[:255],
            **_phash_columns(self.phash),
        }


def declared_of(claim: ClaimRow) -> tuple[DeclaredPart, ...]:
    """The parts a claim declares, as domain values (read back from their stored text form)."""
    return tuple(parse_declared_part(text, ()) for text in claim.declared_parts)


def tag_of(photo: PhotoRow) -> DeclaredPart | None:
    """The declared part a photo is a close-up of; None for a wide shot."""
    return parse_declared_part(photo.part, ()) if photo.part else None


def declare_parts(claim: ClaimRow, declared: Sequence[DeclaredPart]) -> dict[str, Any] | None:
    """Set a locked claim's declared parts; the audit detail, or None when they did not change."""
    before, after = list(claim.declared_parts), [str(d) for d in declared]
    if before == after:
        return None
    claim.declared_parts = after
    return {"declared_parts": {"from": before, "to": after}}


def find_idempotent(session: Session, principal: Principal, key: str, request_hash: str) -> ClaimRow | None:
    """The claim this caller already opened with ``key``; refuse a different body under the same key."""
    row = session.scalar(
        select(ClaimRow).where(ClaimRow.owner_key_id == principal.key_id, ClaimRow.idempotency_key == key)
    )
    if row is not None and row.request_hash != request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request body; "
            "send the same body to get the same claim, or use a new key for a new claim"
        )
    return row


def create_claim(
    session: Session,
    principal: Principal,
    new: NewClaim,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> ClaimRow:
    """A new claim row owned by the caller (its status and audit event come from serve.claims.states)."""
    row = ClaimRow(
        owner_key_id=principal.key_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        region=new.region,
        jurisdiction=new.jurisdiction,
        segment=new.segment,
        description=new.description,
        declared_parts=[str(d) for d in new.declared_parts],
    )
    session.add(row)
    session.flush()
    return row


def _claim_query(claim_id: str) -> Select[ClaimRow]:
    return (
        select(ClaimRow)
        .where(ClaimRow.id == claim_id)
        .options(
            selectinload(ClaimRow.photos),
            selectinload(ClaimRow.all_photos),
            selectinload(ClaimRow.quotes).selectinload(QuoteRow.findings),
            selectinload(ClaimRow.quotes).selectinload(QuoteRow.line_items),
            selectinload(ClaimRow.reviews),
        )
        # Always the database's current state, not what this session loaded earlier.
        .execution_options(populate_existing=True)
    )


def _visible(row: ClaimRow | None, principal: Principal, claim_id: str) -> ClaimRow:
    if row is None or (not principal.sees_all_claims and row.owner_key_id != principal.key_id):
        raise ClaimNotFound(f"no claim {shown(claim_id)} for this key; list yours with GET /v1/claims")
    return row


def get_claim(session: Session, principal: Principal, claim_id: str) -> ClaimRow:
    """A claim the caller may see; another customer's claim is 'not found', not 'forbidden'."""
    return _visible(session.scalar(_claim_query(claim_id)), principal, claim_id)


def lock_claim(session: Session, principal: Principal, claim_id: str) -> ClaimRow:
    """The claim, locked against concurrent changes until this session commits or rolls back.

    PostgreSQL: ``SELECT ... FOR UPDATE`` on the claim row. SQLite: ``BEGIN IMMEDIATE`` takes the database's
    write lock before anything is read, so two requests cannot both count the photos and then both insert.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        return _visible(session.scalar(_claim_query(claim_id)), principal, claim_id)
    return _visible(session.scalar(_claim_query(claim_id).with_for_update(of=ClaimRow)), principal, claim_id)


def list_claims(
    session: Session, principal: Principal, status: str | None, limit: int, offset: int
) -> Sequence[ClaimRow]:
    """The caller's claims (every claim for adjusters and admins), newest first."""
    stmt = select(ClaimRow).options(selectinload(ClaimRow.photos), selectinload(ClaimRow.quotes))
    if not principal.sees_all_claims:
        stmt = stmt.where(ClaimRow.owner_key_id == principal.key_id)
    if status:
        stmt = stmt.where(ClaimRow.status == status)
    stmt = stmt.order_by(ClaimRow.created_at.desc(), ClaimRow.id).limit(limit).offset(offset)
    return session.scalars(stmt).all()


def duplicate_of(session: Session, sha256: str, claim_id: str | None, phash: int | None = None) -> str | None:
    """The id of another claim that already holds this photo (same bytes) or a near-identical one (phash)."""
    stmt = select(PhotoRow.claim_id).where(PhotoRow.sha256 == sha256)
    if claim_id is not None:
        stmt = stmt.where(PhotoRow.claim_id != claim_id)
    exact = session.scalar(stmt.order_by(PhotoRow.created_at).limit(1))
    if exact is not None or phash is None or not informative(phash):
        return exact
    b0, b1, b2, b3 = phash_bands(phash)
    near = select(PhotoRow.claim_id, PhotoRow.phash).where(
        or_(
            PhotoRow.phash_band0 == b0,
            PhotoRow.phash_band1 == b1,
            PhotoRow.phash_band2 == b2,
            PhotoRow.phash_band3 == b3,
        )
    )
    if claim_id is not None:
        near = near.where(PhotoRow.claim_id != claim_id)
    for other_claim, other in session.execute(near.order_by(PhotoRow.created_at).limit(500)):
        if other is not None and phash_distance(phash, int(other, 16)) <= NEAR_DUPLICATE_BITS:
            return str(other_claim)
    return None


def _phash_columns(phash: int | None) -> dict[str, object]:
    if phash is None:
        return {}
    b0, b1, b2, b3 = phash_bands(phash)
    return {"phash": phash_hex(phash), "phash_band0": b0, "phash_band1": b1, "phash_band2": b2, "phash_band3": b3}


def photo_in_force(claim: ClaimRow, photo_id: str) -> PhotoRow:
    """A photo the claim currently holds, or photo_not_found."""
    for photo in claim.photos:
        if photo.id == photo_id:
            return photo
    raise PhotoNotFound(
        f"claim {claim.id} holds no photo {shown(photo_id)} (withdrawn or never sent); "
        f"GET /v1/claims/{claim.id} lists its photos"
    )


def _refuse_withdrawn(claim: ClaimRow, sha256: str) -> None:
    for photo in claim.all_photos:
        if photo.sha256 == sha256 and photo.withdrawn_at is not None:
            raise PhotoAlreadyInClaim(
                f"this photo was withdrawn from claim {claim.id} (photo {photo.id}); take a new photo"
            )


def _photo_row(
    session: Session,
    principal: Principal,
    claim: ClaimRow,
    photo: StoredPhoto,
    position: int,
    part: DeclaredPart | None,
) -> PhotoRow:
    row = PhotoRow(
        claim_id=claim.id,
        position=position,
        duplicate_of_claim_id=duplicate_of(session, photo.sha256, claim.id, photo.phash),
        uploaded_by=principal.key_id,
        part=str(part) if part is not None else None,
        **photo.columns(),
    )
    session.add(row)
    return row


def _flush_photos(session: Session, claim: ClaimRow) -> None:
    # The photo collections are read-only views: reload them on next use instead of trusting memory.
    session.flush()
    session.expire(claim, ["photos", "all_photos"])


def _photo_detail(row: PhotoRow) -> dict[str, object]:
    return {
        "photo_id": row.id,
        "sha256": row.sha256,
        "position": row.position,
        "duplicate_of_claim": row.duplicate_of_claim_id,
        "part": row.part,
    }


def add_photos(
    session: Session,
    principal: Principal,
    claim: ClaimRow,
    photos: Sequence[StoredPhoto],
    max_photos: int,
    part: DeclaredPart | None = None,
) -> list[PhotoRow]:
    """Attach stored photos to a locked claim, counted against ``max_photos``, each a close-up of ``part`` (None:
    wide shots). A photo the claim holds already, or was withdrawn from it, or sent twice in one request is
    refused (photo_already_in_claim): the customer meant two photos and has one. Returns the new rows, in order."""
    have = {p.sha256: p for p in claim.photos}
    if len(have) + len(photos) > max_photos:
        raise TooManyPhotos(
            f"a claim holds at most {max_photos} photos and this one has {len(have)}; "
            f"send at most {max(0, max_photos - len(have))} more"
        )
    position = max((p.position for p in claim.photos), default=-1) + 1
    rows = []
    for photo in photos:
        if photo.sha256 in have:
            raise PhotoAlreadyInClaim(
                f"claim {claim.id} already holds this photo ({shown(photo.filename)}, photo {have[photo.sha256].id}); "
                "take a new photo, or send each photo once"
            )
        _refuse_withdrawn(claim, photo.sha256)
        have[photo.sha256] = row = _photo_row(session, principal, claim, photo, position, part)
        rows.append(row)
        position += 1
    _flush_photos(session, claim)
    return rows


def find_photo_upload(
    session: Session, principal: Principal, claim_id: str, event: str, key_hash: str, request_hash: str
) -> bool:
    """Whether this caller already added photos to the claim under the Idempotency-Key hashed ``key_hash`` (recorded
    in the audit event ``event``) with the same request; refuse another request under the same key."""
    details = session.scalars(
        select(AuditEventRow.detail).where(
            AuditEventRow.claim_id == claim_id,
            AuditEventRow.actor_key_id == principal.key_id,
            AuditEventRow.action == event,
        )
    )
    for detail in details:
        if detail.get("idempotency_key_sha256") != key_hash:
            continue
        if detail.get("request_sha256") != request_hash:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used to send other photos to this claim; "
                "send the same photos to get the same answer, or use a new key for new photos"
            )
        return True
    return False


def photos_detail(rows: Sequence[PhotoRow]) -> dict[str, Any]:
    """What the audit trail records about added photos."""
    return {"photos": [_photo_detail(row) for row in dict((r.id, r) for r in rows).values()]}


def replace_photo(
    session: Session,
    principal: Principal,
    claim: ClaimRow,
    photo_id: str,
    photo: StoredPhoto,
    part: DeclaredPart | None = None,
) -> dict[str, Any]:
    """Put a new photo, a close-up of ``part`` (None: a wide shot), in the place of one of a locked claim's
    photos; the old one stays stored, withdrawn."""
    old = photo_in_force(claim, photo_id)
    if any(p.sha256 == photo.sha256 for p in claim.photos):
        raise PhotoAlreadyInClaim(
            f"claim {claim.id} already holds this photo; take a new photo to replace {photo_id}"
        )
    _refuse_withdrawn(claim, photo.sha256)
    old.withdrawn_at = utcnow()
    session.flush()  # frees the position before the new photo takes it
    row = _photo_row(session, principal, claim, photo, old.position, part)
    row.replaces_id = old.id
    _flush_photos(session, claim)
    return {"photo_id": row.id, "replaces": old.id, "old_sha256": old.sha256, **_photo_detail(row)}


def withdraw_photo(session: Session, claim: ClaimRow, photo_id: str) -> dict[str, Any]:
    """Take a photo out of a locked claim; it stays in the store and in the audit trail."""
    old = photo_in_force(claim, photo_id)
    old.withdrawn_at = utcnow()
    _flush_photos(session, claim)
    return {"photo_id": old.id, "sha256": old.sha256, "position": old.position}

"""Factories for database rows: build what a test needs in one call, with sensible defaults."""

from __future__ import annotations

from itertools import count

from sqlalchemy.orm import Session

from serve.claims import states
from serve.db import claims, keys
from serve.db.keys import Principal
from serve.db.rows import ApiKeyRow, ClaimRow

_n = count(1)


def make_key(session: Session, role: str = "customer", name: str | None = None) -> tuple[ApiKeyRow, str]:
    """A stored API key and its plaintext."""
    row, key = keys.create_key(session, name or f"{role}-{next(_n)}", role)
    session.flush()
    return row, key


def principal_of(row: ApiKeyRow) -> Principal:
    """The caller a key row stands for."""
    return Principal(key_id=row.id, name=row.name, role=row.role)  # type: ignore[arg-type]


def make_claim(
    session: Session, owner: ApiKeyRow, region: str = "CN", jurisdiction: str | None = None
) -> ClaimRow:
    """An open claim owned by ``owner``, opened as the service opens it (with its audit event)."""
    new = claims.NewClaim(region=region, jurisdiction=jurisdiction or region, segment="mid")
    who = principal_of(owner)
    row = claims.create_claim(session, who, new)
    states.opened(session, who, row, {"region": region})
    return row


def make_stored_photo(seed: int = 0, sha256: str | None = None) -> claims.StoredPhoto:
    """A photo as if it had been written to the store."""
    digest = sha256 or f"{seed:064x}"
    return claims.StoredPhoto(
        sha256=digest, content_type="image/jpeg", byte_size=1000, width=640, height=480, filename=f"photo-{seed}.jpg"
    )

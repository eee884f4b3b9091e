"""API keys: high-entropy random strings, stored only as their sha256, each with one role; and the caller
(:class:`Principal`) a key stands for. Create, revoke, list, look up by hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model.errors import InputError
from model.vocabulary import ROLES, Role
from serve.db import audit
from serve.db.rows import ApiKeyRow, utcnow
from serve.errors import ApiKeyNotFound, shown

KEY_PREFIX = "aq_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and role."""

    key_id: str
    name: str
    role: Role

    @property
    def sees_all_claims(self) -> bool:
        return self.role in ("adjuster", "admin")


def generate_key() -> str:
    """A new API key (shown once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key (sha256 is enough for 256 bits of randomness; no salt needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session, name: str, role: str, actor: Principal | None = None
) -> tuple[ApiKeyRow, str]:
    """A new key row and the key itself (the only time it is ever seen)."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    key = generate_key()
    row = ApiKeyRow(name=name, role=role, key_hash=hash_key(key), prefix=key[: len(KEY_PREFIX) + 6])
    session.add(row)
    session.flush()
    audit.key_created(session, actor, row.id, name, role)
    return row, key


def revoke_key(session: Session, key_id: str, actor: Principal | None = None) -> ApiKeyRow:
    """Revoke a key by id; revoking twice keeps the first time."""
    row = session.get(ApiKeyRow, key_id)
    if row is None:
        raise ApiKeyNotFound(f"no API key with id {shown(key_id)}; list them with 'autoquote keys list'")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.key_revoked(session, actor, row.id, row.name)
    return row


def principal_for(session: Session, key: str) -> Principal | None:
    """The caller a key belongs to, or None if the key is unknown or revoked."""
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    role: Role = row.role  # type: ignore[assignment]
    return Principal(key_id=row.id, name=row.name, role=role)


def list_keys(session: Session) -> Sequence[ApiKeyRow]:
    """Every key, oldest first."""
    return session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)).all()


def count_active(session: Session) -> int:
    """How many keys are not revoked."""
    stmt = select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
    return int(session.scalar(stmt) or 0)

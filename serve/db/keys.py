"""API keys in the database: create, revoke, look up by hash."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model.errors import InputError
from model.vocabulary import ROLES, Role
from serve.auth import KEY_PREFIX, Principal, generate_key, hash_key
from serve.db import audit
from serve.db.rows import ApiKeyRow, utcnow
from serve.errors import ApiKeyNotFound


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
    audit.record(session, actor, "key.created", detail={"key_id": row.id, "name": name, "role": role})
    return row, key


def revoke_key(session: Session, key_id: str, actor: Principal | None = None) -> ApiKeyRow:
    """Revoke a key by id; revoking twice keeps the first time."""
    row = session.get(ApiKeyRow, key_id)
    if row is None:
        raise ApiKeyNotFound(f"no API key with id {key_id!r}; list them with 'autoquote keys list'")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "key.revoked", detail={"key_id": row.id, "name": row.name})
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

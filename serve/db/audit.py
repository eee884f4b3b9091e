"""The append-only audit log: every decision and every change, who and when."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from serve.db.rows import AuditEventRow

SYSTEM = "system"


class Actor(Protocol):
    """Who made a change: the caller's key id and role (``serve.db.keys.Principal``); None is the system."""

    @property
    def key_id(self) -> str: ...
    @property
    def role(self) -> str: ...


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    claim_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEventRow:
    """Add one event to the session (committed with the change it describes)."""
    row = AuditEventRow(
        actor_key_id=actor.key_id if actor else None,
        actor_role=actor.role if actor else SYSTEM,
        action=action,
        claim_id=claim_id,
        detail=detail or {},
    )
    session.add(row)
    return row


def events_for_claim(session: Session, claim_id: str) -> Sequence[AuditEventRow]:
    """A claim's events, oldest first."""
    stmt = select(AuditEventRow).where(AuditEventRow.claim_id == claim_id).order_by(AuditEventRow.id)
    return session.scalars(stmt).all()

"""The append-only audit log: every decision and every change, who and when.

Each kind of event is written by one function of this module, so each kind has one shape of detail:

    claim_transition     the claim state table's events (claim.*, photo.*, quote.*, boxes.*), written by
                         ``serve.claims.states`` with the event its transition names
    key_created          key.created
    key_revoked          key.revoked
    model_promoted       model.promoted             (the admin API and ``autoquote promote`` alike)
    promotion_refused    model.promotion_refused
    shadow_started       model.shadow_started
    shadow_stopped       model.shadow_stopped

``tests/serve/test_audit.py`` fails when a kind is written anywhere else, or by two functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def _record(
    session: Session, actor: Actor | None, action: str, claim_id: str | None, detail: dict[str, Any]
) -> AuditEventRow:
    """Add one event to the session (committed with the change it describes)."""
    row = AuditEventRow(
        actor_key_id=actor.key_id if actor else None,
        actor_role=actor.role if actor else SYSTEM,
        action=action,
        claim_id=claim_id,
        detail=detail,
    )
    session.add(row)
    return row


def claim_transition(
    session: Session, actor: Actor | None, claim_id: str, event: str, detail: dict[str, Any]
) -> AuditEventRow:
    """A claim's transition, under the event its row of the state table names (``serve.claims.states``)."""
    return _record(session, actor, event, claim_id, detail)


def key_created(session: Session, actor: Actor | None, key_id: str, name: str, role: str) -> AuditEventRow:
    """An API key was created (never the key itself)."""
    return _record(session, actor, "key.created", None, {"key_id": key_id, "name": name, "role": role})


def key_revoked(session: Session, actor: Actor | None, key_id: str, name: str) -> AuditEventRow:
    """An API key was revoked."""
    return _record(session, actor, "key.revoked", None, {"key_id": key_id, "name": name})


def model_promoted(
    session: Session,
    actor: Actor | None,
    previous: Mapping[str, str],
    versions: Mapping[str, str],
    choice: Mapping[str, str | None],
    via: str,
    promotion: int,
) -> AuditEventRow:
    """The service switched to other models: the versions before and after, the files chosen, how (``api`` or
    ``cli``) and the promotion's id (0 when no database recorded it)."""
    detail = {"from": dict(previous), "to": dict(versions), "choice": dict(choice), "via": via, "promotion": promotion}
    return _record(session, actor, "model.promoted", None, detail)


def promotion_refused(session: Session, actor: Actor | None, request: dict[str, Any], why: str) -> AuditEventRow:
    """A promotion was refused (outside the model store, an invalid manifest, models that did not load)."""
    return _record(session, actor, "model.promotion_refused", None, {"request": request, "why": why})


def shadow_started(
    session: Session, actor: Actor | None, versions: Mapping[str, str], choice: Mapping[str, str | None]
) -> AuditEventRow:
    """A candidate started running in shadow."""
    return _record(session, actor, "model.shadow_started", None, {"versions": dict(versions), "choice": dict(choice)})


def shadow_stopped(session: Session, actor: Actor | None, versions: Mapping[str, str] | None) -> AuditEventRow:
    """The shadow candidate was stopped (``versions``: the one that ran, if any)."""
    return _record(
        session, actor, "model.shadow_stopped", None, {"versions": dict(versions) if versions is not None else None}
    )


def events_for_claim(session: Session, claim_id: str) -> Sequence[AuditEventRow]:
    """A claim's events, oldest first."""
    stmt = select(AuditEventRow).where(AuditEventRow.claim_id == claim_id).order_by(AuditEventRow.id)
    return session.scalars(stmt).all()

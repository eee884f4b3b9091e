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
    autonomy_pending     autonomy.pending_confirmation  (a step proved its bound; an admin must confirm it)
    autonomy_switched_on autonomy.switched_on           (a step settles alone from now on)
    autonomy_revoked     autonomy.revoked               (its audits show the wrong rate above the target)
    autonomy_reset       autonomy.shadow                (a step back in shadow: never expected, logged if seen)
    autonomy_confirmed   autonomy.confirmed             (an admin confirmed a switch-on)

``tests/serve/test_audit.py`` fails when a kind is written anywhere else, or by two functions. Each event is
hash-chained to the one before it (``serve.db.audit_chain``; ``autoquote audit verify`` walks the chains).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from serve.db.audit_chain import link, plain
from serve.db.rows import AuditEventRow, utcnow

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
    """Add one event to the session (committed with the change it describes), chained after the log's head."""
    row = AuditEventRow(
        at=utcnow(),
        actor_key_id=actor.key_id if actor else None,
        actor_role=actor.role if actor else SYSTEM,
        action=action,
        claim_id=claim_id,
        detail=plain(detail),
    )
    link(session, row)  # before add: the head's lock is taken before this row can be flushed
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


def _autonomy_detail(key: Mapping[str, str], step: str, before: str, status: Mapping[str, Any]) -> dict[str, Any]:
    return {**dict(key), "step": step, "from": before, "status": dict(status)}


def autonomy_pending(
    session: Session, key: Mapping[str, str], step: str, before: str, status: Mapping[str, Any]
) -> AuditEventRow:
    """A step's bound reached the target; under ``autonomy: manual`` it waits for an admin."""
    return _record(session, None, "autonomy.pending_confirmation", None, _autonomy_detail(key, step, before, status))


def autonomy_switched_on(
    session: Session, key: Mapping[str, str], step: str, before: str, status: Mapping[str, Any]
) -> AuditEventRow:
    """A step became autonomous: claims it would settle now settle alone (but for audits)."""
    return _record(session, None, "autonomy.switched_on", None, _autonomy_detail(key, step, before, status))


def autonomy_revoked(
    session: Session, key: Mapping[str, str], step: str, before: str, status: Mapping[str, Any]
) -> AuditEventRow:
    """A step's evidence shows its wrong rate above the target (or a stricter step's did): revoked at once."""
    return _record(session, None, "autonomy.revoked", None, _autonomy_detail(key, step, before, status))


def autonomy_reset(
    session: Session, key: Mapping[str, str], step: str, before: str, status: Mapping[str, Any]
) -> AuditEventRow:
    """A step's recorded state went back to shadow (the evidence replay disagrees with the last record)."""
    return _record(session, None, "autonomy.shadow", None, _autonomy_detail(key, step, before, status))


def autonomy_confirmed(session: Session, actor: Actor | None, key: Mapping[str, str], step: str) -> AuditEventRow:
    """An admin confirmed that a proven step may settle alone."""
    return _record(session, actor, "autonomy.confirmed", None, {**dict(key), "step": step})


def events_for_claim(session: Session, claim_id: str) -> Sequence[AuditEventRow]:
    """A claim's events, oldest first."""
    stmt = select(AuditEventRow).where(AuditEventRow.claim_id == claim_id).order_by(AuditEventRow.id)
    return session.scalars(stmt).all()

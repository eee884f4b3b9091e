"""Gradings and autonomy states in the database: append-only rows, read back as the evidence of one key.

An evidence key is the models that proposed (detector, severity, pricer), the policy version and the kind
(``settle`` or ``partial_release``): ``model.autonomy.evaluate_path`` replays one key's gradings in the
order they were written. A grading is written in the transaction of the decision it grades, once per review
and kind (a unique constraint), so a crash loses both or neither and a retry cannot count one twice.
Decisions graded at once under one key take turns (:func:`lock_evidence`): each sees the gradings and states
written before it, so a state change is recorded once and the order of the ids is the order of the commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from model.autonomy import GradedClaim, Grading
from serve.db.rows import AutonomyStateRow, GradingRow

MODEL_PARTS = ("detector", "severity", "pricer")


@dataclass(frozen=True)
class EvidenceKey:
    """Whose evidence: these models under this policy version, for this kind of settlement."""

    models: str  # detector|severity|pricer versions
    policy_version: str
    kind: str = "settle"

    @classmethod
    def of(cls, versions: Mapping[str, str], policy_version: str, kind: str = "settle") -> EvidenceKey:
        return cls("|".join(versions.get(p, "") for p in MODEL_PARTS), policy_version, kind)

    def as_dict(self) -> dict[str, str]:
        return {"models": self.models, "policy": self.policy_version, "kind": self.kind}


def lock_evidence(session: Session, key: EvidenceKey) -> None:
    """Hold the key's evidence until this transaction ends (PostgreSQL; SQLite writes one at a time already)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256("\x1f".join((key.models, key.policy_version, key.kind)).encode()).digest()
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest[:8], "big", signed=True)})


def grading_detail(grading: Grading | None) -> dict[str, Any] | None:
    """A grading as a JSON value (its fields), or None."""
    if grading is None:
        return None
    detail = asdict(grading)
    detail["proposed_parts"] = list(grading.proposed_parts)
    detail["final_parts"] = list(grading.final_parts)
    return detail


def _grading(detail: Mapping[str, Any] | None) -> Grading | None:
    if detail is None:
        return None
    values = dict(detail)
    values["proposed_parts"] = tuple(values["proposed_parts"])
    values["final_parts"] = tuple(values["final_parts"])
    return Grading(**values)


def graded_claim(row: GradingRow) -> GradedClaim:
    """A stored grading as evidence for ``evaluate_path``."""
    return GradedClaim(row.blind, tuple(_grading(d) for d in row.steps), row.autonomous, row.audit_drawn)


def add_grading(
    session: Session,
    key: EvidenceKey,
    versions: Mapping[str, str],
    *,
    claim_id: str,
    review_id: str,
    quote_id: str,
    headline: Grading,
    steps: Sequence[Grading | None],
    would_settle: Sequence[bool],
    autonomous: bool,
    audit_drawn: bool,
) -> GradingRow:
    """Record one grading (flushed, committed with the decision it grades)."""
    row = GradingRow(
        claim_id=claim_id,
        review_id=review_id,
        quote_id=quote_id,
        kind=key.kind,
        models=key.models,
        detector_version=versions.get("detector", ""),
        severity_version=versions.get("severity", ""),
        pricer_version=versions.get("pricer", ""),
        catalogue_version=versions.get("catalogue", ""),
        policy_version=key.policy_version,
        blind=headline.blind,
        action=headline.action,
        proposed_amount=headline.proposed_amount,
        final_amount=headline.final_amount,
        currency=headline.currency,
        wrong=headline.wrong,
        overpay=headline.overpay,
        underpay=headline.underpay,
        would_settle=list(would_settle),
        steps=[grading_detail(g) for g in steps],
        autonomous=autonomous,
        audit_drawn=audit_drawn,
    )
    session.add(row)
    session.flush()
    return row


def evidence(session: Session, key: EvidenceKey) -> list[GradingRow]:
    """One key's gradings in the order they were written."""
    stmt = (
        select(GradingRow)
        .where(GradingRow.models == key.models, GradingRow.policy_version == key.policy_version)
        .where(GradingRow.kind == key.kind)
        .order_by(GradingRow.id)
    )
    return list(session.scalars(stmt).all())


def gradings_of_claim(session: Session, claim_id: str) -> list[GradingRow]:
    stmt = select(GradingRow).where(GradingRow.claim_id == claim_id).order_by(GradingRow.id)
    return list(session.scalars(stmt).all())


def _states(session: Session, key: EvidenceKey, event: str) -> list[AutonomyStateRow]:
    stmt = (
        select(AutonomyStateRow)
        .where(AutonomyStateRow.models == key.models, AutonomyStateRow.policy_version == key.policy_version)
        .where(AutonomyStateRow.kind == key.kind, AutonomyStateRow.event == event)
        .order_by(AutonomyStateRow.id)
    )
    return list(session.scalars(stmt).all())


def last_states(session: Session, key: EvidenceKey) -> dict[str, str]:
    """Each step's state as last recorded (a step never recorded is in shadow)."""
    return {row.step: row.state for row in _states(session, key, "state")}


def confirmed_steps(session: Session, key: EvidenceKey) -> set[str]:
    """The steps an admin confirmed may settle alone."""
    return {row.step for row in _states(session, key, "confirmed")}


def add_state(
    session: Session, key: EvidenceKey, step: str, state: str, event: str = "state", actor_key_id: str | None = None
) -> AutonomyStateRow:
    """Record a step's new state, or (``event="confirmed"``) an admin's confirmation."""
    row = AutonomyStateRow(
        models=key.models,
        policy_version=key.policy_version,
        kind=key.kind,
        step=step,
        event=event,
        state=state,
        actor_key_id=actor_key_id,
    )
    session.add(row)
    session.flush()
    return row

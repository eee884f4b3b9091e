"""Autonomy in the service: what each step would do with a quote, settling alone, grading each decision.

* At assessment (:func:`at_assessment`): each step's shadow and the claim's blind and audit draws are recorded
  with the quote; when a step is autonomous for these models and this policy version (its last recorded
  state), a claim it would settle that the audit draw did not pick settles alone under that step's
  decision; an audited one goes to review with the normal wording. The lab calibration's gate stays in the
  policy's own decision and never switches autonomy on.
* At a decision (:func:`grade_decision`): the model's proposal is graded against the adjuster's decision in
  the decision's transaction, and each step whose state differs from its last recorded one is logged
  (switch-on, pending an admin, revocation) and counted in ``/metrics``.
* Blind reviews (:func:`blind`): staff see the photos and the customer's statements, never the model's parts,
  amount or decision event, in any view (the queue, the claim, its audit trail), and an approval is not compared
  with the model's amount (a refusal would say where it lies).
* :func:`report`: per policy and step, the state and evidence, for ``autoquote autonomy status`` and the
  admin API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy.orm import Session

from model.autonomy import (
    AdjusterDecision,
    Grading,
    PathStatus,
    Proposal,
    StepState,
    StepStatus,
    audit_draw,
    blind_draw,
    evaluate_path,
    grade,
    settle_alone,
    shadow_steps,
    step_policy,
)
from model.autonomy.shadow import StepShadow
from model.decision import Policy, decide
from model.pipeline import Quote
from serve.claims.states import TRANSITIONS, Action
from serve.db import audit, gradings
from serve.db.gradings import EvidenceKey
from serve.db.keys import Principal
from serve.db.rows import AuditEventRow, ClaimRow, QuoteRow
from serve.errors import AutonomyNotProven, AutonomyStepNotFound
from serve.http.metrics import Metrics

KINDS = ("settle", "partial_release")
Summary = TypeVar("Summary", bound=BaseModel)
QuoteT = TypeVar("QuoteT", bound=BaseModel)
EventT = TypeVar("EventT", bound=BaseModel)


def kinds_of(policy: Policy) -> tuple[str, ...]:
    return KINDS if policy.partial_release else KINDS[:1]


def path_status(session: Session, policy: Policy, key: EvidenceKey) -> PathStatus:
    """Each step's state now: the key's gradings replayed in the order they were written."""
    claims = [gradings.graded_claim(row) for row in gradings.evidence(session, key)]
    claims = [c for c in claims if len(c.gradings) == len(policy.threshold_path)]
    if key.kind == "partial_release":
        return evaluate_path(claims, policy, confirmed=gradings.confirmed_steps(session, key), kind="partial_release")
    return evaluate_path(claims, policy, confirmed=gradings.confirmed_steps(session, key), kind="settle")


def blind(claim: ClaimRow) -> bool:
    """The claim awaits a blind review: staff decide it without the model's parts, amount or decision."""
    models = [q for q in claim.quotes if q.source == "model"]
    drawn = bool(models and models[-1].autonomy and models[-1].autonomy["verdict"]["blind"])
    return drawn and claim.status == "in_review"


def hides_quote(claim: ClaimRow) -> bool:
    """In a blind review, the quote in force is still the model's: staff must not see it."""
    return blind(claim) and bool(claim.quotes) and claim.quotes[-1].source == "model"


def hidden_event(actor_role: str, action: str) -> bool:
    """An audit event a blind review hides: the system's (the model's decision and its reasons)."""
    return actor_role == "system" or action == TRANSITIONS[Action.ASSESS].event


def blind_quote(quote: QuoteT) -> QuoteT:
    """An adjuster's quote in a blind review without what it inherited from the model: the model's reasons, its
    findings on each photo and its check of the declared parts (the adjuster's own lines stay)."""
    photos = [p.model_copy(update={"findings": []}) for p in getattr(quote, "photos", [])]
    return quote.model_copy(update={"reasons": [], "photos": photos, "verification": None})


def blind_event(event: EventT) -> EventT:
    """An edit's audit entry in a blind review without the lines and amount it replaced (the model's, at first)."""
    detail = dict(event.detail)  # type: ignore[attr-defined]
    if "before" not in detail and not isinstance(detail.get("total"), dict):
        return event
    detail.pop("before", None)
    if isinstance(detail.get("total"), dict):
        detail["total"] = {"to": detail["total"].get("to")}
    return event.model_copy(update={"detail": detail})


def blind_summary(claim: ClaimRow, summary: Summary) -> Summary:
    """A claim's line in a staff list without what the model proposed (its amount and the parts it priced)."""
    if not hides_quote(claim):
        return summary
    update: dict[str, Any] = {"total": None}
    if "parts" in type(summary).model_fields and not claim.declared_parts:
        update["parts"] = []
    return summary.model_copy(update=update)


def recorded_states(session: Session, policy: Policy, key: EvidenceKey) -> dict[str, StepState]:
    """Each step's state as last recorded: what replaying the gradings gives, read in one query.

    Every change of the evidence (a grading, a confirmation) records the steps whose state it changed in the
    same transaction (:func:`sync_states`), so the last recorded state is the replayed one; the assessment's
    hot path reads it instead of replaying every grading (``benchmarks/bench_autonomy_states.py``)."""
    last = gradings.last_states(session, key)
    return {s.name: cast(StepState, last.get(s.name, "shadow")) for s in policy.threshold_path}


def _shadow_detail(s: StepShadow) -> dict[str, Any]:
    partial = None
    if s.partial is not None:
        partial = {
            "released": [{"part": i.part, "total": i.total} for i in s.partial.released],
            "held": [{"part": i.part, "total": i.total} for i in s.partial.held],
            "released_amount": round(s.partial.released_amount, 2),
            "held_amount": round(s.partial.held_amount, 2),
        }
    return {"step": s.step, "would_settle": s.would_settle, "partial": partial}


def at_assessment(
    session: Session, claim_id: str, quote: Quote, action: Action, policy: Policy, secret: bytes
) -> tuple[Quote, Action, dict[str, Any] | None]:
    """The quote and action the claim gets, and what the quote records about autonomy (None: no path)."""
    if not policy.threshold_path:
        return quote, action, None
    inp = quote.decision_input()
    shadow = shadow_steps(inp, policy)
    audit_d = audit_draw(claim_id, secret, policy.audit_rate)
    blind_d = blind_draw(claim_id, secret, policy.blind_review_rate)
    key = EvidenceKey.of(quote.versions, policy.label)
    settle = recorded_states(session, policy, key)
    partial = (
        recorded_states(session, policy, dataclasses.replace(key, kind="partial_release"))
        if policy.partial_release
        else None
    )
    verdict = settle_alone(shadow, settle, partial, audit_d, blind_d)
    detail: dict[str, Any] = {
        "key": key.as_dict(),
        "steps": [_shadow_detail(s) for s in shadow],
        "draws": {
            d.purpose: {"value": d.value, "rate": d.rate, "drawn": d.drawn} for d in (audit_d, blind_d)
        },
        "verdict": dataclasses.asdict(verdict),
    }
    if verdict.action == "auto_settle" and verdict.step is not None and action is Action.ROUTE_TO_REVIEW:
        decision = decide(inp, step_policy(policy, verdict.step))
        if decision.outcome == "auto_settle":
            return dataclasses.replace(quote, decision=decision), Action.SETTLE, detail
    if verdict.action == "auto_partial" and verdict.step is not None and action is Action.ROUTE_TO_REVIEW:
        # The proven part is released now; the claim goes to an adjuster for the rest.
        split = next(d["partial"] for d in detail["steps"] if d["step"] == verdict.step)
        detail["release"] = {"step": verdict.step, "currency": quote.currency, **split}
        return quote, action, detail
    if verdict.action in ("auto_settle", "auto_partial") and action is not Action.SETTLE:
        detail["verdict"]["action"] = "review"  # the policy asks for more than a review (a retake): it stands
    return quote, action, detail


def release_of(quote: QuoteRow | None) -> dict[str, Any] | None:
    """What a quote released before review (``auto_partial``): its step, parts and both amounts; else None."""
    if quote is None or not quote.autonomy:
        return None
    release: dict[str, Any] | None = quote.autonomy.get("release")
    return release


def _decision(claim: ClaimRow, outcome: str, amount: float | None, model: QuoteRow) -> AdjusterDecision:
    if outcome == "rejected":
        return AdjusterDecision.rejected()
    final = claim.quotes[-1]
    items: dict[str, float] = {}
    for line in (row.to_domain() for row in final.line_items):
        items[line.part] = items.get(line.part, 0.0) + line.total
    same = final.id == model.id and model.total is not None and abs((amount or 0.0) - model.total) < 0.005
    return AdjusterDecision("approve" if same else "edit", items, amount or 0.0)


def _proposal(model: QuoteRow) -> Proposal:
    items: dict[str, float] = {}
    for line in (row.to_domain() for row in model.line_items):
        items[line.part] = items.get(line.part, 0.0) + line.total
    return Proposal(items, model.total or 0.0, model.currency)


def grade_decision(
    session: Session,
    claim: ClaimRow,
    review_id: str,
    outcome: str,
    amount: float | None,
    policy: Policy,
    metrics: Metrics | None,
) -> list[int]:
    """Grade the model's proposal against this decision, in its transaction; log the steps whose state changed.

    Nothing is graded for a quote without a shadow, a quote under another policy version (its evidence
    belongs to that version) or one in another currency. Returns the ids of the gradings written."""
    models = [q for q in claim.quotes if q.source == "model"]
    model = models[-1] if models else None
    if model is None or model.autonomy is None or model.policy_version != policy.label:
        return []
    if model.currency != policy.currency:
        return []
    recorded = model.autonomy
    shadows = recorded["steps"]
    if len(shadows) != len(policy.threshold_path):
        return []
    verdict = recorded["verdict"]
    final = _decision(claim, outcome, amount, model)
    blind = bool(verdict["blind"])
    audit_drawn = bool(recorded["draws"]["audit"]["drawn"])
    whole = grade(_proposal(model), final, policy, blind=blind)
    would = [bool(s["would_settle"]) for s in shadows]
    versions = model.versions()
    key = EvidenceKey.of(versions, policy.label)
    gradings.lock_evidence(session, key)
    written = [
        gradings.add_grading(
            session, key, versions, claim_id=claim.id, review_id=review_id, quote_id=model.id, headline=whole,
            steps=[whole if w else None for w in would], would_settle=would,
            autonomous=bool(verdict["autonomy_on"]), audit_drawn=audit_drawn,
        ).id
    ]
    changed = sync_states(session, policy, key, metrics)
    if policy.partial_release and any(s["partial"] for s in shadows):
        steps: list[Grading | None] = []
        for s in shadows:
            split = s["partial"]
            if split is None:
                steps.append(None)
                continue
            released = {i["part"]: i["total"] for i in split["released"]}
            proposal = Proposal(released, split["released_amount"], model.currency)
            steps.append(grade(proposal, final.restricted_to(released), policy, blind=blind))
        headline = next(g for g in steps if g is not None)
        pkey = dataclasses.replace(key, kind="partial_release")
        gradings.lock_evidence(session, pkey)
        written.append(
            gradings.add_grading(
                session, pkey, versions, claim_id=claim.id, review_id=review_id, quote_id=model.id,
                headline=headline, steps=steps, would_settle=[g is not None for g in steps],
                autonomous=bool(verdict["partial_autonomy_on"]), audit_drawn=audit_drawn,
            ).id
        )
        changed += sync_states(session, policy, pkey, metrics)
    return written


Writer = Callable[[Session, Mapping[str, str], str, str, Mapping[str, Any]], AuditEventRow]
WRITERS: dict[str, Writer] = {
    "pending_confirmation": audit.autonomy_pending,
    "autonomous": audit.autonomy_switched_on,
    "revoked": audit.autonomy_revoked,
    "shadow": audit.autonomy_reset,
}


def step_out(s: StepStatus) -> dict[str, Any]:
    """One step's status as the API, the CLI and the audit log show it."""
    return {
        "step": s.step,
        "state": s.state,
        "testable": s.testable,
        "graded": s.graded,
        "would_settle": s.would_settle,
        "wrong": s.wrong,
        "overpay": s.overpay,
        "underpay": s.underpay,
        "bound": round(s.bound, 4),
        "more_needed": s.more_needed,
        "anchored_would_settle": s.anchored_would_settle,
        "anchored_wrong": s.anchored_wrong,
        "revoked_by": s.revoked_by,
    }


def sync_states(session: Session, policy: Policy, key: EvidenceKey, metrics: Metrics | None) -> int:
    """Record and log each step whose state now differs from its last recorded one; how many changed."""
    status = path_status(session, policy, key)
    before = gradings.last_states(session, key)
    changed = 0
    for s in status.steps:
        old = before.get(s.step, "shadow")
        if s.state == old:
            continue
        gradings.add_state(session, key, s.step, s.state)
        WRITERS[s.state](session, key.as_dict(), s.step, old, step_out(s))
        if metrics is not None:
            metrics.autonomy.labels(policy.label, s.step, s.state).inc()
        changed += 1
    return changed


def confirm(
    session: Session, principal: Principal, policy: Policy, versions: Mapping[str, str], step: str, kind: str,
    metrics: Metrics | None,
) -> PathStatus:
    """An admin confirms a proven step (``autonomy: manual``): it switches on now. Refused unless it waits."""
    names = [s.name for s in policy.threshold_path]
    if step not in names or kind not in kinds_of(policy):
        raise AutonomyStepNotFound(
            f"the {policy.label} policy has no {kind} step {step!r}; its steps: {', '.join(names) or 'none'}"
        )
    key = EvidenceKey.of(versions, policy.label, kind)
    gradings.lock_evidence(session, key)
    current = next(s for s in path_status(session, policy, key).steps if s.step == step)
    if current.state != "pending_confirmation":
        raise AutonomyNotProven(
            f"step {step} of the {policy.label} policy is {current.state}, not waiting for a confirmation; "
            f"GET /v1/admin/autonomy shows what each step still needs"
        )
    gradings.add_state(session, key, step, "confirmed", event="confirmed", actor_key_id=principal.key_id)
    audit.autonomy_confirmed(session, principal, key.as_dict(), step)
    sync_states(session, policy, key, metrics)
    session.commit()
    return path_status(session, policy, key)


def report(session: Session, policies: Sequence[Policy], versions: Mapping[str, str]) -> dict[str, Any]:
    """Per policy and kind, each step's state and evidence for the models in ``versions``."""
    out = []
    for policy in policies:
        entry: dict[str, Any] = {
            "policy": policy.label,
            "jurisdiction": policy.jurisdiction,
            "autonomy": policy.autonomy,
            "target": policy.autonomy_target,
            "confidence": policy.autonomy_confidence,
            "audit_rate": policy.audit_rate,
            "blind_review_rate": policy.blind_review_rate,
            "models": EvidenceKey.of(versions, policy.label).models,
            "steps": [],
            "partial_release": None,
        }
        for kind in kinds_of(policy):
            status = path_status(session, policy, EvidenceKey.of(versions, policy.label, kind))
            steps = [step_out(s) for s in status.steps]
            entry["method"] = status.method
            if kind == "settle":
                entry["steps"] = steps
            else:
                entry["partial_release"] = steps
        out.append(entry)
    return {"policies": out}

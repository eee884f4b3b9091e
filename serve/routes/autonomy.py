"""Earned autonomy for admins: each policy's steps with their state and evidence, and confirming a switch-on."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from model.decision import Policy, available_policies
from model.pipeline import Pipeline
from serve.claims import autonomy
from serve.deps import MetricsDep, PipelineDep, PrincipalDep, SessionDep
from serve.http.access import AccessRoute, allow
from serve.http.error_responses import ERROR_RESPONSES

router = APIRouter(
    prefix="/v1/admin/autonomy",
    tags=["admin"],
    route_class=AccessRoute,
    dependencies=[allow("admin")],
    responses=ERROR_RESPONSES,
)


class StepOut(BaseModel):
    step: str
    state: str = Field(description="shadow | pending_confirmation | autonomous | revoked")
    testable: bool = Field(description="every stricter step is proven: this one's evidence is being tested")
    graded: int = Field(description="counted (blind) gradings of any claim")
    would_settle: int = Field(description="counted gradings of claims this step would have settled")
    wrong: int
    overpay: int
    underpay: int
    bound: float = Field(description="anytime-valid upper bound on the wrong rate")
    more_needed: int | None = Field(description="more agreeing blind reviews to reach the target at this rate")
    anchored_would_settle: int = Field(description="the same from reviews that showed the model's answer")
    anchored_wrong: int
    revoked_by: str | None


class PolicyAutonomyOut(BaseModel):
    policy: str = Field(description="jurisdiction@version")
    jurisdiction: str
    autonomy: str = Field(description="manual (an admin confirms each switch-on) or automatic")
    target: float
    confidence: float
    audit_rate: float
    blind_review_rate: float
    models: str = Field(description="detector|severity|pricer versions: whose evidence this is")
    method: str | None = None
    steps: list[StepOut]
    partial_release: list[StepOut] | None = Field(description="the same for releasing part of a claim")


class AutonomyOut(BaseModel):
    policies: list[PolicyAutonomyOut]


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jurisdiction: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    step: str = Field(min_length=1, max_length=80)
    kind: Literal["settle", "partial_release"] = "settle"


def policies_of(pipeline: Pipeline) -> list[Policy]:
    """Every policy the service can decide under."""
    return [pipeline.policy(name) for name in available_policies(pipeline.config.policies_dir)]


def report(session: SessionDep, pipeline: Pipeline) -> dict[str, Any]:
    """The one report the admin endpoint, the adjusters' panel and the CLI show (``autonomy.report``)."""
    versions = pipeline.versions()
    return autonomy.report(session, policies_of(pipeline), versions)


@router.get("", response_model=AutonomyOut)
def autonomy_status(principal: PrincipalDep, session: SessionDep, pipeline: PipelineDep) -> dict[str, Any]:
    """Per policy and step, for the models in service: state, graded, would-settle, wrong, bound, more needed."""
    return report(session, pipeline)


@router.post("/confirm", response_model=AutonomyOut)
def confirm_step(
    body: ConfirmIn, principal: PrincipalDep, session: SessionDep, pipeline: PipelineDep, metrics: MetricsDep
) -> dict[str, Any]:
    """Confirm a proven step (``pending_confirmation``): it settles alone from now on (audited)."""
    policy = pipeline.policy(body.jurisdiction)
    autonomy.confirm(session, principal, policy, pipeline.versions(), body.step, body.kind, metrics)
    return report(session, pipeline)

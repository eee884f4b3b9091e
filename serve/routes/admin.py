"""/v1/admin/models: what runs, promote a candidate from the registry, run one in shadow (admins only)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from model.fields import Text
from serve.db import audit
from serve.deps import MetricsDep, ModelsDep, PrincipalDep, SessionDep
from serve.errors import InvalidModelChoice
from serve.http.access import AccessRoute, allow
from serve.http.error_responses import ERROR_RESPONSES
from serve.models.choice import describe
from serve.models.in_service import ModelsInService

router = APIRouter(
    prefix="/v1/admin/models",
    tags=["admin"],
    route_class=AccessRoute,
    dependencies=[allow("admin")],
    responses=ERROR_RESPONSES,
)


class ModelChoiceIn(BaseModel):
    """ONNX files in the model registry (relative to it, or absolute inside it); omit one to keep it."""

    model_config = ConfigDict(extra="forbid")

    detector: Text | None = Field(default=None, max_length=1000)
    severity: Text | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one(self) -> ModelChoiceIn:
        if not self.detector and not self.severity:
            raise ValueError("name a detector, a severity model, or both")
        return self


class ModelsStateOut(BaseModel):
    versions: dict[str, str]
    choice: dict[str, str | None]
    shadow_versions: dict[str, str] | None
    shadow_choice: dict[str, str | None] | None
    previous_versions: dict[str, str] | None = None


def _state(models: ModelsInService, previous: dict[str, str] | None = None) -> ModelsStateOut:
    return ModelsStateOut(
        versions=models.current().versions(),
        choice=describe(models.active),
        shadow_versions=models.shadow.versions() if models.shadow else None,
        shadow_choice=describe(models.shadow_choice) if models.shadow_choice else None,
        previous_versions=previous,
    )


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@router.get("", response_model=ModelsStateOut)
def models_state(principal: PrincipalDep, models: ModelsDep) -> ModelsStateOut:
    """The models in service and in shadow, and where they were loaded from."""
    return _state(models)


@router.post("/promote", response_model=ModelsStateOut)
def promote(
    body: ModelChoiceIn, principal: PrincipalDep, models: ModelsDep, session: SessionDep, metrics: MetricsDep
) -> ModelsStateOut:
    """Load the chosen models, then switch the service to them; requests in flight finish on the old ones."""
    try:
        previous, pipeline = models.promote(_path(body.detector), _path(body.severity), principal.key_id)
    except InvalidModelChoice as exc:
        audit.promotion_refused(session, principal, body.model_dump(), exc.message)
        session.commit()
        raise
    metrics.models_ready.set(1 if pipeline.ready else 0)
    metrics.promotion.set(models.generation)
    audit.model_promoted(
        session, principal, previous, pipeline.versions(), describe(models.active), "api", models.generation
    )
    session.commit()
    return _state(models, previous)


@router.put("/shadow", response_model=ModelsStateOut)
def start_shadow(
    body: ModelChoiceIn, principal: PrincipalDep, models: ModelsDep, session: SessionDep
) -> ModelsStateOut:
    """Run a candidate beside the service on every assessed claim; its quotes are stored, never used."""
    shadow = models.start_shadow(_path(body.detector), _path(body.severity), principal.key_id)
    audit.shadow_started(session, principal, shadow.versions(), describe(models.shadow_choice))
    session.commit()
    return _state(models)


@router.delete("/shadow", response_model=ModelsStateOut)
def stop_shadow(principal: PrincipalDep, models: ModelsDep, session: SessionDep) -> ModelsStateOut:
    """Stop the shadow candidate."""
    was = models.shadow.versions() if models.shadow else None
    models.stop_shadow()
    audit.shadow_stopped(session, principal, was)
    session.commit()
    return _state(models)

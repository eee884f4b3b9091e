"""Typed dependencies: the resources the lifespan put on ``app.state``, and the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from model.pipeline import Pipeline
from serve.claims.assessment import Assessor
from serve.claims.intake import PhotoIntake
from serve.db.keys import Principal
from serve.http.access import authenticate
from serve.http.metrics import Metrics
from serve.models.in_service import ModelsInService
from serve.photos.decoding import Decoder
from serve.photos.store import PhotoStore
from serve.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <API key>")


def _on_state(name: str) -> Callable[[Request], Any]:
    """A dependency answering what the lifespan put on ``app.state`` under ``name``."""

    def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    return get


get_settings: Callable[[Request], Settings] = _on_state("settings")  # the settings the app was created with
get_models: Callable[[Request], ModelsInService] = _on_state("models")  # the models in service and the shadow
get_store: Callable[[Request], PhotoStore] = _on_state("store")
# The process's photo decoder (limits per request, decode slots, decoded-photo cache).
get_decoder: Callable[[Request], Decoder] = _on_state("decoder")
get_metrics: Callable[[Request], Metrics] = _on_state("metrics")  # the app's Prometheus collectors
get_sessions: Callable[[Request], sessionmaker[Session]] = _on_state("sessionmaker")  # the app's session factory

SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelsDep = Annotated[ModelsInService, Depends(get_models)]
StoreDep = Annotated[PhotoStore, Depends(get_store)]
DecoderDep = Annotated[Decoder, Depends(get_decoder)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


def get_pipeline(models: ModelsDep) -> Pipeline:
    """The pipeline in service (models, catalogue, policies); a promotion swaps it between requests."""
    return models.current()


def get_session(request: Request) -> Iterator[Session]:
    """One database session per request, closed (and rolled back if uncommitted) afterwards."""
    with request.app.state.sessionmaker() as session:
        yield session


PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_intake(pipeline: PipelineDep, decoder: DecoderDep, store: StoreDep, settings: SettingsDep) -> PhotoIntake:
    """What storing uploaded photos takes, with this service's limits."""
    return PhotoIntake(pipeline, decoder, store, settings.max_photo_bytes, settings.max_photos_per_claim)


IntakeDep = Annotated[PhotoIntake, Depends(get_intake)]


def get_draw_secret(request: Request) -> bytes:
    """The key of the blind-review and audit draws (``Settings.draw_secret``), read in the lifespan."""
    secret: bytes = request.app.state.draw_secret
    return secret


DrawSecretDep = Annotated[bytes, Depends(get_draw_secret)]


def get_assessor(
    pipeline: PipelineDep,
    decoder: DecoderDep,
    store: StoreDep,
    models: ModelsDep,
    sessions: SessionsDep,
    metrics: MetricsDep,
    secret: DrawSecretDep,
) -> Assessor:
    """What assessing a claim takes, with the pipeline this request was handed."""
    return Assessor(pipeline, decoder, store, models, sessions, metrics, secret)


AssessorDep = Annotated[Assessor, Depends(get_assessor)]


def get_principal(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    _api_key: Annotated[str | None, Security(_api_key)] = None,
) -> Principal:
    """The caller behind the request's API key (already checked by the router's access rule); 401 otherwise."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal if principal is not None else authenticate(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]

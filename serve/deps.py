"""Typed dependencies: the resources the lifespan put on ``app.state``, and the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from model.pipeline import Pipeline
from serve.access import authenticate
from serve.auth import Principal
from serve.decoding import Decoder
from serve.metrics import Metrics
from serve.registry import ModelService
from serve.settings import Settings
from serve.storage import PhotoStore

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <API key>")


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_pipeline(request: Request) -> Pipeline:
    """The pipeline in service (models, catalogue, policies); a promotion swaps it between requests."""
    models: ModelService = request.app.state.models
    return models.current()


def get_models(request: Request) -> ModelService:
    """The models in service and the shadow candidate."""
    models: ModelService = request.app.state.models
    return models


def get_store(request: Request) -> PhotoStore:
    """The photo store."""
    store: PhotoStore = request.app.state.store
    return store


def get_decoder(request: Request) -> Decoder:
    """The process's photo decoder (limits per request, decode slots, decoded-photo cache)."""
    decoder: Decoder = request.app.state.decoder
    return decoder


def get_metrics(request: Request) -> Metrics:
    """The app's Prometheus collectors."""
    metrics: Metrics = request.app.state.metrics
    return metrics


def get_session(request: Request) -> Iterator[Session]:
    """One database session per request, closed (and rolled back if uncommitted) afterwards."""
    with request.app.state.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
ModelsDep = Annotated[ModelService, Depends(get_models)]
StoreDep = Annotated[PhotoStore, Depends(get_store)]
DecoderDep = Annotated[Decoder, Depends(get_decoder)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    _api_key: Annotated[str | None, Security(_api_key)] = None,
) -> Principal:
    """The caller behind the request's API key (already checked by the router's access rule); 401 otherwise."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal if principal is not None else authenticate(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]

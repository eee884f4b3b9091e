"""Health, readiness, metrics and what is in service."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from model.decision import available_policies
from model.errors import AutoquoteError
from serve.db.session import ping
from serve.deps import MetricsDep, ModelsDep, PipelineDep
from serve.http.access import AccessRoute, allow
from serve.http.error_responses import errors_for
from serve.http.metrics import scrape_registry
from serve.http.schemas import HealthOut, ModelsOut, PolicyOut, ReadyOut

router = APIRouter(tags=["system"], route_class=AccessRoute)


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    """The process is up."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(request: Request, pipeline: PipelineDep, models: ModelsDep, response: Response) -> ReadyOut:
    """Models loaded, the latest promotion in service, database reachable; 503 otherwise (with what is missing)."""
    database = ping(request.app.state.engine)
    lagging = models.lagging
    checks = {"models": pipeline.ready, "database": database, "promotion": lagging is None}
    problems = list(pipeline.problems) + ([] if database else ["database: not reachable"])
    problems += [lagging] if lagging else []
    ready = all(checks.values())
    if not ready:
        response.status_code = 503
    return ReadyOut(ready=ready, checks=checks, problems=problems)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **errors_for(401, 403)},
    dependencies=[allow("admin")],
)
def metrics_endpoint(metrics: MetricsDep) -> Response:
    """Prometheus metrics of this worker, or of every worker of this replica in multiprocess mode (an admin
    key; or scrape AUTOQUOTE_METRICS_PORT without one)."""
    return Response(generate_latest(scrape_registry(metrics)), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models", response_model=ModelsOut)
def models(pipeline: PipelineDep) -> ModelsOut:
    """The versions of the models, catalogue and decision policies in service, and the parts a claim may declare."""
    policies = []
    for name in available_policies(pipeline.config.policies_dir):
        try:
            p = pipeline.policy(name)
        except AutoquoteError:
            continue
        policies.append(PolicyOut.of(p))
    return ModelsOut(
        ready=pipeline.ready,
        versions=pipeline.versions(),
        parts=pipeline.parts,
        problems=list(pipeline.problems),
        policies=policies,
    )

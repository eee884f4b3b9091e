"""Health, readiness, metrics and what is in service."""

from __future__ import annotations

import logging
import threading

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from model.decision import available_policies
from model.errors import AutoquoteError
from serve.db.audit_chain import AuditWatch
from serve.db.session import ping
from serve.deps import MetricsDep, ModelsDep, PipelineDep
from serve.http.access import AccessRoute, allow
from serve.http.error_responses import errors_for
from serve.http.metrics import scrape_registry
from serve.http.schemas import AuditHeadOut, HealthOut, ModelsOut, PolicyOut, ReadyOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["system"], route_class=AccessRoute)


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    """The process is up."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(request: Request, pipeline: PipelineDep, models: ModelsDep, response: Response) -> ReadyOut:
    """Models loaded, the latest promotion in service, database reachable; 503 otherwise (with what is missing).
    Also the audit log's last verified head."""
    database = ping(request.app.state.engine)
    lagging = models.lagging
    checks = {"models": pipeline.ready, "database": database, "promotion": lagging is None}
    problems = list(pipeline.problems) + ([] if database else ["database: not reachable"])
    problems += [lagging] if lagging else []
    ready = all(checks.values())
    if not ready:
        response.status_code = 503
    audit = audit_head(request.app) if database else None
    return ReadyOut(ready=ready, checks=checks, problems=problems, audit=audit)


_watch_lock = threading.Lock()


def audit_head(app: FastAPI) -> AuditHeadOut | None:
    """The audit log's last verified head, verified onward from where this process last stopped (a bounded
    slice per call). A broken log is reported here and logged, but does not take the service out of rotation."""
    with _watch_lock:
        watch = getattr(app.state, "audit_watch", None)
        if watch is None:
            watch = app.state.audit_watch = AuditWatch()
    try:
        with app.state.sessionmaker() as session:
            verdict = watch.check(session)
    except SQLAlchemyError:
        log.exception("could not verify the audit log")
        return None
    return None if verdict is None else AuditHeadOut.model_validate(verdict.as_dict())


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **errors_for(401, 403, 429)},
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

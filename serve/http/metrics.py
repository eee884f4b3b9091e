"""Prometheus metrics of one app: request latency, decisions by type, model errors, refused uploads.

Each app gets its own registry (tests build many apps). With several uvicorn workers, set
``PROMETHEUS_MULTIPROC_DIR`` (``autoquote serve --workers N`` does, to ``<data dir>/prometheus``): every
worker then writes its counts there and ``/metrics`` answers for all of them together.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import Message, Receive, Scope, Send

from serve.http.asgi import HttpMiddleware

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Metrics:
    """The service's collectors, registered on their own registry."""

    registry: CollectorRegistry
    latency: Histogram
    decisions: Counter
    model_errors: Counter
    errors: Counter
    models_ready: Gauge
    promotion: Gauge
    autonomy: Counter


def make_metrics() -> Metrics:
    """Fresh collectors on a fresh registry."""
    registry = CollectorRegistry()
    return Metrics(
        registry=registry,
        latency=Histogram(
            "autoquote_http_request_duration_seconds",
            "Time from request to response, by route template, method and status.",
            ("route", "method", "status"),
            buckets=_BUCKETS,
            registry=registry,
        ),
        decisions=Counter(
            "autoquote_decisions_total",
            "Quotes decided, by decision.",
            ("decision", "endpoint"),
            registry=registry,
        ),
        model_errors=Counter(
            "autoquote_model_errors_total",
            "Pipeline stages that failed or were unavailable while quoting.",
            ("stage",),
            registry=registry,
        ),
        errors=Counter(
            "autoquote_errors_total", "Requests refused, by stable error code.", ("code",), registry=registry
        ),
        models_ready=Gauge(
            "autoquote_models_ready",
            "1 when every model and the catalogue loaded (the lowest of the live workers).",
            registry=registry,
            multiprocess_mode="livemin",
        ),
        promotion=Gauge(
            "autoquote_model_promotion",
            "The id of the promotion in service (0: none recorded); equal on every replica once it switched.",
            registry=registry,
            multiprocess_mode="livemin",
        ),
        autonomy=Counter(
            "autoquote_autonomy_changes_total",
            "Changes of a threshold step's autonomy, by policy, step and new state (revoked: audits showed the "
            "wrong rate above the target).",
            ("policy", "step", "state"),
            registry=registry,
        ),
    )


def multiprocess_dir() -> str | None:
    """The folder the workers share their counts in, when several workers run."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def scrape_registry(metrics: Metrics) -> CollectorRegistry:
    """What a scrape reads: every worker's files together in multiprocess mode, else this app's registry."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return metrics.registry


def worker_exited() -> None:
    """Drop this worker's live gauges (multiprocess mode)."""
    if multiprocess_dir():
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@dataclass
class LatencyMiddleware(HttpMiddleware):
    """Times every HTTP request and labels it with the route template (never the raw path)."""

    metrics: Metrics

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(template, scope["method"], str(status)).observe(
                time.perf_counter() - start
            )

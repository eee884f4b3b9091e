"""Prometheus metrics of one app: request latency, decisions by type, model errors, refused uploads.

Each app gets its own registry (tests build many apps). With several uvicorn workers each worker
counts for itself; scrape them one by one or run one worker per container.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
            "autoquote_models_ready", "1 when every model and the catalogue loaded.", registry=registry
        ),
    )


class LatencyMiddleware:
    """Times every HTTP request and labels it with the route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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

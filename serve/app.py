"""The FastAPI application: ``create_app(settings)``; resources are made in the lifespan, never at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import start_http_server
from starlette.concurrency import run_in_threadpool

from model.image_io import configure_pillow
from model.offline import configure_offline
from model.pipeline import Pipeline
from serve.db.session import make_engine, make_sessionmaker, run_migrations
from serve.http.error_handlers import install_error_handlers
from serve.http.limits import BodyLimitMiddleware, NulGuardMiddleware
from serve.http.metrics import LatencyMiddleware, make_metrics, multiprocess_dir, scrape_registry, worker_exited
from serve.http.throttle import FailedAuthThrottle
from serve.models.in_service import ModelsInService, PipelineFactory, load_pipeline
from serve.photos.decoding import Decoder
from serve.photos.factory import make_photo_store
from serve.photos.store import PhotoStore
from serve.photos.uploads import keep_uploads_in_memory
from serve.routes import admin, autonomy, claims, docs, pages, quotes, review, system
from serve.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    pipeline_factory: PipelineFactory = load_pipeline,
    store_factory: Callable[[Settings], PhotoStore] | None = None,
) -> FastAPI:
    """The service, configured by ``settings``; tests may pass fake models or a fake photo store."""
    metrics = make_metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_offline()
        configure_pillow(settings.max_pixels)
        keep_uploads_in_memory(settings.max_photo_bytes)
        if settings.migrate_on_start:
            try:
                await run_in_threadpool(run_migrations, settings.db_url)
            except Exception:
                # Stay up: /readyz says the database is not ready, requests that need it fail cleanly.
                log.exception("database migrations failed")
        engine = make_engine(settings.db_url)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.store = store_factory(settings) if store_factory else make_photo_store(settings)
        app.state.draw_secret = await run_in_threadpool(settings.draw_secret)
        models = ModelsInService(settings, pipeline_factory, app.state.sessionmaker)
        pipeline = await run_in_threadpool(models.start)
        app.state.models = models
        metrics.models_ready.set(1 if pipeline.ready else 0)
        metrics.promotion.set(models.generation)

        def switched(new: Pipeline) -> None:
            metrics.models_ready.set(1 if new.ready else 0)
            metrics.promotion.set(models.generation)

        stop_watching = models.watch(settings.model_poll_seconds, switched)
        scraper = None
        if settings.metrics_port is not None:
            try:
                scraper, _thread = start_http_server(
                    settings.metrics_port, settings.metrics_host, registry=scrape_registry(metrics)
                )
            except OSError:
                if not multiprocess_dir():
                    raise
                log.info("metrics port %s is served by another worker of this replica", settings.metrics_port)
        try:
            yield
        finally:
            await run_in_threadpool(stop_watching)
            if scraper is not None:
                scraper.shutdown()
                scraper.server_close()
            engine.dispose()
            worker_exited()

    app = FastAPI(
        title="autoquote",
        version="1",
        summary="Photos of a damaged car in, a repair quote and a settle-or-review decision out.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.decoder = Decoder(
        settings.image_limits(),
        settings.max_request_pixels,
        settings.max_concurrent_decodes,
        settings.decode_wait_seconds,
        settings.decoded_cache_mb * 1024 * 1024,
    )
    app.state.metrics = metrics
    app.state.auth_throttle = FailedAuthThrottle(settings.auth_failures_per_minute)
    install_error_handlers(app, metrics)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_request_bytes, max_json_bytes=settings.max_json_bytes
    )
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(LatencyMiddleware, metrics=metrics)  # outermost: times refusals too
    app.include_router(system.router)
    app.include_router(claims.router)
    app.include_router(quotes.router)
    app.include_router(review.router)
    app.include_router(admin.router)
    app.include_router(autonomy.router)
    docs.mount_docs(app)
    pages.mount_pages(app)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory serve.app:create_app_from_env`` (each worker reads the environment)."""
    configure_offline()
    return create_app(get_settings())

"""The API documentation pages, served with Swagger UI and ReDoc files from an installed package: no CDN.

The service often runs self-hosted without internet access; the default FastAPI pages would load their
scripts from a CDN and show a blank page there.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/static/docs"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """Swagger UI on this service's OpenAPI document."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="autoquote API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    """ReDoc on this service's OpenAPI document."""
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="autoquote API",
        redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )


def mount_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets to ``app`` (created with ``docs_url=None, redoc_url=None``)."""
    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

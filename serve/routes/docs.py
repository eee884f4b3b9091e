"""The API documentation pages, served with Swagger UI and ReDoc files from an installed package: no CDN.

The service often runs self-hosted without internet access; the default FastAPI pages would load their
scripts from a CDN and show a blank page there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/static/docs"
FAVICON = f"{ASSETS_URL}/favicon.png"

router = APIRouter(include_in_schema=False)


class _Page(TypedDict):
    openapi_url: str
    title: str


def _page(request: Request) -> _Page:
    """What both pages show: the app's own OpenAPI document, under the app's title."""
    return {"openapi_url": request.app.openapi_url, "title": f"{request.app.title} API"}


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on this service's OpenAPI document."""
    js, css = f"{ASSETS_URL}/swagger-ui-bundle.js", f"{ASSETS_URL}/swagger-ui.css"
    return get_swagger_ui_html(**_page(request), swagger_js_url=js, swagger_css_url=css, swagger_favicon_url=FAVICON)


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc on this service's OpenAPI document."""
    js = f"{ASSETS_URL}/redoc.standalone.js"
    return get_redoc_html(**_page(request), redoc_js_url=js, redoc_favicon_url=FAVICON, with_google_fonts=False)


def mount_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets to ``app`` (created with ``docs_url=None, redoc_url=None``)."""
    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

"""The web pages: the customer's claim page and the adjuster's workspace, plain HTML served with a strict CSP.

The pages are static files; they talk to the JSON API under /v1 with the key the user typed (kept in
``sessionStorage``). Every value from the API is put on the page with ``textContent``; the policy below
forbids inline script and, with Trusted Types, any assignment of a string to ``innerHTML``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

SERVE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = SERVE_DIR / "templates"
STATIC = SERVE_DIR / "static"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(TEMPLATES / name, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/")
def home() -> RedirectResponse:
    """The customer's page is the front door."""
    return RedirectResponse("/claim", status_code=302)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The icon browsers ask for on every page (an SVG; the pages link it too)."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


@router.get("/claim")
def customer_page(request: Request) -> HTMLResponse:
    """Upload photos, see the quote or why it went to an adjuster, follow the claim."""
    long_side = int(request.app.state.settings.upload_long_side)
    html = (TEMPLATES / "customer.html").read_text(encoding="utf-8")
    html = html.replace('data-upload-long-side="1600"', f'data-upload-long-side="{long_side}"')
    return HTMLResponse(html, headers=PAGE_HEADERS)


@router.get("/review")
def review_page() -> FileResponse:
    """The adjuster's workspace: queue, claim view with photo overlays, edits, approve or reject."""
    return _page("review.html")


def mount_pages(app: FastAPI) -> None:
    """Add the pages and their static files (scripts, styles) to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

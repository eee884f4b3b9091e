"""The pages are served with a strict policy, load only their own files, and never build HTML from data."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from serve.routes.pages import STATIC, TEMPLATES


@pytest.mark.parametrize("path", ["/claim", "/review"])
def test_pages_send_a_strict_content_security_policy(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "require-trusted-types-for 'script'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


def test_the_front_door_is_the_customer_page(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/claim"


def test_static_files_are_served(client: TestClient) -> None:
    for name in ("common.js", "review.js", "customer.js", "style.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and r.content == (STATIC / name).read_bytes()


def test_no_inline_script_no_remote_resource_and_no_html_from_strings() -> None:
    for page in TEMPLATES.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), f"inline script in {page.name}"
        assert not re.search(r"\son[a-z]+=", html), f"inline handler in {page.name}"
        assert "http://" not in html and "https://" not in html, f"remote resource in {page.name}"
    for script in STATIC.glob("*.js"):
        code = script.read_text()
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ):
            assert sink not in code, f"{sink} in {script.name}"
    assert (
        "@import" not in (STATIC / "style.css").read_text()
        and "url(" not in (STATIC / "style.css").read_text()
    )

"""The API contract under hostile requests: 4xx with stable codes (never 5xx), access checked before the body
is read, strict numbers, no NUL bytes, 405 with Allow, a documented status for every answer, offline docs."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from model.image_io import mebibytes
from model.pipeline import Pipeline
from serve.app import create_app
from serve.http.status import codes_for
from serve.photos.uploads import display_filename
from serve.settings import Settings
from tests.fakes import photo_bytes

Keys = Callable[[str], str]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def code(r: object) -> str:
    return str(r.json()["error"]["code"])  # type: ignore[attr-defined]


def test_huge_offset_is_refused_not_an_overflow(client: TestClient, new_key: Keys) -> None:
    key = new_key("adjuster")
    for path in ("/v1/claims", "/v1/review/queue"):
        r = client.get(path, params={"offset": "99999999999999999999"}, headers=auth(key))
        assert r.status_code == 422 and code(r) == "request_invalid", (path, r.text)
    assert client.get("/v1/claims", params={"offset": 1_000_000_000}, headers=auth(key)).status_code == 200


def test_nul_bytes_refused_everywhere(client: TestClient, new_key: Keys) -> None:
    admin, customer = auth(new_key("admin")), auth(new_key("customer"))
    for method, path in (("post", "/v1/admin/models/promote"), ("put", "/v1/admin/models/shadow")):
        r = client.request(method, path, json={"detector": "a\x00b.onnx"}, headers=admin)
        assert r.status_code == 422 and code(r) == "request_invalid" and "NUL" in r.text, r.text
    r = client.post("/v1/claims", json={"description": "scratch\x00"}, headers=customer)
    assert r.status_code == 422 and "NUL" in r.text
    for url in ("/v1/claims/abc%00def", "/v1/claims?status=open%00"):
        r = client.get(url, headers=customer)
        assert r.status_code == 422 and code(r) == "text_has_nul", (url, r.text)
    r = client.get("/v1/claims", headers={**customer, "Idempotency-Key": "a\x00"})
    assert r.status_code < 500


def test_strict_numbers(client: TestClient, new_key: Keys) -> None:
    adjuster = auth(new_key("adjuster"))
    customer = auth(new_key("customer"))
    claim = client.post("/v1/claims", json={}, headers=customer).json()["id"]
    url = f"/v1/claims/{claim}/approve"
    r = client.post(url, json={"amount": "12"}, headers=adjuster)
    assert r.status_code == 422 and "valid number" in r.text, r.text
    for raw in ("NaN", "Infinity", "-Infinity"):
        r = client.post(url, content=f'{{"amount": {raw}}}', headers={**adjuster, "content-type": "application/json"})
        assert r.status_code == 422 and "finite number" in r.text, (raw, r.text)
    r = client.get("/v1/review/queue", params={"min_total": "nan"}, headers=adjuster)
    assert r.status_code == 422 and "finite number" in r.text


def test_405_names_every_allowed_method(client: TestClient) -> None:
    r = client.delete("/v1/claims")
    assert r.status_code == 405 and code(r) == "method_not_allowed"
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    r = client.patch("/v1/admin/models/shadow")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"PUT", "DELETE"}


def test_unexpected_error_is_one_log_line_and_a_json_500(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    # raise_server_exceptions: an exception escaping the app is what the server would log a second time.
    with TestClient(app, raise_server_exceptions=True) as c, caplog.at_level(logging.ERROR):
        r = c.get("/boom")
    assert r.status_code == 500 and code(r) == "internal_error"
    assert [rec.levelno for rec in caplog.records if rec.exc_info] == [logging.ERROR]


def _post_counting_body(client: TestClient, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """POST a 70 MB body through the ASGI app, counting the chunks the app pulled; (status, chunks read)."""
    chunk = b"\0" * (1024 * 1024)
    pulled = 0
    status = 0

    async def receive() -> dict[str, object]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < 70}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"multipart/form-data; boundary=x"), *raw],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }

    async def call() -> None:
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    client.portal.call(call)  # type: ignore[union-attr]
    return status, pulled


def test_access_is_checked_before_the_body_is_read(client: TestClient, new_key: Keys) -> None:
    assert _post_counting_body(client, "/v1/quote", {}) == (401, 0)
    assert _post_counting_body(client, "/v1/quote", {"X-API-Key": "aq_unknown"}) == (401, 0)
    customer = new_key("customer")
    assert _post_counting_body(client, "/v1/admin/models/promote", auth(customer)) == (403, 0)
    r = client.post("/v1/admin/models/promote", json={}, headers=auth(customer))
    assert r.status_code == 403 and code(r) == "forbidden"


def test_filenames_are_cleaned_for_display(client: TestClient, new_key: Keys) -> None:
    assert display_filename("invoice\u202egpj.exe") == "invoicegpj.exe"
    assert display_filename("../../etc/passwd") == "passwd"
    assert display_filename("C:\\photos\\car\x07.jpg") == "car.jpg"
    assert display_filename("") == "photo" and display_filename(None) == "photo"
    assert len(display_filename("a" * 1000 + ".jpg")) <= 255
    customer = auth(new_key("customer"))
    claim = client.post("/v1/claims", json={}, headers=customer).json()["id"]
    files = [("files", ("front\u202egpj.exe", photo_bytes(1), "image/jpeg"))]
    r = client.post(f"/v1/claims/{claim}/photos", files=files, headers=customer)
    assert r.status_code == 201, r.text
    assert [p["filename"] for p in r.json()["photos"]] == ["frontgpj.exe"]
    # A part without a filename is a text field, not a file: say so, not pydantic's wording.
    r = client.post(f"/v1/claims/{claim}/photos", files=[("files", ("", b"abc", "image/jpeg"))], headers=customer)
    assert r.status_code == 422 and code(r) == "photo_not_a_file" and "filename" in r.json()["error"]["message"]


def test_limits_read_as_configured() -> None:
    assert mebibytes(25 * 1024 * 1024) == "25 MB"
    assert mebibytes(80 * 1024 * 1024) == "80 MB"
    assert mebibytes(1536 * 1024) == "1.5 MB"


def test_docs_are_served_without_internet(client: TestClient) -> None:
    for page, asset in (("/docs", "/static/docs/swagger-ui-bundle.js"), ("/redoc", "/static/docs/redoc.standalone.js")):
        html = client.get(page).text
        assert asset in html and "cdn" not in html.lower() and "googleapis" not in html, page
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 100_000, asset
    assert client.get("/static/docs/swagger-ui.css").status_code == 200


def test_openapi_declares_every_status_and_code(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, op in operations.items():
            declared = set(op["responses"])
            if path.startswith("/v1/") and path != "/v1/models":
                assert {"401", "403", "422"} <= declared, (method, path)
            for status, response in op["responses"].items():
                if status.startswith("4"):
                    for c in codes_for(int(status)):
                        assert c in response["description"], (method, path, status, c)
    assert {"200", "201"} <= set(paths["/v1/claims"]["post"]["responses"])  # the idempotent replay is a 200
    assert "text_has_nul" in codes_for(422) and "decoder_busy" in codes_for(429)
    assert "bad_request" in codes_for(400) and "method_not_allowed" in codes_for(405)


def test_no_route_runs_without_access_rule(app: FastAPI) -> None:
    """Every /v1 route but the public model list declares who may call it (checked before the body)."""
    from fastapi.routing import APIRoute

    from serve.http.access import Access, AccessRoute

    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/v1/") and route.path != "/v1/models":
            assert isinstance(route, AccessRoute), route.path
            assert any(isinstance(d.dependency, Access) for d in route.dependencies), route.path


def test_metrics_on_a_separate_listener_without_key(settings: Settings, pipeline: Pipeline) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    app = create_app(settings.model_copy(update={"metrics_port": port}), pipeline_factory=lambda _s: pipeline)
    with TestClient(app) as c:
        assert c.get("/metrics").status_code == 401
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "autoquote_models_ready 1.0" in text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)

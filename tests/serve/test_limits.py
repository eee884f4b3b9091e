"""Limits over real HTTP: a small body cap for JSON and the upload cap only for uploads, wrong keys throttled per
client, echoed values cut short, the same photo twice refused, the database created owner-only, a favicon."""

from __future__ import annotations

import io
import os
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image

from serve.app import create_app
from serve.db import keys
from serve.db.rows import AuditEventRow
from serve.http.throttle import FailedAuthThrottle
from serve.settings import Settings
from tests.fakes import fake_pipeline, photo_bytes
from tests.serve.live import in_thread


@dataclass
class Served:
    http: httpx.Client
    app: FastAPI
    url: str

    def key(self, role: str = "customer") -> str:
        with self.app.state.sessionmaker() as session:
            _row, key = keys.create_key(session, f"limits-{role}", role)
            session.commit()
        return key

    def auth(self, role: str = "customer") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(role)}"}


@pytest.fixture
def served(app: FastAPI) -> Iterator[Served]:
    """The app (SQLite) under uvicorn in a thread, and a client of it."""
    with in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Served(http, app, url)


@pytest.fixture
def served_on(database_url: str, settings: Settings) -> Iterator[Served]:
    """The app on each database backend under uvicorn in a thread."""
    pipeline = fake_pipeline()
    app = create_app(settings.model_copy(update={"database_url": database_url}), pipeline_factory=lambda _s: pipeline)
    with in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Served(http, app, url)


def _answer_to_headers_only(url: str, head: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """Send ``head`` (a request line and headers that promise a body) and nothing more; the raw answer and how
    long it took. The server must answer without waiting for the body."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer, time.monotonic() - started


def test_a_60_mb_json_body_is_refused_before_it_is_read(served: Served) -> None:
    key = served.key()
    head = (
        "POST /v1/claims HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {60 * 1024 * 1024}\r\n\r\n"
    ).encode() + b'{"region": "CN", "description": "'
    answer, seconds = _answer_to_headers_only(served.url, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"request_too_large"' in answer and seconds < 5


def test_a_json_body_over_the_json_cap_is_refused_while_it_streams(served: Served) -> None:
    """No Content-Length (chunked): counted as it comes, refused once past 1 MiB."""

    def body() -> Iterator[bytes]:
        yield b'{"region": "CN", "description": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    r = served.http.post(
        "/v1/claims", content=body(), headers={**served.auth(), "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert "limit for this endpoint" in r.json()["error"]["message"]
    small = served.http.post("/v1/claims", json={"region": "CN", "description": "x" * 2000}, headers=served.auth())
    assert small.status_code == 201


def test_uploads_keep_the_upload_cap(served: Served) -> None:
    """A photo larger than the JSON cap is taken on an upload route."""
    noise = np.random.default_rng(3).integers(0, 256, size=(700, 700, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")
    png = buffer.getvalue()
    settings: Settings = served.app.state.settings
    assert settings.max_json_bytes < len(png) < settings.max_photo_bytes
    headers = served.auth()
    claim = served.http.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
    r = served.http.post(
        f"/v1/claims/{claim['id']}/photos", files=[("files", ("big.png", png, "image/png"))], headers=headers
    )
    assert r.status_code == 201, r.text


def test_wrong_keys_are_throttled_per_client(served: Served) -> None:
    limit = served.app.state.settings.auth_failures_per_minute
    good = served.key()
    wrong = {"Authorization": "Bearer not-a-key"}
    for _ in range(limit):
        assert served.http.get("/v1/claims", headers=wrong).status_code == 401
    throttled = served.http.get("/v1/claims", headers=wrong)
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "auth_throttled"
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    # While throttled no key is checked, a valid one included (the answer would tell a guesser which is right).
    assert served.http.get("/v1/claims", headers={"Authorization": f"Bearer {good}"}).status_code == 429
    # Another client is not affected: 127.0.0.2 is loopback too.
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=served.url, transport=other, timeout=30) as elsewhere:
        assert elsewhere.get("/v1/claims", headers={"Authorization": f"Bearer {good}"}).status_code == 200
        assert elsewhere.get("/v1/claims", headers=wrong).status_code == 401
    # A request without a key is not a guess: 401, not counted, not throttled.
    assert served.http.get("/v1/claims").status_code == 401


def test_the_throttle_lets_a_client_try_again_after_the_window() -> None:
    now = [1000.0]
    throttle = FailedAuthThrottle(limit=3, window_seconds=60, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("a")
        throttle.failed("a")
        now[0] += 10
    with pytest.raises(Exception, match="wait 30 s") as refused:
        throttle.check("a")
    assert getattr(refused.value, "retry_after", None) == 30
    throttle.check("b")
    now[0] += 30
    throttle.check("a")  # the first failure left the window


def test_echoed_values_are_cut_short(served: Served) -> None:
    headers = served.auth()
    long_id = "x" * 20_000
    r = served.http.get(f"/v1/claims/{long_id}", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "claim_not_found"
    message = r.json()["error"]["message"]
    assert "x" * 64 + "…" in message and "x" * 65 not in message and len(r.content) < 400
    nowhere = served.http.get(f"/v1/{'y' * 20_000}", headers=headers)
    assert nowhere.status_code == 404 and len(nowhere.content) < 400
    field = served.http.post("/v1/claims", json={"region": "CN", "z" * 20_000: 1}, headers=headers)
    assert field.status_code == 422 and len(field.content) < 600


def test_the_same_photo_again_is_a_conflict_and_a_retry_with_its_key_replays(served_on: Served) -> None:
    served = served_on
    headers = served.auth()
    claim = served.http.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
    photos = f"/v1/claims/{claim['id']}/photos"
    one = [("files", ("one.jpg", photo_bytes(seed=1), "image/jpeg"))]
    first = served.http.post(photos, files=one, headers={**headers, "Idempotency-Key": "upload-1"})
    assert first.status_code == 201 and len(first.json()["photos"]) == 1
    # The same request again with its key (an answer lost on the way): the same answer, nothing added.
    again = served.http.post(photos, files=one, headers={**headers, "Idempotency-Key": "upload-1"})
    assert again.status_code == 201 and again.json()["photos"] == first.json()["photos"]
    # The same photo without the key, or under a new one: the customer meant a second photo and has none.
    for extra in ({}, {"Idempotency-Key": "upload-2"}):
        dup = served.http.post(photos, files=one, headers={**headers, **extra})
        assert dup.status_code == 409 and dup.json()["error"]["code"] == "photo_already_in_claim", dup.text
    # The key of the first upload with another photo: a different request under the same key.
    two = [("files", ("two.jpg", photo_bytes(seed=2), "image/jpeg"))]
    reused = served.http.post(photos, files=two, headers={**headers, "Idempotency-Key": "upload-1"})
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_conflict"
    # Another customer's key cannot learn anything about the claim from a key.
    stranger = served.http.post(photos, files=one, headers={**served.auth(), "Idempotency-Key": "upload-1"})
    assert stranger.status_code == 404
    assert len(served.http.get(f"/v1/claims/{claim['id']}", headers=headers).json()["photos"]) == 1
    with served.app.state.sessionmaker() as session:
        added = [e for e in session.query(AuditEventRow).filter_by(claim_id=claim["id"]) if e.action == "photo.added"]
    assert len(added) == 1 and "upload-1" not in str(added[0].detail)


def test_the_database_and_its_folder_are_created_owner_only(settings: Settings) -> None:
    pipeline = fake_pipeline()
    app = create_app(settings, pipeline_factory=lambda _s: pipeline)
    with in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        with app.state.sessionmaker() as session:
            _row, key = keys.create_key(session, "perm", "customer")
            session.commit()
        assert http.post("/v1/claims", json={"region": "CN"}, headers={"Authorization": f"Bearer {key}"}).is_success
        data = Path(settings.data_dir)
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
        for name in ("autoquote.db", "autoquote.db-wal"):
            assert stat.S_IMODE(os.stat(data / name).st_mode) == 0o600, name


def test_the_favicon_is_served_and_linked(served: Served) -> None:
    icon = served.http.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.lstrip().startswith(b"<svg")
    for page in ("/claim", "/review"):
        html = served.http.get(page).text
        assert '<link rel="icon" href="/static/favicon.svg"' in html, page
    assert served.http.get("/static/favicon.svg").status_code == 200

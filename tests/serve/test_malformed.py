"""Bad uploads get a stable error code and a 4xx, never a 5xx; the server stays up and keeps working."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from serve.db import keys
from serve.db.session import make_engine, make_sessionmaker, run_migrations
from serve.settings import Settings
from tests.fakes import photo_bytes
from tests.serve.corpus import corpus

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def test_corpus_through_the_app(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {new_key('customer')}"}
    for name, (filename, data, ctype, expected) in corpus(settings.max_photo_bytes).items():
        claim = client.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
        r = client.post(
            f"/v1/claims/{claim['id']}/photos", files=[("files", (filename, data, ctype))], headers=headers
        )
        assert r.status_code in expected, f"{name}: {r.status_code} {r.text}"
        if r.status_code >= 400:
            assert r.json()["error"]["code"] and r.json()["error"]["message"], name
            # Nothing half-written: the refused photo is not attached.
            assert client.get(f"/v1/claims/{claim['id']}", headers=headers).json()["photos"] == [], name
        one_shot = client.post("/v1/quote", files=[("files", (filename, data, ctype))], headers=headers)
        assert one_shot.status_code < 500, f"{name} (one-shot): {one_shot.status_code}"
    assert client.get("/healthz").status_code == 200


def test_request_over_the_byte_limit(
    client: TestClient, new_key: Callable[[str], str], settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {new_key('customer')}"}
    claim = client.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
    big = b"\xff\xd8\xff" + b"\0" * (settings.max_photo_bytes - 100)
    files = [("files", (f"{i}.jpg", big, "image/jpeg")) for i in range(3)]
    r = client.post(f"/v1/claims/{claim['id']}/photos", files=files, headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The real app under uvicorn in a subprocess (fake models): its base URL and a customer key."""
    data = tmp_path / "data"
    url = f"sqlite:///{(data / 'autoquote.db').as_posix()}"
    run_migrations(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        _row, key = keys.create_key(session, "live", "customer")
        session.commit()
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "run_server.py"), str(data), str(port)], env=env, cwd=REPO
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "server exited"
            assert time.monotonic() < deadline, "server did not start in 120 s"
            time.sleep(0.2)
        yield base, key
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_corpus_against_a_real_server(live_server: tuple[str, str]) -> None:
    base, key = live_server
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for name, (filename, data, ctype, expected) in corpus(3_000_000).items():
            claim = http.post("/v1/claims", json={"region": "CN"}).json()
            r = http.post(f"/v1/claims/{claim['id']}/photos", files=[("files", (filename, data, ctype))])
            assert r.status_code in expected, f"{name}: {r.status_code} {r.text}"
        # Over the request limit by Content-Length: refused before the body is read.
        r = http.post(
            "/v1/quote", files=[("files", ("x.jpg", b"\xff\xd8\xff" + b"\0" * 6_100_000, "image/jpeg"))]
        )
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        # Still up, and still quoting.
        assert http.get("/healthz").status_code == 200
        r = http.post("/v1/quote", files=[("files", ("ok.jpg", photo_bytes(seed=9), "image/jpeg"))])
        assert r.status_code == 200 and r.json()["decision"] == "auto_settle"
        assert http.get("/readyz").json()["ready"] is True

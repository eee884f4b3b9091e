"""Per-claim limits under concurrency: uploads racing over real HTTP never pass the photo limit, on each backend."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import httpx
import pytest
from sqlalchemy import select

from serve.db import keys
from serve.db.rows import PhotoRow
from serve.db.session import make_engine, make_sessionmaker
from tests.fakes import photo_bytes

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LIMIT = 12
UPLOADERS = 6
PER_UPLOAD = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The real app under uvicorn (fake models) on a migrated database of each backend: base URL and a key."""
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        _row, key = keys.create_key(session, "racer", "customer")
        session.commit()
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AUTOQUOTE_DATABASE_URL": database_url,
        "AUTOQUOTE_MAX_PHOTOS_PER_CLAIM": str(LIMIT),
    }
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "run_server.py"), str(tmp_path / "data"), str(port)], env=env, cwd=REPO
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


def test_concurrent_uploads_never_pass_the_photo_limit(server: tuple[str, str], database_url: str) -> None:
    base, key = server
    headers = {"Authorization": f"Bearer {key}"}
    batches = [
        [("files", (f"{u}-{i}.jpg", photo_bytes(seed=100 * u + i), "image/jpeg")) for i in range(PER_UPLOAD)]
        for u in range(UPLOADERS)
    ]
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        claim = http.post("/v1/claims", json={"region": "CN"}).json()
        start = Barrier(UPLOADERS)

        def upload(files: list[tuple[str, tuple[str, bytes, str]]]) -> httpx.Response:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as own:
                start.wait()
                return own.post(f"/v1/claims/{claim['id']}/photos", files=files)

        with ThreadPoolExecutor(UPLOADERS) as pool:
            answers = list(pool.map(upload, batches))
        codes = sorted(r.status_code for r in answers)
        assert set(codes) <= {201, 422}, [r.text for r in answers]
        refused = [r.json()["error"]["code"] for r in answers if r.status_code == 422]
        assert set(refused) <= {"too_many_photos"}
        accepted = codes.count(201)
        assert accepted == LIMIT // PER_UPLOAD, codes
        seen = http.get(f"/v1/claims/{claim['id']}").json()["photos"]
        assert len(seen) == LIMIT

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.scalars(select(PhotoRow).where(PhotoRow.claim_id == claim["id"])).all()
    finally:
        engine.dispose()
    assert len(rows) == LIMIT
    assert sorted(r.position for r in rows) == list(range(LIMIT)), "two photos share a position"

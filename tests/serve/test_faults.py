"""kill -9 during upload batches, on SQLite and on PostgreSQL: after a restart every acknowledged photo is
there, every photo row has its file, every file has a row once the orphan collector ran (files written by a
batch the kill cut short), every photo has its audit event, and the database passes its integrity check."""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from serve.db.rows import AuditEventRow, PhotoRow
from serve.db.session import make_engine, make_sessionmaker
from serve.jobs.orphans import collect_orphans
from serve.photos.local import LocalPhotoStore
from tests.fakes import photo_bytes
from tests.serve.live import POSTGRES_URL, LiveServer, make_keys, reset_postgres

pytestmark = pytest.mark.slow
KILLS = int(os.environ.get("AUTOQUOTE_FAULT_KILLS", "3"))


def _uploader(base: str, key: str, stop: threading.Event, acked: dict[str, set[str]], seed: int) -> None:
    """Open claims and send batches of three photos until stopped (or the server dies under it)."""
    rng = random.Random(seed)
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as http:
        while not stop.is_set():
            try:
                claim = http.post("/v1/claims", json={}).json()["id"]
                files = [
                    ("files", (f"{i}.jpg", photo_bytes(seed=rng.randrange(10**9)), "image/jpeg")) for i in range(3)
                ]
                r = http.post(f"/v1/claims/{claim}/photos", files=files)
                if r.status_code == 201:
                    acked.setdefault(claim, set()).update(p["sha256"] for p in r.json()["photos"])
            except (httpx.TransportError, KeyError, ValueError):
                time.sleep(0.05)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_during_uploads_loses_nothing(tmp_path: Path, backend: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if backend == "postgres":
        if not POSTGRES_URL:
            pytest.skip("set AUTOQUOTE_TEST_POSTGRES_URL (postgresql+psycopg://...) to run PostgreSQL tests")
        reset_postgres(POSTGRES_URL)
        db = POSTGRES_URL
    else:
        db = f"sqlite:///{(data / 'autoquote.db').as_posix()}"
    key = make_keys(db)["customer"]
    acked: dict[str, set[str]] = {}
    rng = random.Random(7)
    for kill in range(KILLS):
        server = LiveServer(data, db).start()
        stop = threading.Event()
        workers = [
            threading.Thread(target=_uploader, args=(server.base, key, stop, acked, kill * 10 + i)) for i in range(3)
        ]
        for w in workers:
            w.start()
        # Kill once batches are being acknowledged, at a random moment: three clients are always mid-upload.
        before = sum(len(v) for v in acked.values())
        deadline = time.monotonic() + 120
        while sum(len(v) for v in acked.values()) < before + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(rng.random() * 1.5)
        server.kill()
        stop.set()
        for w in workers:
            w.join(60)
    # Restart once more: the service comes up on what the kills left.
    server = LiveServer(data, db).start()
    try:
        assert httpx.get(f"{server.base}/readyz", timeout=10).json()["ready"] is True
    finally:
        server.stop()

    engine = make_engine(db)
    store = LocalPhotoStore(data / "photos")
    try:
        with make_sessionmaker(engine)() as session:
            if backend == "sqlite":
                assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            rows = session.scalars(select(PhotoRow)).all()
            held = {(r.claim_id, r.sha256) for r in rows}
            lost = [(c, s) for c, shas in acked.items() for s in shas if (c, s) not in held]
            assert not lost, f"acknowledged photos lost: {lost[:5]}"
            assert all(store.exists(r.sha256) for r in rows), "a photo row without its file"
            events = session.scalars(select(AuditEventRow).where(AuditEventRow.action == "photo.added")).all()
            audited = {p["photo_id"] for e in events for p in e.detail.get("photos", [])}
            assert {r.id for r in rows} <= audited, "a photo without its audit event"
            report = collect_orphans(session, store, timedelta(0), delete=True)
            referenced = {r.sha256 for r in rows}
            assert {sha for sha, _at in store.stored()} == referenced, "a stored file without a row"
    finally:
        engine.dispose()
    acknowledged = sum(len(s) for s in acked.values())
    print(f"{backend}: {KILLS} kills, {acknowledged} photos acknowledged, 0 lost, {report.deleted} orphan files")
    assert acknowledged > 0

"""Several replicas on one database and one photo store: promotions reach all of them, nothing lives in one.

Each replica is a real app with its own data folder (so no pointer file is shared) on the database of
each backend; they share the registry folder, as replicas mounting one volume do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.db import keys
from serve.settings import Settings
from tests.fakes import photo_bytes
from tests.serve.test_promote import registry_model, versioned_factory

POLL = 0.2


def replica_settings(settings: Settings, database_url: str, name: str, registry: Path) -> Settings:
    return settings.model_copy(
        update={
            "data_dir": settings.data_dir.parent / name,
            "database_url": database_url,
            "registry_dir": registry,
            "model_poll_seconds": POLL,
        }
    )


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return tmp_path / "shared-registry"


@pytest.fixture
def replicas(settings: Settings, database_url: str, registry: Path) -> Iterator[list[TestClient]]:
    """Two replicas of the service, started."""
    with ExitStack() as stack:
        clients = [
            stack.enter_context(
                TestClient(
                    create_app(
                        replica_settings(settings, database_url, name, registry),
                        pipeline_factory=versioned_factory(),
                    ),
                    raise_server_exceptions=False,
                )
            )
            for name in ("replica-a", "replica-b")
        ]
        yield clients


def _key(client: TestClient, role: str) -> dict[str, str]:
    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        _row, key = keys.create_key(session, role, role)
        session.commit()
    return {"Authorization": f"Bearer {key}"}


def _detector(client: TestClient) -> str:
    return str(client.get("/v1/models").json()["versions"]["detector"])


def _promote(client: TestClient, admin: dict[str, str], version: str) -> None:
    r = client.post("/v1/admin/models/promote", json={"detector": f"detector/{version}/model.onnx"}, headers=admin)
    assert r.status_code == 200, r.text


def _wait_until(done: Callable[[], bool], what: str) -> None:
    """Poll until ``done`` holds, for at most ten promotion polls (and some slack)."""
    start = time.monotonic()
    while not done():
        assert time.monotonic() - start < 10 * POLL + 5, what
        time.sleep(POLL / 4)


def test_a_promotion_on_one_replica_reaches_the_other(
    replicas: list[TestClient], registry: Path, settings: Settings, database_url: str
) -> None:
    a, b = replicas
    admin = _key(a, "admin")
    registry_model(registry, "2.0.0")
    assert _detector(a) == _detector(b) == "fake-detector@shipped"

    _promote(a, admin, "2.0.0")
    assert _detector(a) == "fake-detector@2.0.0"
    _wait_until(lambda: _detector(b) == "fake-detector@2.0.0", "replica b did not switch")
    state_a, state_b = (c.get("/v1/admin/models", headers=admin).json() for c in (a, b))
    assert state_a["versions"] == state_b["versions"] and state_a["choice"]["detector"] == state_b["choice"]["detector"]
    assert a.get("/v1/models").json() == b.get("/v1/models").json()
    assert "autoquote_model_promotion 1.0" in b.get("/metrics", headers=admin).text

    # A replica started later, on a fresh data folder with no pointer file, starts on the promoted model.
    late = create_app(
        replica_settings(settings, database_url, "replica-c", registry), pipeline_factory=versioned_factory()
    )
    with TestClient(late) as c:
        assert _detector(c) == "fake-detector@2.0.0"


def test_a_replica_that_cannot_load_a_promotion_keeps_serving_and_says_not_ready(
    settings: Settings, database_url: str, registry: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "registry-not-mounted"
    with (
        TestClient(
            create_app(replica_settings(settings, database_url, "a", registry), pipeline_factory=versioned_factory())
        ) as a,
        TestClient(
            create_app(replica_settings(settings, database_url, "b", elsewhere), pipeline_factory=versioned_factory())
        ) as b,
    ):
        admin = _key(a, "admin")
        registry_model(registry, "3.0.0")
        _promote(a, admin, "3.0.0")
        _wait_until(lambda: b.get("/readyz").status_code != 200, "replica b never noticed the promotion")
        ready = b.get("/readyz").json()
        assert ready["checks"]["promotion"] is False and "promotion 1 cannot be loaded" in " ".join(ready["problems"])
        assert _detector(b) == "fake-detector@shipped"  # still answering, on the models it had
        registry_model(elsewhere, "3.0.0")  # the same entry, now reachable: a later promotion is loaded
        _promote(a, admin, "3.0.0")
        _wait_until(lambda: _detector(b) == "fake-detector@3.0.0", "replica b did not load the reachable promotion")
        assert b.get("/readyz").status_code == 200


def test_idempotency_and_photos_hold_across_replicas(replicas: list[TestClient]) -> None:
    a, b = replicas
    customer = _key(a, "customer")
    body = {"region": "CN"}
    answers: list[tuple[int, str]] = []

    def create(client: TestClient) -> None:
        r = client.post("/v1/claims", json=body, headers=customer | {"Idempotency-Key": "same-claim"})
        answers.append((r.status_code, r.json()["id"]))

    # FastAPI builds a route's validators on its first request; two apps in one process (unlike two replica
    # processes) would build them at once and race in pydantic's shared state, so each sees the route first.
    for client in (a, b):
        assert client.post("/v1/claims", json=body).status_code == 401
    threads = [threading.Thread(target=create, args=(c,)) for c in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({claim_id for _, claim_id in answers}) == 1
    assert sorted(code for code, _ in answers) == [200, 200, 200, 201]

    claim_id = answers[0][1]
    data = photo_bytes(seed=31)
    r = a.post(f"/v1/claims/{claim_id}/photos", files=[("files", ("a.jpg", data, "image/jpeg"))], headers=customer)
    assert r.status_code == 201, r.text
    # Replica b sees the photo replica a recorded (the bytes are in the shared store: S3 in a deployment).
    assert (
        b.get(f"/v1/claims/{claim_id}", headers=customer).json()["photos"][0]["sha256"]
        == r.json()["photos"][0]["sha256"]
    )

"""Shadow mode: a candidate quotes live claims after the response; stored, never shown, never in the way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from model.image_io import DecodedImage
from model.manifest import load_manifest
from model.pipeline import Pipeline
from serve.app import create_app
from serve.db.rows import AuditEventRow, ShadowQuoteRow
from serve.settings import Settings
from tests.fakes import FakeDetector, FakeManifest, FakePricer, fake_pipeline, photo_bytes
from tests.serve.test_promote import registry_model

Keys = Callable[[str], str]


def factory(settings: Settings) -> Pipeline:
    """The candidate (any detector path) finds two parts and prices higher than the model in service."""
    if settings.detector_path is None:
        return fake_pipeline()
    version = load_manifest(settings.detector_path).version
    if version == "broken":
        pipeline = fake_pipeline(detector=FakeDetector(manifest=FakeManifest("fake-detector", version)))
        pipeline.decode = _explode  # type: ignore[method-assign]
        return pipeline
    parts = [("Bumper", (0.2, 0.3, 0.7, 0.8), 0.9), ("Door", (0.1, 0.1, 0.3, 0.3), 0.8)]
    return fake_pipeline(
        detector=FakeDetector(parts=parts, manifest=FakeManifest("fake-detector", version)),
        pricer=FakePricer(per_finding=700),
    )


def _explode(data: bytes) -> DecodedImage:
    raise RuntimeError("candidate cannot decode")


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings, pipeline_factory=factory)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assess(client: TestClient, key: str, seed: int) -> dict[str, Any]:
    claim = client.post("/v1/claims", json={"region": "CN"}, headers=auth(key)).json()
    files = [("files", (f"{seed}.jpg", photo_bytes(seed=seed), "image/jpeg"))]
    client.post(f"/v1/claims/{claim['id']}/photos", files=files, headers=auth(key))
    r = client.post(f"/v1/claims/{claim['id']}/assess", headers=auth(key))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def shadows(client: TestClient) -> list[ShadowQuoteRow]:
    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(ShadowQuoteRow)).all())


def test_shadow_quotes_are_stored_and_never_shown(
    client: TestClient, new_key: Keys, settings: Settings
) -> None:
    admin, customer = new_key("admin"), new_key("customer")
    registry_model(settings.models_dir, "cand-1")
    r = client.put(
        "/v1/admin/models/shadow", json={"detector": "detector/cand-1/model.onnx"}, headers=auth(admin)
    )
    assert r.status_code == 200, r.text
    assert r.json()["shadow_versions"]["detector"] == "fake-detector@cand-1"
    body = assess(client, customer, 1)
    quote = body["quote"]
    assert (
        quote["versions"]["detector"] == "fake-detector@0.1" and quote["total"] == 500.0
    )  # the service's own
    (row,) = shadows(client)
    assert row.claim_id == body["id"] and row.main_quote_id == quote["id"]
    assert row.versions["detector"] == "fake-detector@cand-1" and row.total == 1400.0
    assert [f["part"] for f in row.findings] == ["Bumper", "Door"]
    assert client.get(f"/v1/claims/{body['id']}", headers=auth(customer)).json()["quote"]["total"] == 500.0
    # Stopping the shadow stops storing; both changes are audited.
    assert client.delete("/v1/admin/models/shadow", headers=auth(admin)).json()["shadow_versions"] is None
    assess(client, customer, 2)
    assert len(shadows(client)) == 1
    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        actions = [
            e.action for e in session.scalars(select(AuditEventRow).where(AuditEventRow.claim_id.is_(None)))
        ]
    assert [a for a in actions if a.startswith("model.")] == ["model.shadow_started", "model.shadow_stopped"]


def test_a_failing_shadow_never_affects_the_customer(
    client: TestClient, new_key: Keys, settings: Settings
) -> None:
    admin, customer = new_key("admin"), new_key("customer")
    registry_model(settings.models_dir, "broken")
    client.put(
        "/v1/admin/models/shadow", json={"detector": "detector/broken/model.onnx"}, headers=auth(admin)
    )
    body = assess(client, customer, 3)
    assert body["quote"]["decision"] == "auto_settle" and shadows(client) == []
    scraped = client.get("/metrics", headers=auth(new_key("admin"))).text
    assert 'autoquote_model_errors_total{stage="shadow"} 1.0' in scraped


def test_a_shadow_named_in_the_settings_starts_with_the_service(settings: Settings, new_key: Keys) -> None:
    onnx = registry_model(settings.models_dir, "cand-2")
    configured = settings.model_copy(update={"shadow_detector_path": onnx})
    with TestClient(create_app(configured, pipeline_factory=factory)) as client:
        with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            from serve.db import keys

            _row, key = keys.create_key(session, "c", "customer")
            session.commit()
        assess(client, key, 4)
        assert [r.versions["detector"] for r in shadows(client)] == ["fake-detector@cand-2"]


def test_shadow_candidates_come_from_the_registry(client: TestClient, new_key: Keys, tmp_path: Path) -> None:
    outside = registry_model(tmp_path / "x", "9")
    r = client.put("/v1/admin/models/shadow", json={"detector": str(outside)}, headers=auth(new_key("admin")))
    assert r.status_code == 422 and r.json()["error"]["code"] == "model_choice_invalid"

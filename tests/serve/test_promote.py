"""Promotion: switch the models in service from the registry without failing a request; audited; persistent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from model.findings import Detection
from model.manifest import (
    WEIGHTS_DIR,
    DatasetRef,
    Manifest,
    Preprocess,
    TrainedWith,
    load_manifest,
    sha256_file,
    write_manifest,
)
from model.pipeline import Pipeline
from serve.app import create_app
from serve.settings import Settings
from tests.fakes import FakeDetector, FakeManifest, fake_pipeline, photo_bytes

Keys = Callable[[str], str]


def registry_model(root: Path, version: str, task: str = "detect") -> Path:
    """A stand-in ONNX file with a valid manifest, as ``autoquote-train registry add`` lays it out."""
    folder = root / ("detector" if task == "detect" else "severity") / version
    folder.mkdir(parents=True, exist_ok=True)
    onnx = folder / "model.onnx"
    onnx.write_bytes(f"not really onnx {version}".encode())
    write_manifest(
        onnx,
        Manifest(
            name="autoquote-detector" if task == "detect" else "autoquote-severity",
            version=version,
            task=task,
            classes=["Bumper", "Door"] if task == "detect" else ["minor", "moderate", "severe"],
            input_size=64,
            preprocess=Preprocess(kind="letterbox"),
            opset=17,
            sha256=sha256_file(onnx),
            file=onnx.name,
            dataset=DatasetRef(source="test", split="test", sha256="0" * 64),
            metrics={},
            trained_with=TrainedWith(command="test", config={}, config_sha256="0" * 64),
            created="2026-11-26",
        ),
    )
    return onnx


@dataclass
class SlowDetector(FakeDetector):
    delay: float = 0.0

    def detect(self, image: Image.Image) -> list[Detection]:
        time.sleep(self.delay)
        return super().detect(image)


def versioned_factory(delay: float = 0.0, build_delay: float = 0.0) -> Callable[[Settings], Pipeline]:
    """Fake pipelines whose detector version is the manifest version of the configured detector path."""

    def factory(settings: Settings) -> Pipeline:
        version = load_manifest(settings.detector_path).version if settings.detector_path else "shipped"
        time.sleep(build_delay if settings.detector_path else 0.0)
        return fake_pipeline(
            detector=SlowDetector(manifest=FakeManifest("fake-detector", version), delay=delay)
        )

    return factory


@pytest.fixture
def registry(settings: Settings) -> Path:
    return settings.models_dir


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings, pipeline_factory=versioned_factory(delay=0.05, build_delay=0.3))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def quote(client: TestClient, key: str, seed: int) -> tuple[int, str]:
    r = client.post(
        "/v1/quote",
        files=[("files", (f"{seed}.jpg", photo_bytes(seed=seed), "image/jpeg"))],
        headers=auth(key),
    )
    return r.status_code, r.json()["versions"]["detector"] if r.status_code == 200 else r.text


def test_promotion_under_load_loses_no_request(client: TestClient, new_key: Keys, registry: Path) -> None:
    admin, customer = new_key("admin"), new_key("customer")
    candidate = registry_model(registry, "2.0")
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def fire(offset: int) -> None:
        i = 0
        while not stop.is_set():
            results.append(quote(client, customer, offset * 1000 + i))
            i += 1

    workers = [threading.Thread(target=fire, args=(n,)) for n in range(3)]
    for w in workers:
        w.start()
    time.sleep(0.3)
    r = client.post(
        "/v1/admin/models/promote", json={"detector": "detector/2.0/model.onnx"}, headers=auth(admin)
    )
    time.sleep(0.3)
    stop.set()
    for w in workers:
        w.join()
    assert r.status_code == 200, r.text
    assert r.json()["previous_versions"]["detector"] == "fake-detector@shipped"
    assert r.json()["versions"]["detector"] == "fake-detector@2.0"
    assert r.json()["choice"]["detector"] == str(candidate.resolve())
    statuses = {s for s, _ in results}
    versions = [v for _, v in results]
    assert statuses == {200}, results
    assert "fake-detector@shipped" in versions and "fake-detector@2.0" in versions
    switched = versions.index("fake-detector@2.0")
    assert set(versions[switched + 3 :]) <= {
        "fake-detector@2.0"
    }  # at most the in-flight ones finish on the old
    assert quote(client, customer, 99)[1] == "fake-detector@2.0"
    assert client.get("/v1/models").json()["versions"]["detector"] == "fake-detector@2.0"
    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        from sqlalchemy import select

        from serve.db.rows import AuditEventRow

        events = session.scalars(select(AuditEventRow).where(AuditEventRow.action == "model.promoted")).all()
    assert len(events) == 1 and events[0].actor_role == "admin"
    assert events[0].detail["from"]["detector"] == "fake-detector@shipped"
    assert events[0].detail["to"]["detector"] == "fake-detector@2.0"
    # The same shape of event as `autoquote promote` writes (one writer for the kind).
    assert set(events[0].detail) == {"from", "to", "choice", "via", "promotion"} and events[0].detail["via"] == "api"


def test_promotion_is_refused_outside_the_registry_and_for_non_admins(
    client: TestClient, new_key: Keys, registry: Path, tmp_path: Path
) -> None:
    admin, adjuster = new_key("admin"), new_key("adjuster")
    outside = registry_model(tmp_path / "elsewhere", "6.6")
    r = client.post("/v1/admin/models/promote", json={"detector": str(outside)}, headers=auth(admin))
    assert r.status_code == 422 and r.json()["error"]["code"] == "model_choice_invalid"
    severity = registry_model(registry, "3.0", task="classify")
    wrong_kind = client.post(
        "/v1/admin/models/promote", json={"detector": str(severity)}, headers=auth(admin)
    )
    assert wrong_kind.status_code == 422 and "not a detector" in wrong_kind.json()["error"]["message"]
    # the shipped part verifier is a classifier like the severity model, but not one: its manifest says which
    verifier = client.post("/v1/admin/models/promote", json={"severity": str(WEIGHTS_DIR / "verifier.onnx")},
                           headers=auth(admin))
    assert verifier.status_code == 422 and "is a verifier model, not a severity" in verifier.json()["error"]["message"]
    tampered = registry_model(registry, "4.0")
    tampered.write_bytes(b"changed after registration")
    bad_sum = client.post("/v1/admin/models/promote", json={"detector": str(tampered)}, headers=auth(admin))
    assert bad_sum.status_code == 422 and "sha256" in bad_sum.json()["error"]["message"]
    registry_model(registry, "2.0")
    denied = client.post(
        "/v1/admin/models/promote", json={"detector": "detector/2.0/model.onnx"}, headers=auth(adjuster)
    )
    assert denied.status_code == 403
    assert client.post("/v1/admin/models/promote", json={}, headers=auth(admin)).status_code == 422
    assert client.get("/v1/models").json()["versions"]["detector"] == "fake-detector@shipped"


def test_a_promotion_survives_a_restart(
    settings: Settings, new_key: Keys, client: TestClient, registry: Path
) -> None:
    registry_model(registry, "2.0")
    r = client.post(
        "/v1/admin/models/promote",
        json={"detector": "detector/2.0/model.onnx"},
        headers=auth(new_key("admin")),
    )
    assert r.status_code == 200
    with TestClient(create_app(settings, pipeline_factory=versioned_factory())) as fresh:
        assert fresh.get("/v1/models").json()["versions"]["detector"] == "fake-detector@2.0"


def test_cli_promote_records_the_choice_and_an_audit_event(
    settings: Settings, registry: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from serve.cli.main import main
    from serve.models import in_service

    registry_model(registry, "2.0")
    monkeypatch.setenv("AUTOQUOTE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(in_service, "load_pipeline", versioned_factory())
    assert main(["promote", "--detector", "detector/2.0/model.onnx"]) == 0
    assert "fake-detector@2.0" in capsys.readouterr().out
    with TestClient(create_app(settings, pipeline_factory=versioned_factory())) as fresh:
        assert fresh.get("/v1/models").json()["versions"]["detector"] == "fake-detector@2.0"
        with fresh.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            from sqlalchemy import select

            from serve.db.rows import AuditEventRow

            event = session.scalars(
                select(AuditEventRow).where(AuditEventRow.action == "model.promoted")
            ).one()
    assert event.actor_role == "system" and event.detail["via"] == "cli"
    assert set(event.detail) == {"from", "to", "choice", "via", "promotion"}
    assert main(["promote", "--detector", "/etc/passwd"]) == 2

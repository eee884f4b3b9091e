"""`autoquote export-reviewed`: corrected boxes as YOLO labels, approved amounts as ledger rows, shadow quotes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model.pipeline import Pipeline
from serve.settings import Settings
from tests.fakes import CLASSES
from tests.serve.test_promote import registry_model
from tests.serve.test_review import auth, review_pipeline, routed_claim

Keys = Callable[[str], str]


@pytest.fixture
def pipeline() -> Pipeline:
    return review_pipeline()


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from serve.app import create_app

    return create_app(settings, pipeline_factory=lambda s: review_pipeline(3000 if s.detector_path else 2500))


def test_export_reviewed_writes_labels_ledger_and_shadow_quotes(
    client: TestClient,
    new_key: Keys,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from serve.cli.main import main
    from training.cost.ledger import read_ledger

    customer, adjuster, admin = new_key("customer"), new_key("adjuster"), new_key("admin")
    registry_model(settings.models_dir, "cand")
    client.put("/v1/admin/models/shadow", json={"detector": "detector/cand/model.onnx"}, headers=auth(admin))
    corrected = routed_claim(client, customer, 1)
    untouched = routed_claim(client, customer, 2)
    rejected = routed_claim(client, customer, 3)
    routed_claim(client, customer, 4)  # still in the queue: not exported
    photo = corrected["photos"][0]
    boxes = {
        "boxes": [
            {"part": "Door", "box": [64, 48, 320, 240]},
            {"part": "Fender", "box": [320, 240, 640, 480]},
        ]
    }
    client.put(f"/v1/claims/{corrected['id']}/photos/{photo['id']}/boxes", json=boxes, headers=auth(adjuster))
    client.post(f"/v1/claims/{corrected['id']}/approve", json={"amount": 2100}, headers=auth(adjuster))
    client.post(f"/v1/claims/{untouched['id']}/approve", json={"amount": 2400}, headers=auth(adjuster))
    client.post(f"/v1/claims/{rejected['id']}/reject", json={"comment": "fraud"}, headers=auth(adjuster))
    out = tmp_path / "reviewed"
    monkeypatch.setenv("AUTOQUOTE_DATA_DIR", str(settings.data_dir))
    classes_from = registry_model(tmp_path / "classes", "c")  # a manifest whose classes are Bumper, Door
    assert main(["export-reviewed", "--out", str(out), "--classes-from", str(classes_from)]) == 0
    printed = capsys.readouterr().out
    assert "3 reviewed claim(s) (2 approved)" in printed and "2 ledger row(s)" in printed
    assert "4 shadow quote(s)" in printed
    assert (out / "detect" / "classes.txt").read_text().split() == ["Bumper", "Door"]
    images = sorted(p.name for p in (out / "detect" / "images").iterdir())
    assert len(images) == 2  # the rejected claim's boxes were not corrected
    label = (out / "detect" / "labels" / f"aq-{photo['sha256'][:16]}.txt").read_text().splitlines()
    assert label == [
        "1 0.300000 0.300000 0.400000 0.400000"
    ]  # Door kept; Fender is not a class of this detector
    assert "Fender" in printed
    other = (out / "detect" / "labels" / f"aq-{untouched['photos'][0]['sha256'][:16]}.txt").read_text()
    assert other.startswith("0 ")  # the model's Bumper box, accepted by the approval
    assert (out / "detect" / "images" / f"aq-{photo['sha256'][:16]}.jpg").read_bytes() == client.get(
        f"/v1/claims/{corrected['id']}/photos/{photo['id']}", headers=auth(adjuster)
    ).content
    from model.pricing.catalogue import load_catalogue

    ledger = read_ledger(out / "ledger.csv", load_catalogue())
    assert {r.claim_id: r.paid for r in ledger.rows} == {corrected["id"]: 2100.0, untouched["id"]: 2400.0}
    assert ledger.sources == ["adjuster-approved"] and ledger.rejected == ()
    door = [f for r in ledger.rows for f in r.findings if f.part == "Door"][0]
    assert door.severity == {"minor": 0.0, "moderate": 1.0, "severe": 0.0} and door.area_fraction == 0.16
    shadows = [json.loads(line) for line in (out / "shadow_quotes.jsonl").read_text().splitlines()]
    assert len(shadows) == 4 and {s["shadow"]["total"] for s in shadows} == {3000.0}
    finals = {s["claim_id"]: s["final"] for s in shadows}
    assert finals[corrected["id"]] == {"outcome": "approved", "amount": 2100.0}
    assert finals[rejected["id"]]["outcome"] == "rejected"
    assert set(CLASSES) >= {"Door"}

"""The pipeline end to end on fake models: stages, boxes in original pixels, and failures routed to humans."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.errors import InferenceError, UnknownJurisdiction
from model.findings import ClaimContext
from model.pipeline import PhotoInput, Pipeline, PipelineConfig, expand_box
from model.quality import QualityThresholds
from tests.conftest import TEST_POLICIES_DIR
from tests.fakes import FakeCatalogue, FakeDetector, FakeManifest, FakePricer, FakeSeverity, fake_pipeline

DOOR = (("Door", (0.25, 0.25, 0.75, 0.75), 0.9),)


def door_detector(fail: Exception | None = None, manifest: FakeManifest | None = None) -> FakeDetector:
    return FakeDetector(parts=DOOR, fail=fail, manifest=manifest or FakeManifest())


def minor_severity() -> FakeSeverity:
    return FakeSeverity(probabilities={"minor": 0.9, "moderate": 0.08, "severe": 0.02}, manifest=FakeManifest())


def door_pricer(fail: Exception | None = None) -> FakePricer:
    return FakePricer(
        per_finding=450.0,
        interval=(400 / 450, 550 / 450),
        fail=fail,
        name="pricer",
        version="1",
        catalogue_version="cat-1",
    )


def jpeg(width: int, height: int, brightness: float = 128) -> bytes:
    rng = np.random.default_rng(0)
    arr = rng.normal(brightness, 40, size=(height, width, 3)).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def make(detector: FakeDetector | None = None, pricer: FakePricer | None = None, missing: bool = False) -> Pipeline:
    return fake_pipeline(
        detector or door_detector(),
        minor_severity(),
        pricer or door_pricer(),
        FakeCatalogue(version="cat-1"),
        missing=missing,
    )


CTX = ClaimContext("mid", "CN")


def test_clean_photo_settles_with_versions_and_original_pixel_boxes() -> None:
    detector = door_detector()
    pipe = make(detector)
    photo = PhotoInput("p1", pipe.decode(jpeg(2560, 1920)))
    quote = pipe.quote([photo], CTX)
    assert quote.decision.outcome == "auto_settle"
    assert quote.estimate is not None and quote.estimate.total == 450.0
    # The detector saw a draft-decoded picture near 2 x 320, the box is reported on the 2560-px original.
    assert max(detector.seen[0]) <= 1280
    assert quote.photos[0].findings[0].box == pytest.approx((640, 480, 1920, 1440), abs=2)
    assert quote.versions == {
        "detector": "fake@1",
        "severity": "fake@1",
        "pricer": "pricer@1",
        "catalogue": "cat-1",
        "policy": "CN@2025.2",
    }


def test_dark_photo_is_not_detected_and_asks_for_retake() -> None:
    detector = door_detector()
    pipe = make(detector)
    quote = pipe.quote([PhotoInput("p1", pipe.decode(jpeg(640, 480, brightness=10)))], CTX)
    assert quote.decision.outcome == "retake_photos" and detector.seen == []
    assert [r.code for r in quote.decision.reasons] == ["poor_photo"]


@pytest.mark.parametrize(
    "pipe,code,stage",
    [
        (make(door_detector(fail=InferenceError("onnx broke"))), "model_unavailable", "detector"),
        (make(door_detector(fail=RuntimeError("bug"))), "pipeline_error", "detector"),
        (make(pricer=door_pricer(fail=ZeroDivisionError())), "pipeline_error", "pricer"),
        (make(missing=True), "model_unavailable", "detector"),
    ],
)
def test_any_failure_routes_to_a_human(pipe: Pipeline, code: str, stage: str) -> None:
    quote = pipe.quote([PhotoInput("p1", pipe.decode(jpeg(640, 480)))], CTX)
    assert quote.decision.outcome == "human_review"
    assert code in {r.code for r in quote.decision.reasons}
    assert stage in quote.failed_stages


def test_policy_must_match_the_region() -> None:
    pipe = make()
    with pytest.raises(UnknownJurisdiction):
        pipe.quote([], ClaimContext("mid", "CN"), "US")
    with pytest.raises(UnknownJurisdiction):
        pipe.quote([], ClaimContext("mid", "CN"), "Mars")


def test_severity_crop_is_the_box_grown_and_clamped() -> None:
    assert expand_box((10, 10, 20, 20), (100, 100), 0.2) == (8, 8, 22, 22)
    assert expand_box((0, 0, 100, 50), (100, 50), 0.2) == (0, 0, 100, 50)


def test_the_severity_model_gets_each_crop_and_the_photo_they_were_cut_from() -> None:
    severity = minor_severity()
    pipe = fake_pipeline(door_detector(), severity, door_pricer(), FakeCatalogue(version="cat-1"))
    photo = PhotoInput("p1", pipe.decode(jpeg(640, 480)))
    pipe.quote([photo], CTX)
    assert severity.photos == [(640, 480)]
    (crop,) = severity.crops
    assert crop[0] < 640 and crop[1] < 480


def test_real_pricing_prices_fake_findings() -> None:
    pricing = pytest.importorskip("model.pricing")
    catalogue = pricing.load_catalogue()
    pipe = Pipeline(
        door_detector(),
        minor_severity(),
        pricing.load_pricer(catalogue),
        catalogue,
        PipelineConfig(quality=QualityThresholds(min_side=200), policies_dir=TEST_POLICIES_DIR),
    )
    quote = pipe.quote([PhotoInput("p1", pipe.decode(jpeg(640, 480)))], CTX)
    assert quote.estimate is not None and quote.estimate.currency == "CNY" and quote.estimate.line_items
    assert quote.versions["catalogue"] == catalogue.version


def test_a_detector_class_the_catalogue_cannot_price_takes_pricing_out_of_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import model.pricing as pricing
    from model.pipeline import build_pipeline

    real = pricing.load_catalogue()

    class WithoutWindshield:
        version = real.version
        parts = [p for p in real.parts if p != "Windshield"]

        def currency_for(self, region: str) -> str:
            return real.currency_for(region)

    monkeypatch.setattr(pricing, "load_catalogue", lambda: WithoutWindshield())
    monkeypatch.setattr(pricing, "load_pricer", lambda catalogue: object())
    pipeline = build_pipeline()
    assert not pipeline.ready
    assert any("Windshield" in problem for problem in pipeline.problems)
    monkeypatch.undo()
    assert build_pipeline().ready


def test_a_policy_calibrated_for_other_models_sends_the_claim_to_a_human(tmp_path: Path) -> None:
    """After a promotion the models in service differ from the calibration's: nothing settles alone."""
    import yaml


    policy = yaml.safe_load((TEST_POLICIES_DIR / "CN.yaml").read_text())
    policy["calibration"] = {
        "models": {"detector": "fake@1", "severity": "fake@1", "pricer": "pricer@1"}, "proven": True,
        "target": 0.05, "confidence": 0.95, "error_bound": 0.04, "error_rate": 0.0, "settle_share": 0.3,
        "n_photos": 200, "n_settled": 60, "n_wrong": 0, "split": "val", "method": "m", "wrong_means": "w",
        "calibrated_at": "2026-11-28T00:00:00+00:00",
    }
    (tmp_path / "CN.yaml").write_text(yaml.safe_dump(policy))
    config = PipelineConfig(quality=QualityThresholds(min_side=200), policies_dir=tmp_path)
    photo = jpeg(640, 480)
    same = Pipeline(door_detector(), minor_severity(), door_pricer(), FakeCatalogue(version="cat-1"), config)
    assert same.quote([PhotoInput("p1", same.decode(photo))], CTX).decision.outcome == "auto_settle"
    promoted = Pipeline(
        door_detector(manifest=FakeManifest(version="2")),
        minor_severity(),
        door_pricer(),
        FakeCatalogue(version="cat-1"),
        config,
    )
    decision = promoted.quote([PhotoInput("p1", promoted.decode(photo))], CTX).decision
    assert decision.outcome == "human_review"
    assert [r.code for r in decision.reasons] == ["policy_not_calibrated"]

"""`autoquote-train calibrate`: thresholds chosen on val with a proven bound, reported on test, written as a policy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.decision import load_policy
from model.findings import Detection, SeverityGrade
from model.manifest import WEIGHTS_DIR, load_manifest
from model.pipeline import Pipeline, PipelineConfig
from model.quality import QualityThresholds
from tests.fakes import FakeVerifier
from training import calibrate as calibration
from training.cli import main
from training.risk_control import clopper_pearson_upper

from .synthetic_data import CLASSES, make_shared_datasets

BACKGROUND = 128
GOOD, BAD = 235, 77  # rectangle brightness; the fake detector's score is brightness / 255


class Manifest:
    name, version, classes = "fake", "1", CLASSES


class RectangleDetector:
    """Finds the one rectangle that differs from the background and calls it a damaged door."""

    input_size = 64
    manifest = Manifest()

    def detect(self, image: Image.Image) -> list[Detection]:
        grey = np.asarray(image.convert("L"), dtype=np.int16)
        ys, xs = np.nonzero(np.abs(grey - BACKGROUND) > 10)
        if not len(xs):
            return []
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        return [Detection(box, "Door", float(grey[ys, xs].mean()) / 255, 3)]


class MinorSeverity:
    input_size = 32
    manifest = Manifest()

    def grade_many(self, images: Sequence[Image.Image], photo: Image.Image | None = None) -> list[SeverityGrade]:
        return [SeverityGrade({"minor": 0.9, "moderate": 0.08, "severe": 0.02}) for _ in images]


def fake_build_pipeline(config: PipelineConfig | None = None, *args: object, **kwargs: object) -> Pipeline:
    from model.pricing import load_catalogue, load_pricer

    catalogue = load_catalogue()
    quality = QualityThresholds(min_side=0, min_sharpness=0)  # flat synthetic pictures
    return Pipeline(RectangleDetector(), MinorSeverity(), load_pricer(catalogue), catalogue,
                    PipelineConfig(quality=quality), verifier=FakeVerifier())


def prepared_folder(root: Path, counts: dict[str, tuple[int, int]]) -> Path:
    """Photos of one rectangle: bright ones labelled as the door the detector names, dark ones as a bumper."""
    (root / "report.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "report.json").write_text(json.dumps({"classes": CLASSES, "sha256": {"detect": {"val": "v"}}}))
    rng = np.random.default_rng(0)
    for split, (good, bad) in counts.items():
        (root / "detect" / split / "images").mkdir(parents=True)
        (root / "detect" / split / "labels").mkdir(parents=True)
        for i in range(good + bad):
            arr = np.full((64, 64, 3), BACKGROUND, dtype=np.uint8)
            x, y = (int(v) for v in rng.integers(4, 40, 2))
            arr[y : y + 20, x : x + 20] = GOOD if i < good else BAD
            Image.fromarray(arr).save(root / "detect" / split / "images" / f"{split}{i:03d}.png")
            cls = CLASSES.index("Door") if i < good else CLASSES.index("Bumper")
            label = f"{cls} {(x + 10) / 64:.6f} {(y + 10) / 64:.6f} {20 / 64:.6f} {20 / 64:.6f}\n"
            (root / "detect" / split / "labels" / f"{split}{i:03d}.txt").write_text(label)
    return root


def test_calibrate_proves_the_bound_on_val_and_reports_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(calibration, "build_pipeline", fake_build_pipeline)
    prepared = prepared_folder(tmp_path / "prepared", {"val": (70, 20), "test": (30, 10)})
    out, plots = tmp_path / "out", tmp_path / "plots"
    assert main(["calibrate", "--prepared", str(prepared), "--out", str(out), "--plots", str(plots),
                 "--jurisdiction", "CN", "--version", "2026.11.28-test"]) == 0
    printed = capsys.readouterr().out
    assert "CN: proven" in printed and "CN@2026.11.28-test" in printed

    policy = load_policy("CN", out)
    cal = policy.calibration
    assert policy.version == "2026.11.28-test" and cal is not None and cal.proven
    assert cal.models == {"detector": "fake@1", "severity": "fake@1", "pricer": "estimator@1.0"}
    # the 20 dark (wrong) photos score 0.30: the chosen threshold keeps them out, the 70 right ones settle
    threshold = policy.min_detection_score
    assert threshold is not None and BAD / 255 < threshold <= GOOD / 255
    assert (cal.n_photos, cal.n_settled, cal.n_wrong, cal.split) == (90, 70, 0, "val")
    assert cal.error_bound is not None and cal.error_bound <= 0.05
    assert cal.error_bound == pytest.approx(clopper_pearson_upper(0, 70, 0.95))
    assert cal.target == 0.05 and "IoU >= 0.5" in cal.wrong_means and "calibrate" in cal.command
    # guards other than the detection score never loosen past the hand-set policy
    base = load_policy("CN")
    assert policy.min_severity_confidence >= base.min_severity_confidence
    assert policy.severe_probability <= base.severe_probability
    assert policy.max_relative_width <= base.max_relative_width

    report = json.loads((out / "calibration_report.json").read_text())
    entry = report["jurisdictions"]["CN"]
    assert entry["test"]["calibrated"] | {"error_bound": None} == {
        "n_photos": 40, "n_settled": 30, "n_wrong": 0, "settle_share": 0.75, "error_rate": 0.0,
        "error_bound": None, "confidence": 0.95,
    }
    assert entry["test"]["calibrated"]["error_bound"] == pytest.approx(clopper_pearson_upper(0, 30))
    assert {s["n_settled"] for s in entry["search"]} <= set(range(91))  # the search saw val only
    assert entry["val"]["hand_set"]["n_photos"] == 90 and entry["test"]["hand_set"]["n_photos"] == 40
    assert (plots / "calibration_CN.png").stat().st_size > 10_000


def test_calibrate_writes_a_policy_that_settles_nothing_when_nothing_is_proven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calibration, "build_pipeline", fake_build_pipeline)
    prepared = prepared_folder(tmp_path / "prepared", {"val": (30, 20), "test": (5, 5)})
    assert main(["calibrate", "--prepared", str(prepared), "--out", str(tmp_path / "out"),
                 "--plots", str(tmp_path), "--jurisdiction", "US"]) == 0
    policy = load_policy("US", tmp_path / "out")
    assert policy.calibration is not None and not policy.calibration.proven
    report = json.loads((tmp_path / "out" / "calibration_report.json").read_text())
    assert report["jurisdictions"]["US"]["test"]["calibrated"]["n_settled"] == 0


def test_calibrate_runs_the_shipped_models_on_synthetic_photos(tmp_path: Path) -> None:
    make_shared_datasets(tmp_path / "shared", n_sources=14, n_severity=9)
    prepared = tmp_path / "prepared"
    assert main(["prepare", "--data-root", str(tmp_path / "shared"), "--out", str(prepared)]) == 0
    out = tmp_path / "out"
    assert main(["calibrate", "--prepared", str(prepared), "--out", str(out), "--plots", str(tmp_path),
                 "--jurisdiction", "CN", "--set", "steps=4"]) == 0
    cal = load_policy("CN", out).calibration
    detector = load_manifest(WEIGHTS_DIR / "detector.onnx", verify=False)
    assert cal is not None and cal.models["detector"] == f"{detector.name}@{detector.version}"
    assert cal.n_photos == len(list((prepared / "detect" / "val" / "images").iterdir()))


def test_calibrate_without_prepared_data_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--prepared", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "autoquote-train prepare" in capsys.readouterr().err

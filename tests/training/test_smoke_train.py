"""A tiny end-to-end run of the training CLI on synthetic data: prepare, train, export, evaluate, load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main

from .synthetic_data import make_shared_datasets, train_tiny_detector
from .test_checkpoint import COCO_WEIGHTS, needs_weights

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("smoke")
    make_shared_datasets(root / "shared", n_sources=30, n_severity=30)
    assert main(["prepare", "--data-root", str(root / "shared"), "--out", str(root / "prepared")]) == 0
    return root


def test_detector_trains_exports_and_runs_through_the_runtime(prepared: Path) -> None:
    root = prepared
    assert main(["train-detector", "--config", "detector-cpu.yaml", "--prepared", str(root / "prepared"),
                 "--set", f"project={root / 'runs'}", "--set", "name=det", "--set", "time=null",
                 "--set", "epochs=1", "--set", "imgsz=64", "--set", "batch=8", "--set", "cache=false"]) == 0
    run = root / "runs" / "det"
    assert (run / "config.yaml").is_file() and (run / "command.txt").is_file()
    assert main(["export", "detector", "--run", str(run), "--version", "smoke", "--nms-iou", "0.5"]) == 0
    onnx = run / "weights" / "best.onnx"
    manifest = json.loads(onnx.with_suffix(".json").read_text())
    assert manifest["nms_iou"] == 0.5
    assert manifest["version"] == "smoke" and manifest["task"] == "detect"
    assert manifest["classes"][:2] == ["Bonnet", "Bumper"] and manifest["input_size"] == 64
    assert manifest["metrics"]["split"] == "test" and "Bonnet" in manifest["metrics"]["per_class"]
    assert "train-detector" in manifest["trained_with"]["command"]
    assert manifest["initial_weights"] == "none: trained from scratch"
    assert len(manifest["dataset"]["sha256"]) == 64
    parity = manifest["metrics"]["parity_torch_vs_onnxruntime"]
    assert parity["max_raw_output"] < 1e-2  # pixels and scores of every candidate box, before decoding
    assert parity["max_score"] < 1e-3
    assert (run / "eval" / "detector_pr_curves.png").is_file()
    assert (run / "eval" / "detector_boxes.png").is_file()
    import model
    from tests.conftest import synthetic_car_photo

    detector = model.load_detector(onnx)
    assert detector.iou == 0.5
    assert detector.version == "smoke"
    detector.detect(synthetic_car_photo(), conf=0.0)


def test_severity_trains_exports_and_runs_through_the_runtime(prepared: Path) -> None:
    root = prepared
    assert main(["train-severity", "--config", "severity-cpu.yaml", "--prepared", str(root / "prepared"),
                 "--set", f"project={root / 'runs'}", "--set", "name=sev", "--set", "time=null",
                 "--set", "epochs=1", "--set", "imgsz=32", "--set", "batch=8", "--set", "cache=false"]) == 0
    run = root / "runs" / "sev"
    assert main(["export", "severity", "--run", str(run), "--version", "smoke"]) == 0
    onnx = run / "weights" / "best.onnx"
    manifest = json.loads(onnx.with_suffix(".json").read_text())
    assert manifest["classes"] == ["minor", "moderate", "severe"]
    assert manifest["metrics"]["parity_torch_vs_onnxruntime"]["max_probability"] < 1e-4
    assert set(manifest["metrics"]["per_class"]) == {"minor", "moderate", "severe"}
    # the headline figures are on what the service grades; the whole photos are reported beside them
    assert manifest["metrics"]["input"] == "crops around the top detection"
    assert set(manifest["metrics"]["whole_photos"]["per_class"]) == {"minor", "moderate", "severe"}
    assert manifest["preprocess"]["photo_average"] is False
    import model
    from tests.conftest import synthetic_car_photo

    severity = model.load_severity(onnx)
    photo = synthetic_car_photo()
    grade = severity.grade(photo)
    assert abs(sum(grade.probabilities.values()) - 1) < 1e-4
    # exported with a batch axis: a photo's crops are graded in one run, each as if alone
    crops = [photo, photo.crop((0, 0, 200, 150)), photo.rotate(90)]
    assert severity.batched
    batch = severity.grade_many(crops)
    for crop, graded in zip(crops, batch, strict=True):
        alone = severity.grade(crop).probabilities
        assert all(abs(graded.probabilities[k] - alone[k]) < 1e-5 for k in alone)


def test_a_pt_model_name_is_refused_before_anything_downloads(
    prepared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train-detector", "--prepared", str(prepared / "prepared"), "--set", "model=yolo26n.pt"])
    assert code == 2 and "download" in capsys.readouterr().err


@needs_weights
def test_severity_from_coco_weights_on_crops_around_detections(prepared: Path) -> None:
    root = prepared
    detector = train_tiny_detector(root / "prepared", root / "runs", name="det-for-crops")
    assert main(["prepare-severity-crops", "--detector", str(detector), "--prepared", str(root / "prepared")]) == 0
    crops = root / "prepared" / "severity-crops"
    for split in ("train", "val", "test"):
        assert sorted(p.name for p in (crops / split).iterdir()) == ["minor", "moderate", "severe"]
    prepared_train = root / "prepared" / "severity" / "train"
    assert len(list((crops / "train").rglob("*.jpg"))) == len(list(prepared_train.rglob("*.*")))
    assert main(["prepare-severity-crops", "--detector", str(detector), "--prepared", str(root / "prepared"),
                 "--splits", "train", "--with-photos"]) == 0
    views = sorted(p.name.split("-")[0] for p in (root / "prepared" / "severity-views" / "train").rglob("*.jpg"))
    photos = len(list(prepared_train.rglob("*.*")))
    assert views == ["crop"] * photos + ["photo"] * photos
    assert main(["train-severity", "--config", "severity-coco-cpu.yaml", "--prepared", str(root / "prepared"),
                 "--init-from", str(COCO_WEIGHTS), "--set", f"project={root / 'runs'}", "--set", "name=sev-crops",
                 "--set", "data=severity-crops", "--set", "time=null", "--set", "epochs=1", "--set", "imgsz=32",
                 "--set", "batch=8", "--set", "cache=false"]) == 0
    run = root / "runs" / "sev-crops"
    assert json.loads((run / "transfer.json").read_text())["transferred"] == 186
    assert main(["export", "severity", "--run", str(run), "--version", "crops", "--photo-average",
                 "--detector", str(detector)]) == 0
    manifest = json.loads((run / "weights" / "best.json").read_text())
    assert manifest["preprocess"]["photo_average"] is True
    assert manifest["initial_weights"]["licence"] == "GPL-3.0"
    assert manifest["initial_weights"]["tensors_transferred"] == "186 of 194"
    assert main(["evaluate", "severity", "--model", str(run / "weights" / "best.onnx"), "--input", "crops",
                 "--detector", str(detector), "--prepared", str(root / "prepared"), "--out", str(root / "ev")]) == 0
    report = json.loads((root / "ev" / "severity_eval.json").read_text())
    assert report["input"] == "crops around the top detection" and report["images"] > 0

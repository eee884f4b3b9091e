"""Detector runtime: output decoding, NMS, letterbox geometry, manifest checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.detector import decode, nms
from model.errors import ChecksumMismatch, ManifestError
from model.manifest import Preprocess, load_manifest
from model.preprocess import letterbox


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.5], dtype=np.float32)
    assert nms(boxes, scores, 0.5) == [1, 2]


def test_decode_classic_head_is_class_aware() -> None:
    nc = 3
    # two overlapping boxes of different classes survive; a weaker same-class duplicate does not
    rows = np.array([
        [50, 50, 20, 20, 0.9, 0.0, 0.0],
        [51, 51, 20, 20, 0.0, 0.8, 0.0],
        [52, 50, 20, 20, 0.7, 0.0, 0.0],
        [10, 10, 4, 4, 0.0, 0.0, 0.1],
    ], dtype=np.float32)
    out = rows.T[None]
    assert out.shape == (1, 4 + nc, 4)
    boxes, scores, cls = decode(out, nc, conf=0.25, iou=0.5, max_det=100)
    assert cls.tolist() == [0, 1]
    assert boxes[0].tolist() == [40, 40, 60, 60]
    assert scores.tolist() == pytest.approx([0.9, 0.8])


def test_decode_end_to_end_head() -> None:
    out = np.array([[[1, 2, 30, 40, 0.8, 2], [5, 5, 9, 9, 0.1, 1]]], dtype=np.float32)
    boxes, scores, cls = decode(out, 7, conf=0.25, iou=0.7, max_det=10)
    assert boxes.tolist() == [[1, 2, 30, 40]] and cls.tolist() == [2]


def test_decode_rejects_an_unexpected_shape() -> None:
    from model.errors import InferenceError

    with pytest.raises(InferenceError):
        decode(np.zeros((1, 9, 100), dtype=np.float32), 7, 0.25, 0.7, 10)


@pytest.mark.parametrize("size", [(640, 480), (300, 900), (4000, 3000), (50, 50)])
def test_letterbox_boxes_map_back_to_the_original_image(size: tuple[int, int]) -> None:
    image = Image.new("RGB", size, (10, 20, 30))
    tensor, lb = letterbox(image, 320, Preprocess(kind="letterbox"))
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    w, h = size
    original = np.array([[0.1 * w, 0.2 * h, 0.6 * w, 0.9 * h]])
    in_input = original * lb.gain + np.array([lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y])
    assert np.allclose(lb.to_image(in_input), original, atol=1e-3)
    # padding is grey 114/255, the picture is the picture
    assert tensor[0, 0, 0, 0] == pytest.approx(114 / 255) or lb.pad_x == lb.pad_y == 0
    assert tensor[0, 2, 160, 160] == pytest.approx(30 / 255)


def test_letterbox_accepts_any_mode() -> None:
    for mode in ("L", "RGBA", "P", "CMYK", "I;16", "LA", "1"):
        image = Image.new(mode, (64, 48))
        tensor, _ = letterbox(image, 64, Preprocess(kind="letterbox"))
        assert tensor.shape == (1, 3, 64, 64) and np.isfinite(tensor).all()


def test_shipped_detector_finds_parts_in_pixels_of_the_given_image(car_photo: Image.Image) -> None:
    import model

    detector = model.load_detector()
    assert detector.classes == ["Bonnet", "Bumper", "Dickey", "Door", "Fender", "Light", "Windshield"]
    big = car_photo.resize((1600, 1200))
    found = detector.detect(big, conf=0.01)
    for d in found:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 < x2 <= 1600 and 0 <= y1 < y2 <= 1200
        assert d.label in detector.classes and 0.01 <= d.score <= 1
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)


def test_the_nms_threshold_comes_from_the_manifest(car_photo: Image.Image) -> None:
    import model
    from model.detector import Detector

    shipped = model.load_detector()
    assert shipped.iou == shipped.manifest.nms_iou
    # a manifest written before the field existed keeps the threshold those models were measured with
    legacy = {k: v for k, v in shipped.manifest.model_dump().items() if k != "nms_iou"}
    assert Detector(shipped.session, type(shipped.manifest).model_validate(legacy)).iou == 0.7
    assert model.load_severity().manifest.nms_iou is None  # only detectors have one
    found = {}
    for iou in (0.3, 0.9):
        detector = Detector(shipped.session, shipped.manifest.model_copy(update={"nms_iou": iou}))
        assert detector.iou == iou
        found[iou] = detector.detect(car_photo, conf=0.001)
    assert len(found[0.3]) <= len(found[0.9])  # a lower threshold suppresses more overlapping boxes


def test_a_changed_model_file_is_refused(tmp_path: Path) -> None:
    from model.manifest import WEIGHTS_DIR

    onnx = tmp_path / "detector.onnx"
    onnx.write_bytes((WEIGHTS_DIR / "detector.onnx").read_bytes() + b"\0")
    (tmp_path / "detector.json").write_text((WEIGHTS_DIR / "detector.json").read_text())
    with pytest.raises(ChecksumMismatch, match="re-export"):
        load_manifest(onnx)
    import model

    with pytest.raises(ChecksumMismatch):
        model.load_detector(onnx)


def test_a_missing_or_broken_manifest_is_refused(tmp_path: Path) -> None:
    import model

    onnx = tmp_path / "x.onnx"
    onnx.write_bytes(b"not a model")
    with pytest.raises(ManifestError, match="no manifest"):
        model.load_detector(onnx)
    (tmp_path / "x.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ManifestError, match="invalid"):
        model.load_detector(onnx)
    with pytest.raises(ManifestError, match="does not exist"):
        model.load_detector(tmp_path / "missing.onnx")


def test_severity_model_is_not_a_detector() -> None:
    import model
    from model.manifest import WEIGHTS_DIR

    with pytest.raises(ManifestError, match="not a 'detector'"):
        model.load_detector(WEIGHTS_DIR / "severity.onnx")

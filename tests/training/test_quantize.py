"""int8 quantisation of a tiny exported detector: a loadable model, a manifest that says so, a verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main

from .pretrain_fixtures import make_prepared
from .synthetic_data import train_tiny_detector

pytestmark = pytest.mark.slow


def test_quantize_writes_an_int8_model_its_manifest_and_a_verdict(tmp_path: Path) -> None:
    prepared = make_prepared(tmp_path)
    onnx = train_tiny_detector(prepared, tmp_path / "runs", version="smoke")
    out = tmp_path / "q"
    assert (
        main(
            [
                "quantize",
                "--model",
                str(onnx),
                "--prepared",
                str(prepared),
                "--out",
                str(out),
                "--set",
                "calibration_images=8",
                "--set",
                "latency_rounds=4",
            ]
        )
        == 0
    )
    report = json.loads((out / "quantize_report.json").read_text())
    assert report["verdict"] in ("keep int8", "keep fp32")
    assert report["size_bytes"]["int8"] < 0.5 * report["size_bytes"]["fp32"]
    assert (report["verdict"] == "keep int8") == (report["map50_drop"] < 0.01)
    assert set(report["latency_ms"]) == {"fp32", "int8"}
    int8 = out / "best-int8.onnx"
    manifest = json.loads(int8.with_suffix(".json").read_text())
    assert manifest["version"] == "smoke-int8" and manifest["quantization"]["per_channel"] is True
    assert "quantize" in manifest["trained_with"]["command"] and manifest["metrics"]["split"] == "test"
    import model
    from tests.conftest import synthetic_car_photo

    detector = model.load_detector(int8)  # the sha256 in the manifest matches the file
    assert detector.version == "smoke-int8"
    detector.detect(synthetic_car_photo(), conf=0.0)
    import onnx as onnx_lib

    ops = {n.op_type for n in onnx_lib.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops

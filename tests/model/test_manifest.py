"""Manifests declare every key they may hold: each shipped one loads, and a misspelt key is refused with a
sentence that names it (and the key it is close to) instead of being carried along unread."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from model.errors import ManifestError
from model.manifest import WEIGHTS_DIR, load_manifest, write_manifest

SHIPPED = sorted(WEIGHTS_DIR.glob("*.onnx"))


def copy_with(tmp_path: Path, shipped: Path, change: dict[str, object]) -> Path:
    """A copy of a shipped model whose manifest has ``change`` applied (a value of None removes the key)."""
    onnx = tmp_path / shipped.name
    shutil.copyfile(shipped, onnx)
    data = json.loads(shipped.with_suffix(".json").read_text())
    for key, value in change.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(last)
        else:
            node[last] = value
    onnx.with_suffix(".json").write_text(json.dumps(data))
    return onnx


@pytest.mark.parametrize("onnx", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_manifest_loads_and_is_written_back_unchanged(onnx: Path, tmp_path: Path) -> None:
    manifest = load_manifest(onnx)
    copy = tmp_path / onnx.name
    shutil.copyfile(onnx, copy)
    write_manifest(copy, manifest)
    assert load_manifest(copy) == manifest
    written = json.loads(copy.with_suffix(".json").read_text())
    assert None not in written.values()  # a key a model does not use is left out, not written as null


def test_the_shipped_models_keep_the_keys_only_they_use() -> None:
    detector, severity, cost = (load_manifest(WEIGHTS_DIR / f) for f in ("detector.onnx", "severity.onnx",
                                                                         "cost_head.onnx"))
    assert isinstance(detector.initial_weights, dict) and detector.initial_weights["licence"] == "GPL-3.0"
    assert detector.nms_iou == 0.5 and severity.nms_iou is None
    assert cost.head is not None and cost.head["quantiles"] == [0.05, 0.5, 0.95]
    assert cost.dataset.rows == 20000 and detector.dataset.splits is not None


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("nms_iuo", 0.5, r"unknown key 'nms_iuo': did you mean 'nms_iou'\?"),
        ("intial_weights", "none", r"unknown key 'intial_weights': did you mean 'initial_weights'\?"),
        ("dataset.sourse", "x", r"unknown key 'dataset.sourse': did you mean 'source'\? the keys 'dataset' may"),
        ("preprocess.flip_averge", True, r"unknown key 'preprocess.flip_averge': did you mean 'flip_average'\?"),
        ("zzz", 1, r"unknown key 'zzz': the keys a manifest may have are name, version"),
    ],
)
def test_a_misspelt_key_is_a_manifest_error_that_names_it(
    tmp_path: Path, key: str, value: object, said: str
) -> None:
    onnx = copy_with(tmp_path, WEIGHTS_DIR / "detector.onnx", {key: value})
    with pytest.raises(ManifestError, match=said):
        load_manifest(onnx)


def test_a_detector_confidence_out_of_range_is_refused(tmp_path: Path) -> None:
    onnx = copy_with(tmp_path, WEIGHTS_DIR / "detector.onnx", {"conf": 1.5})
    with pytest.raises(ManifestError, match=r"invalid: .* at \('conf',\)"):
        load_manifest(onnx)


def test_a_change_to_a_manifest_in_code_is_checked_too() -> None:
    manifest = load_manifest(WEIGHTS_DIR / "detector.onnx")
    assert manifest.updated(version="2").version == "2"
    with pytest.raises(ValidationError, match="quantisation"):
        manifest.updated(quantisation={"mode": "static"})  # model_copy(update=...) would drop it silently

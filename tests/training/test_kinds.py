"""A model kind is one table entry (``model/kinds.py``): a kind added there flows through the export's manifest,
the manifest check and the model store with no other change, and the training table extends the same names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from model import store
from model.errors import ConfigError, ManifestError
from model.kinds import KINDS, DetectionThresholds, ModelKind, register_kind, unregister_kind
from model.manifest import load_manifest, sha256_file, write_manifest
from training import kinds as training_kinds
from training.export import build_manifest, ship

FAKE = ModelKind(
    name="fake-verifier", task="classify", manifest_name="autoquote-fake-verifier", file="fake_verifier.onnx",
    runtime="model.severity:SeverityModel", data_source="fake crops (CC0)", licence="MIT (test)",
)
HASHES = {"all": "a" * 64, "train": "b" * 64, "val": "c" * 64, "test": "d" * 64}


class RunConfig(BaseModel):
    imgsz: int = 32
    epochs: int = 1


@pytest.fixture
def fake_kind() -> Iterator[ModelKind]:
    register_kind(FAKE)
    yield FAKE
    unregister_kind(FAKE.name)


def exported(folder: Path, kind: str, **options: object) -> Path:
    """A stand-in ONNX file with the manifest the export builds for ``kind`` (sha256 filled in)."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx = folder / "best.onnx"
    onnx.write_bytes(f"not really onnx: {kind}".encode())
    draft = build_manifest(kind, onnx, ["a", "b"], 32, "0.1", RunConfig(), "autoquote-train export", HASHES,
                           {"split": "test"}, 17, [], **options)  # type: ignore[arg-type]
    write_manifest(onnx, draft.model_copy(update={"sha256": sha256_file(onnx)}))
    return onnx


def test_a_kind_added_to_the_table_is_exported_checked_and_stored(tmp_path: Path, fake_kind: ModelKind) -> None:
    onnx = exported(tmp_path / "run", fake_kind.name, flip_average=True)
    manifest = load_manifest(onnx)  # the manifest check: its name is a kind, its task that kind's
    assert (manifest.name, manifest.task) == ("autoquote-fake-verifier", "classify")
    assert manifest.licence == "MIT (test)" and manifest.dataset.source == "fake crops (CC0)"
    assert manifest.preprocess.kind == "resize_center_crop" and manifest.preprocess.flip_average
    assert manifest.nms_iou is None and manifest.conf is None  # no detection thresholds for a classifier

    entry = store.register(tmp_path / "store", onnx)
    assert entry.kind == "fake-verifier" and entry.path.parent.parent == tmp_path / "store" / "fake-verifier"
    assert store.entries(tmp_path / "store") == [entry]
    shipped = ship(onnx, tmp_path / "weights", fake_kind.name)
    assert shipped.name == "fake_verifier.onnx" and load_manifest(shipped).file == shipped.name


def test_without_its_table_entry_the_same_export_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no model kind is called 'fake-verifier'"):
        exported(tmp_path / "run", FAKE.name)
    register_kind(FAKE)
    try:
        onnx = exported(tmp_path / "run", FAKE.name)
    finally:
        unregister_kind(FAKE.name)
    with pytest.raises(ManifestError, match="no model kind is named 'autoquote-fake-verifier'"):
        load_manifest(onnx)


def test_a_detector_manifest_carries_its_confidence_and_nms_from_the_table_unless_chosen(tmp_path: Path) -> None:
    defaults = DetectionThresholds()
    manifest = load_manifest(exported(tmp_path / "default", "detector"))
    assert (manifest.name, manifest.conf, manifest.nms_iou) == ("autoquote-detector", defaults.conf, defaults.nms_iou)
    assert manifest.preprocess.kind == "letterbox" and manifest.initial_weights == "none: trained from scratch"
    chosen = load_manifest(exported(tmp_path / "chosen", "detector", conf=0.3, nms_iou=0.5))
    assert chosen.detection_thresholds() == DetectionThresholds(conf=0.3, nms_iou=0.5)


def test_the_cost_head_is_not_exported_from_an_ultralytics_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cost models are exported by their own command"):
        exported(tmp_path, "cost")


def test_every_training_kind_is_a_runtime_kind_of_the_same_name() -> None:
    assert set(training_kinds.KINDS) <= set(KINDS)
    for name, kind in training_kinds.KINDS.items():
        assert kind.model is KINDS[name] and kind.task == KINDS[name].task
    with pytest.raises(ConfigError, match="no model kind is called 'parts-classifier'"):
        training_kinds.Kind(name="parts-classifier", data_key="verifier", recipe=lambda: None,  # type: ignore[arg-type,return-value]
                            classes=lambda _r: [], evaluate=lambda *_a: {}, parity=lambda *_a: None,
                            curves=(), report_keys=())

"""The table of model kinds: the shipped models resolve by manifest name, two classifiers keep apart in the
store, and a manifest naming no kind (or the wrong task for its kind) is refused with a sentence."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import model
from model import store
from model.detector import Detector
from model.errors import ConfigError, ManifestError
from model.kinds import KINDS, ModelKind, get_kind, kind_of, quote_keys, register_kind, unregister_kind
from model.manifest import WEIGHTS_DIR, load_manifest, sha256_file, write_manifest
from model.pricing.cost_head import CostHead
from model.severity import SeverityModel


class FakeClassifierRuntime:
    """What a classifier kind's runtime class is; this one only reads the manifest it was given."""

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int | None = None) -> Any:
        return load_manifest(Path(path) if path is not None else get_kind("second-opinion").shipped)


SECOND_OPINION = ModelKind(
    name="second-opinion", task="classify", manifest_name="autoquote-second-opinion", file="second_opinion.onnx",
    runtime=f"{__name__}:FakeClassifierRuntime", data_source="test crops", licence="AGPL-3.0-or-later",
)


@pytest.fixture
def second_opinion() -> Iterator[ModelKind]:
    register_kind(SECOND_OPINION)
    yield SECOND_OPINION
    unregister_kind(SECOND_OPINION.name)


def second_opinion_file(folder: Path) -> Path:
    """A classifier model file whose manifest names the second-opinion kind (the shipped severity model's bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx = folder / "second_opinion.onnx"
    shutil.copyfile(WEIGHTS_DIR / "severity.onnx", onnx)
    shipped = load_manifest(WEIGHTS_DIR / "severity.onnx")
    write_manifest(onnx, shipped.updated(name="autoquote-second-opinion", version="0.1", file=onnx.name,
                                         sha256=sha256_file(onnx)))
    return onnx


@pytest.mark.parametrize(
    ("kind", "runtime"), [("detector", Detector), ("severity", SeverityModel), ("cost", CostHead)]
)
def test_each_shipped_model_is_the_kind_its_manifest_names_and_loads_through_the_table(
    kind: str, runtime: type
) -> None:
    spec = get_kind(kind)
    manifest = load_manifest(spec.shipped)
    assert kind_of(manifest) is spec and manifest.name == spec.manifest_name and manifest.task == spec.task
    assert isinstance(model.load(kind), runtime)


def test_the_shipped_detector_runs_at_its_kinds_confidence_and_its_manifests_nms() -> None:
    detector = model.load_detector()
    defaults = get_kind("detector").detection
    assert defaults is not None and detector.manifest.conf is None  # exported before the manifest said it
    assert detector.conf == defaults.conf == 0.25
    assert detector.iou == detector.manifest.nms_iou == 0.5


def test_a_detectors_manifest_chooses_its_confidence_and_the_caller_may_override_it() -> None:
    shipped = model.load_detector()
    chosen = Detector(shipped.session, shipped.manifest.updated(conf=0.4))
    assert chosen.conf == 0.4
    assert Detector(shipped.session, shipped.manifest.updated(conf=0.4), conf=0.1).conf == 0.1


def test_two_classifier_kinds_keep_apart_in_the_store(tmp_path: Path, second_opinion: ModelKind) -> None:
    registry = tmp_path / "store"
    other = store.register(registry, second_opinion_file(tmp_path / "export"))
    severity = store.register(registry, WEIGHTS_DIR / "severity.onnx")
    assert other.kind == "second-opinion" and severity.kind == "severity"
    assert other.path.parent.parent == registry / "second-opinion"
    assert {e.kind: e.path for e in store.entries(registry)} == {
        "severity": severity.path, "second-opinion": other.path}
    assert model.load("second-opinion", other.path).name == "autoquote-second-opinion"


def test_another_classifier_is_not_a_severity_model(tmp_path: Path, second_opinion: ModelKind) -> None:
    with pytest.raises(ManifestError, match="is a 'second-opinion' model .*not a 'severity' one"):
        model.load_severity(second_opinion_file(tmp_path))


def test_a_manifest_naming_no_kind_is_refused(tmp_path: Path) -> None:
    onnx = tmp_path / "x.onnx"
    shutil.copyfile(WEIGHTS_DIR / "severity.onnx", onnx)
    manifest = json.loads((WEIGHTS_DIR / "severity.json").read_text())
    (tmp_path / "x.json").write_text(json.dumps({**manifest, "name": "autoquote-verifer", "file": onnx.name}))
    with pytest.raises(ManifestError, match="no model kind is named 'autoquote-verifer'.*register its kind"):
        load_manifest(onnx)
    with pytest.raises(ManifestError, match="no model kind"):
        store.register(tmp_path / "store", onnx)


def test_a_manifest_whose_task_is_not_its_kinds_is_refused(tmp_path: Path) -> None:
    onnx = tmp_path / "severity.onnx"
    shutil.copyfile(WEIGHTS_DIR / "severity.onnx", onnx)
    manifest = json.loads((WEIGHTS_DIR / "severity.json").read_text())
    (tmp_path / "severity.json").write_text(json.dumps({**manifest, "task": "detect"}))
    with pytest.raises(ManifestError, match="'classify' models but this manifest says 'detect'"):
        load_manifest(onnx)


def test_a_kind_is_registered_once_and_only_detectors_have_detection_thresholds() -> None:
    with pytest.raises(ConfigError, match="same manifest_name as 'verifier'"):
        register_kind(ModelKind(name="verifier-2", task="classify", manifest_name="autoquote-verifier",
                                file="v2.onnx", runtime="x:Y", data_source="-", licence="-"))
    with pytest.raises(ConfigError, match="detection thresholds"):
        ModelKind(name="parts", task="detect", manifest_name="autoquote-parts", file="parts.onnx",
                  runtime="x:Y", data_source="-", licence="-")
    with pytest.raises(ConfigError, match="no model kind is called 'nope'"):
        get_kind("nope")


def test_the_table_lists_the_kinds_and_the_versions_a_quote_records() -> None:
    assert list(KINDS) == ["detector", "severity", "verifier", "cost"]
    assert [k.task for k in KINDS.values()].count("classify") == 2
    assert quote_keys() == ("detector", "severity", "pricer")
    assert store.TASK_OF_KIND == {"detector": "detect", "severity": "classify", "verifier": "classify",
                                  "cost": "cost"}

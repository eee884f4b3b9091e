"""The training side of the perception model kinds, in one table (no ``if kind == ...`` chains).

The kinds themselves (names, tasks, manifest names, files, licences, data notes, default thresholds) are
declared once in :mod:`model.kinds`; this table adds, under the same names, what only training needs: which
recipe (a config that trains itself) a kind uses, which classes and data hashes its manifest records, how it
is evaluated through the runtime and how parity with torch is checked. Torch and ultralytics are imported
only when a kind's training or export actually runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.kinds import ModelKind, Task, get_kind
from model.vocabulary import SEVERITY_LEVELS

if TYPE_CHECKING:
    from training.ultralytics_recipe import UltralyticsRecipe


@dataclass(frozen=True)
class Kind:
    """One trainable perception model: a kind of :mod:`model.kinds` and how to train and check it."""

    name: str  # a name in model.kinds.KINDS
    data_key: str  # the prepared data's folder and hash key: detect or severity
    recipe: Callable[[], type[UltralyticsRecipe]]  # its config, which trains itself
    classes: Callable[[dict[str, Any]], list[str]]
    # (model, prepared, split, out folder, detector for crops) -> report; a None model is the shipped one
    evaluate: Callable[[Path | None, Path, str, Path, Path | None], dict[str, Any]]
    parity: Callable[[Path, Path, Path, str, int], Any]
    curves: tuple[str, ...]  # columns of ultralytics' results.csv plotted after export
    report_keys: tuple[str, ...]  # what ``evaluate`` prints
    inputs: tuple[str, ...] = ("photos",)  # what it can be evaluated on: whole photos, or crops around detections

    def __post_init__(self) -> None:
        get_kind(self.name)  # a training kind is always one the runtime knows

    @property
    def model(self) -> ModelKind:
        """Its entry in the runtime's table: task, manifest name, file, licence, data note, thresholds."""
        return get_kind(self.name)

    @property
    def task(self) -> Task:
        return self.model.task

    @property
    def default_config(self) -> str:
        """The GPU recipe in ``training/configs``."""
        return f"{self.name}.yaml"


def _detector_recipe() -> type[UltralyticsRecipe]:
    from training.detector import DetectorConfig

    return DetectorConfig


def _severity_recipe() -> type[UltralyticsRecipe]:
    from training.severity import SeverityConfig

    return SeverityConfig


def _evaluate_detector(model: Path | None, prepared: Path, split: str, out: Path,
                       _crops_from: Path | None = None) -> dict[str, Any]:
    from model.detector import Detector
    from training.evaluate import evaluate_detector

    report = evaluate_detector(Detector.load(model), prepared, split, out)
    report.pop("per_image")
    return report


def _evaluate_severity(model: Path | None, prepared: Path, split: str, out: Path,
                       crops_from: Path | None = None) -> dict[str, Any]:
    """On whole photos, or on crops around the detections of the detector ``crops_from``."""
    from model.detector import Detector
    from model.severity import SeverityModel
    from training.evaluate import evaluate_severity

    crop_detector = Detector.load(crops_from) if crops_from is not None else None
    return evaluate_severity(SeverityModel.load(model), prepared, split, out, crop_detector=crop_detector)


def _parity_detector(weights: Path, onnx: Path, prepared: Path, split: str, imgsz: int) -> Any:
    from training.evaluate import split_images
    from training.export import parity_detector

    return parity_detector(weights, onnx, split_images(prepared, split)[:8], imgsz)


def _parity_severity(weights: Path, onnx: Path, prepared: Path, split: str, imgsz: int) -> Any:
    from training.evaluate import severity_images
    from training.export import parity_severity

    return parity_severity(weights, onnx, [p for p, _ in severity_images(prepared, split)[:8]], imgsz)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            name="detector",
            data_key="detect",
            recipe=_detector_recipe,
            classes=lambda report: list(report["classes"]),
            evaluate=_evaluate_detector,
            parity=_parity_detector,
            curves=("train/box_loss", "train/cls_loss", "val/box_loss", "metrics/mAP50(B)", "metrics/mAP50-95(B)"),
            report_keys=("map50", "map50_95", "per_class", "latency_ms"),
        ),
        Kind(
            name="severity",
            data_key="severity",
            recipe=_severity_recipe,
            classes=lambda _report: list(SEVERITY_LEVELS),
            evaluate=_evaluate_severity,
            parity=_parity_severity,
            curves=("train/loss", "val/loss", "metrics/accuracy_top1"),
            report_keys=("macro_f1", "accuracy", "per_class", "input", "latency_ms"),
            inputs=("photos", "crops"),
        ),
    )
}

"""Manifests: the JSON file beside every shipped ONNX model that says what it is and how it was made."""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model.errors import ChecksumMismatch, ManifestError
from model.kinds import WEIGHTS_DIR, DetectionThresholds, Task, kind_of

__all__ = ["DEFAULT_NMS_IOU", "WEIGHTS_DIR", "DatasetRef", "Manifest", "Preprocess", "Task", "TrainedWith",
           "load_manifest", "manifest_path", "sha256_file", "write_manifest"]
DEFAULT_NMS_IOU = DetectionThresholds.nms_iou  # declared in model/kinds.py; named here for the export's help


class Preprocess(BaseModel):
    """The input contract: how a picture becomes the tensor the network expects."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["letterbox", "resize_center_crop", "features"]
    resample: Literal["bilinear"] = "bilinear"
    pad_value: int = 114
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channel_order: Literal["RGB"] = "RGB"
    scale: float = 1.0 / 255.0
    flip_average: bool = Field(False, description="classifiers: average the probabilities of the picture and "
                               "its mirror image (test-time augmentation, chosen on val)")
    photo_average: bool = Field(False, description="severity: average each crop's probabilities with those of "
                                "the whole photo it was cut from (a model trained on both, chosen on val)")


class DatasetRef(BaseModel):
    """What a model was trained and measured on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    split: str
    sha256: str = Field(description="hash of the prepared split listing the model was trained and evaluated on")
    splits: dict[str, str | int] | None = Field(None, description="each split's hash (perception models) or row "
                                                "count (cost heads)")
    rows: int | None = Field(None, ge=0, description="cost heads: rows of the claims ledger")


class TrainedWith(BaseModel):
    """The command and the resolved config that produced a model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: str
    config: dict[str, Any]
    config_sha256: str


class Manifest(BaseModel):
    """Everything needed to trust and run one ONNX file; an unknown (misspelt) key is refused.

    ``name`` says which model kind the file is (:mod:`model.kinds`); :func:`load_manifest` refuses a name no
    kind has, or a task other than the kind's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    task: Task
    classes: list[str]
    input_size: int
    input_name: str = "images"
    preprocess: Preprocess
    opset: int
    sha256: str
    file: str
    dataset: DatasetRef
    metrics: dict[str, Any]
    trained_with: TrainedWith
    created: str
    licence: str = "AGPL-3.0-or-later"
    notes: list[str] = Field(default_factory=list)
    nms_iou: float | None = Field(None, gt=0, le=1, description="detectors: boxes of one class overlapping a "
                                  "higher-scoring one by more than this IoU are dropped (chosen on val); none for "
                                  "other models, and detectors exported without it use their kind's default "
                                  "(model/kinds.py)")
    conf: float | None = Field(None, ge=0, lt=1, description="detectors: boxes scoring below this are not "
                               "findings; none for other models, and detectors exported without it use their "
                               "kind's default (model/kinds.py)")
    initial_weights: dict[str, Any] | str | None = Field(None, description="perception models: the checkpoint "
                                                         "the network was seeded from (file, sha256, licence, "
                                                         "...), or 'none: trained from scratch'")
    head: dict[str, Any] | None = Field(None, description="cost heads: what the outputs mean and what the head "
                                        "was trained for (model.pricing.cost_head.HeadSettings)")
    members: list[dict[str, Any]] | None = Field(None, description="ensembles: the models whose probabilities "
                                                 "this file averages (version, sha256, weight, input size)")
    quantization: dict[str, Any] | None = Field(None, description="int8 copies: how the model was quantised, "
                                                "and from which model")

    def updated(self, **changes: Any) -> Manifest:
        """A copy with ``changes``, validated: ``model_copy(update=...)`` would drop a misspelt key silently."""
        return Manifest.model_validate({**self.model_dump(), **changes})

    def detection_thresholds(self) -> DetectionThresholds:
        """The confidence and NMS IoU a detector runs at: this manifest's, else its kind's defaults."""
        defaults = kind_of(self).detection
        if defaults is None:
            raise ManifestError(f"{self.file}: {self.name} is not a detector; it has no detection thresholds")
        return DetectionThresholds(conf=defaults.conf if self.conf is None else self.conf,
                                   nms_iou=self.nms_iou or defaults.nms_iou)

    def to_metadata(self) -> dict[str, str]:
        """The same keys as strings, for ONNX ``metadata_props`` (keys a model does not use are left out)."""
        dumped = self.model_dump(mode="json", exclude_none=True)
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in dumped.items()}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".json")


def load_manifest(onnx_path: Path, verify: bool = True) -> Manifest:
    """Read the manifest beside ``onnx_path``; refuse a file whose sha256 does not match it."""
    path = manifest_path(onnx_path)
    if not onnx_path.is_file():
        raise ManifestError(f"model file {onnx_path} does not exist; train and export one or pass another path")
    if not path.is_file():
        raise ManifestError(f"{onnx_path.name} has no manifest at {path}; export it with the training CLI")
    try:
        manifest = Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ManifestError(_explain(path, exc)) from exc
    kind_of(manifest, str(path))
    if verify:
        actual = sha256_file(onnx_path)
        if actual != manifest.sha256:
            raise ChecksumMismatch(
                f"{onnx_path.name} has sha256 {actual[:12]}… but its manifest says {manifest.sha256[:12]}…; "
                "the file was changed or replaced: re-export it or restore the shipped one"
            )
    return manifest


def _explain(path: Path, exc: ValidationError) -> str:
    """The first problem of an invalid manifest as a sentence; an unknown key names the known one it is near."""
    first = exc.errors()[0]
    if first["type"] != "extra_forbidden":
        return f"manifest {path} is invalid: {first['msg']} at {first['loc']}"
    *parents, key = (str(part) for part in first["loc"])
    model: type[BaseModel] = Manifest
    for part in parents:
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else model
    near = difflib.get_close_matches(key, list(model.model_fields), n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    where = ".".join([*parents, key])
    holder = f"{'.'.join(parents)!r}" if parents else "a manifest"
    return (f"manifest {path} has an unknown key {where!r}: {hint}the keys {holder} may have are "
            f"{', '.join(model.model_fields)}; fix it or re-export the model")


def write_manifest(onnx_path: Path, manifest: Manifest) -> Path:
    """Write the manifest beside ``onnx_path`` (keys a model does not use are left out)."""
    path = manifest_path(onnx_path)
    dumped = manifest.model_dump(mode="json", exclude_none=True)
    path.write_text(json.dumps(dumped, indent=2) + "\n", encoding="utf-8")
    return path

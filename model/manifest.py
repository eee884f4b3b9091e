"""Manifests: the JSON file beside every shipped ONNX model that says what it is and how it was made."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model.errors import ChecksumMismatch, ManifestError

Task = Literal["detect", "classify", "cost"]
DEFAULT_NMS_IOU = 0.7  # ultralytics' default, for detectors whose manifest does not choose one


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
    model_config = ConfigDict(frozen=True, extra="allow")

    source: str
    split: str
    sha256: str = Field(description="hash of the prepared split listing the model was trained and evaluated on")


class TrainedWith(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    command: str
    config: dict[str, Any]
    config_sha256: str


class Manifest(BaseModel):
    """Everything needed to trust and run one ONNX file."""

    model_config = ConfigDict(frozen=True, extra="allow")

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
                                  "other models, and detectors exported without it use the runtime's 0.7")

    def to_metadata(self) -> dict[str, str]:
        """The same keys as strings, for ONNX ``metadata_props``."""
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.model_dump(mode="json").items()}


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
        first = exc.errors()[0]
        raise ManifestError(f"manifest {path} is invalid: {first['msg']} at {first['loc']}") from exc
    if verify:
        actual = sha256_file(onnx_path)
        if actual != manifest.sha256:
            raise ChecksumMismatch(
                f"{onnx_path.name} has sha256 {actual[:12]}… but its manifest says {manifest.sha256[:12]}…; "
                "the file was changed or replaced: re-export it or restore the shipped one"
            )
    return manifest


def write_manifest(onnx_path: Path, manifest: Manifest) -> Path:
    path = manifest_path(onnx_path)
    path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return path


WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

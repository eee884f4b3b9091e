"""Export a trained run to ONNX, check it, measure it on held-out data, and write its manifest."""

from __future__ import annotations

import json
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.detector import Detector, decode
from model.errors import ConfigError
from model.kinds import get_kind
from model.manifest import DatasetRef, Manifest, Preprocess, TrainedWith, sha256_file, write_manifest
from model.preprocess import letterbox, resize_center_crop
from model.severity import SeverityModel
from training.config import config_sha256, portable_config

# Parity compares boxes down to this score, below the runtime's confidence, so that a box near the runtime's
# cut-off is compared too.
PARITY_CONF = 0.05


def export_onnx(weights: Path, imgsz: int, opset: int = 17, batch_axis: bool = False) -> Path:
    """ultralytics ONNX export of ``weights``, then ``onnx.checker``.

    Batch 1 by default; ``batch_axis`` names the batch axis so that one run takes several inputs (the
    severity model grades all of a photo's crops at once). The runtime always feeds the manifest's size.
    """
    from training.ultralytics_env import prepare_ultralytics

    prepare_ultralytics()
    import onnx

    # The default export keeps the head ultralytics' own predict() runs on a loaded checkpoint (for YOLO26
    # the one-to-many branch, decoded with NMS by the runtime); nms=False would swap in the one-to-one branch.
    import torch
    from ultralytics import YOLO

    with warnings.catch_warnings():
        # Tracing warns about Python-side shape logic in the head; it is expected for a static-shape export
        # and the parity check below is what proves the graph right.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        path = Path(YOLO(str(weights)).export(format="onnx", imgsz=imgsz, opset=opset, simplify=True,
                                              dynamic=batch_axis, batch=1, verbose=False))
    onnx.checker.check_model(onnx.load(str(path)))
    return path


def embed_metadata(path: Path, manifest: Manifest) -> None:
    """Write the manifest's keys (all but the file's own hash) into the ONNX ``metadata_props``."""
    import onnx

    proto = onnx.load(str(path))
    meta = {k: v for k, v in manifest.to_metadata().items() if k != "sha256"}
    meta["description"] = f"{manifest.name} {manifest.version}: {', '.join(manifest.classes)}"
    # ultralytics records its training arguments, absolute paths included: the manifest holds the recipe
    kept = [p for p in proto.metadata_props if p.key != "args"]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    existing = {p.key: p for p in proto.metadata_props}
    for key, value in meta.items():
        if key in existing:
            existing[key].value = value
        else:
            proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def parity_detector(weights: Path, onnx_path: Path, images: list[Path], imgsz: int,
                    conf: float = PARITY_CONF) -> dict[str, float]:
    """Same letterboxed tensor through ultralytics (PyTorch) and onnxruntime: the largest gap in the raw
    network output, then each decoded ONNX box against the nearest ultralytics predict() box of its class
    (coordinate, score and detection-count gaps)."""
    import torch
    from ultralytics import YOLO

    yolo = YOLO(str(weights))
    detector = Detector.load(onnx_path)
    spec = detector.manifest.preprocess
    box_gap, score_gap, count_gap, raw_gap = 0.0, 0.0, 0, 0.0
    for path in images:
        with Image.open(path) as im:
            tensor, _ = letterbox(im, imgsz, spec)
        res = yolo.predict(torch.from_numpy(tensor), imgsz=imgsz, conf=conf, iou=detector.iou, max_det=300,
                           verbose=False)[0]
        tb = res.boxes.xyxy.cpu().numpy()
        ts = res.boxes.conf.cpu().numpy()
        tc = res.boxes.cls.cpu().numpy().astype(np.int64)
        raw = detector.run(tensor)
        with torch.no_grad():
            torch_raw = yolo.predictor.model(torch.from_numpy(tensor))
        torch_raw = torch_raw[0] if isinstance(torch_raw, (list, tuple)) else torch_raw
        raw_gap = max(raw_gap, float(np.abs(torch_raw.cpu().numpy() - raw).max()))
        ob, os_, oc = decode(raw, len(detector.classes), conf, detector.iou, 300)
        ob = ob.clip(0, imgsz)  # ultralytics clips to the image; the runtime clips after mapping back
        count_gap = max(count_gap, abs(len(tb) - len(ob)))
        for box, score, cls in zip(ob, os_, oc, strict=True):
            same = tc == cls
            if not same.any():
                box_gap = float("inf")
                continue
            diffs = np.abs(tb[same] - box).max(axis=1)
            j = int(diffs.argmin())
            box_gap = max(box_gap, float(diffs[j]))
            score_gap = max(score_gap, float(abs(ts[same][j] - score)))
    return {"max_raw_output": raw_gap, "max_box_px": box_gap, "max_score": score_gap,
            "max_count_difference": float(count_gap), "conf": conf}


def parity_severity(weights: Path, onnx_path: Path, images: list[Path], imgsz: int) -> dict[str, float]:
    """Same preprocessed tensor through ultralytics (PyTorch) and onnxruntime: largest probability gap."""
    import torch
    from ultralytics import YOLO

    yolo = YOLO(str(weights))
    model = SeverityModel.load(onnx_path)
    gap = 0.0
    for path in images:
        with Image.open(path) as im:
            tensor = resize_center_crop(im, imgsz, model.manifest.preprocess)
        res = yolo.predict(torch.from_numpy(tensor), imgsz=imgsz, verbose=False)[0]
        torch_probs = res.probs.data.cpu().numpy()
        onnx_probs = model.probabilities(tensor)
        gap = max(gap, float(np.abs(torch_probs - onnx_probs).max()))
    return {"max_probability": gap}


def build_manifest(kind: str, onnx_path: Path, classes: list[str], imgsz: int, version: str,
                   run_config: Any, command: str, dataset_hashes: dict[str, str], metrics: dict[str, Any],
                   opset: int, notes: list[str], initial_weights: dict[str, Any] | None = None,
                   flip_average: bool = False, photo_average: bool = False,
                   nms_iou: float | None = None, conf: float | None = None) -> Manifest:
    """A manifest with everything but the final sha256 (filled in after metadata is embedded).

    ``kind`` is a name in :data:`model.kinds.KINDS`, which gives the manifest's name, task, licence and data
    note. ``initial_weights`` (file, sha256, licence, tensors moved) is recorded when the network was seeded
    from another checkpoint, next to the dataset hashes; None means trained from scratch. ``flip_average``
    (classifiers) makes the runtime grade each picture with its mirror image and average the two;
    ``photo_average`` makes it average each crop's grade with the whole photo's. ``nms_iou`` and ``conf``
    are a detector's NMS IoU and confidence (default: its kind's); other models get neither.
    """
    spec = get_kind(kind)
    if spec.task == "detect":
        preprocess = Preprocess(kind="letterbox")
    elif spec.task == "classify":
        preprocess = Preprocess(kind="resize_center_crop", flip_average=flip_average, photo_average=photo_average)
    else:
        raise ConfigError(f"{kind} models are exported by their own command, not from an ultralytics run")
    detection = spec.detection
    return Manifest(
        name=spec.manifest_name,
        version=version,
        task=spec.task,
        classes=classes,
        input_size=imgsz,
        preprocess=preprocess,
        opset=opset,
        sha256="",
        file=onnx_path.name,
        dataset=DatasetRef(source=spec.data_source, split="train (grouped by source photo), metrics on test",
                           sha256=dataset_hashes["all"], splits=dict(dataset_hashes)),
        metrics=metrics,
        trained_with=TrainedWith(command=command, config=portable_config(run_config),
                                 config_sha256=config_sha256(run_config)),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        licence=spec.licence,
        notes=notes,
        initial_weights=initial_weights or "none: trained from scratch",
        nms_iou=(nms_iou or detection.nms_iou) if detection else None,
        conf=(detection.conf if conf is None else conf) if detection else None,
    )


def finalise(onnx_path: Path, manifest: Manifest) -> Manifest:
    """Embed metadata, hash the file, write the manifest beside it."""
    embed_metadata(onnx_path, manifest)
    final = manifest.model_copy(update={"sha256": sha256_file(onnx_path)})
    write_manifest(onnx_path, final)
    return final


def ship(onnx_path: Path, weights_dir: Path, kind: str) -> Path:
    """Copy an exported model and its manifest into ``weights_dir`` under its kind's file name."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    target = weights_dir / get_kind(kind).file
    shutil.copyfile(onnx_path, target)
    manifest = json.loads(onnx_path.with_suffix(".json").read_text())
    manifest["file"] = target.name
    target.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return target

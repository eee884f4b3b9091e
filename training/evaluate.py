"""Evaluate exported ONNX models through the project's own runtime (never ultralytics) on a held-out split."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from model.detector import Detector
from model.findings import SEVERITY_LEVELS
from model.pipeline import PipelineConfig
from model.preprocess import letterbox
from model.severity import SeverityModel
from training import plots
from training.data.sources import IMAGE_SUFFIXES
from training.metrics import DetectionStats, box_iou, classification_report, mean_ap

# AP integrates over every score, so boxes are kept down to this (ultralytics' validator does the same); the
# confusion matrix, the per-image counts and the drawn boxes use the detector's own confidence instead.
AP_CONF = 0.001
CONFUSION_IOU = 0.5


def read_yolo_labels(label_path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (x1y1x2y2 pixels) and class ids of a normalised ``cls cx cy w h`` label file."""
    text = label_path.read_text() if label_path.is_file() else ""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if not rows:
        return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    arr = np.array([[float(v) for v in r[:5]] for r in rows])
    cx, cy, w, h = arr[:, 1] * width, arr[:, 2] * height, arr[:, 3] * width, arr[:, 4] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, arr[:, 0].astype(np.int64)


def split_images(prepared: Path, split: str) -> list[Path]:
    folder = prepared / "detect" / split / "images"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _confusion_update(cm: np.ndarray, boxes: np.ndarray, cls: np.ndarray, tboxes: np.ndarray,
                      tcls: np.ndarray, background: int) -> None:
    """Detection confusion at IoU ``CONFUSION_IOU``: matched pairs, misses (true → background), false alarms."""
    iou = box_iou(tboxes, boxes)
    matched_t: set[int] = set()
    matched_p: set[int] = set()
    if iou.size:
        ti, pi = np.nonzero(iou >= CONFUSION_IOU)
        for k in np.argsort(-iou[ti, pi]):
            t, p = int(ti[k]), int(pi[k])
            if t in matched_t or p in matched_p:
                continue
            matched_t.add(t)
            matched_p.add(p)
            cm[tcls[t], cls[p]] += 1
    for t in range(len(tcls)):
        if t not in matched_t:
            cm[tcls[t], background] += 1
    for p in range(len(cls)):
        if p not in matched_p:
            cm[background, cls[p]] += 1


def evaluate_detector(detector: Detector, prepared: Path, split: str, out_dir: Path,
                      progress: bool = True, grid_size: int = 16) -> dict[str, Any]:
    """AP50 and AP50-95 per class and overall, latency, and plots, on ``prepared/detect/<split>``.

    mAP is the mean over the classes with labelled boxes in the split (COCO's and ultralytics' convention);
    the confusion matrix counts the boxes at or above the detector's confidence (its manifest's).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = detector.classes
    nc = len(classes)
    stats = DetectionStats(nc)
    cm = np.zeros((nc + 1, nc + 1), dtype=int)
    latencies: list[float] = []
    samples: list[Image.Image] = []
    per_image: list[dict[str, Any]] = []
    detector.max_det = 300
    conf = detector.conf
    images = split_images(prepared, split)
    for path in tqdm(images, desc=f"detector on {split}", disable=not progress, unit="img"):
        with Image.open(path) as im:
            image = im.convert("RGB")
        tboxes, tcls = read_yolo_labels(path.parent.parent / "labels" / (path.stem + ".txt"), *image.size)
        start = time.perf_counter()
        tensor, box = letterbox(image, detector.input_size, detector.manifest.preprocess)
        found = detector.detect_tensor(tensor, box, conf=AP_CONF)
        latencies.append((time.perf_counter() - start) * 1000)
        boxes = np.array([d.box for d in found]).reshape(-1, 4)
        scores = np.array([d.score for d in found])
        cls = np.array([d.class_id for d in found], dtype=np.int64)
        stats.add(boxes, scores, cls, tboxes, tcls)
        confident = scores >= conf
        _confusion_update(cm, boxes[confident], cls[confident], tboxes, tcls, nc)
        per_image.append({"file": path.name, "true": len(tcls), "predicted": int(confident.sum())})
        if len(samples) < grid_size:
            truth = [(b, classes[c]) for b, c in zip(tboxes.tolist(), tcls, strict=True)]
            pred = [(d.box, d.label, d.score) for d in found if d.score >= conf]
            samples.append(plots.draw_boxes(image, truth, pred))
    result = stats.per_class()
    ap = result["ap"]
    map50, map50_95 = mean_ap(ap, result["support"])
    coco50, coco50_95 = mean_ap(stats.per_class("coco")["ap"], result["support"])
    report: dict[str, Any] = {
        "split": split,
        "images": len(images),
        "instances": int(result["support"].sum()),
        "map50": map50,
        "map50_95": map50_95,
        "coco": {"map50": coco50, "map50_95": coco50_95,
                 "what": "the same matching with pycocotools' 101-point interpolation"},
        "per_class": {
            name: {"ap50": float(ap[c, 0]), "ap50_95": float(ap[c].mean()), "instances": int(result["support"][c])}
            for c, name in enumerate(classes)
        },
        "confusion_matrix": {"labels": [*classes, "background"], "counts": cm.tolist(), "conf": conf,
                             "iou": CONFUSION_IOU},
        "latency_ms": {"median": float(np.median(latencies)), "p95": float(np.percentile(latencies, 95)),
                       "what": "letterbox + onnxruntime + decode, per image, this machine"},
        "per_image": per_image,
    }
    plots.pr_curves(result["pr_curves"], ap[:, 0], classes, out_dir / "detector_pr_curves.png")
    plots.confusion(cm, [*classes, "background"], out_dir / "detector_confusion.png",
                    f"Detector on {split} (conf {conf:g}, IoU {CONFUSION_IOU:g})")
    if samples:
        plots.image_grid(samples, out_dir / "detector_boxes.png")
    (out_dir / "detector_eval.json").write_text(json.dumps(report, indent=2))
    return report


def severity_images(prepared: Path, split: str) -> list[tuple[Path, int]]:
    root = prepared / "severity" / split
    return [(p, i) for i, cls in enumerate(SEVERITY_LEVELS) if (root / cls).is_dir()
            for p in sorted((root / cls).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]


def evaluate_severity(model: SeverityModel, prepared: Path, split: str, out_dir: Path,
                      progress: bool = True, crop_detector: Detector | None = None) -> dict[str, Any]:
    """Precision, recall, F1 per class, macro-F1, confusion matrix and latency on ``prepared/severity/<split>``.

    With ``crop_detector`` each photo is graded as the service grades it: the crop around its
    highest-scoring detection (the whole photo when nothing is detected), with the whole photo beside it
    for a model whose manifest asks for ``photo_average``.
    """
    from training.severity_crops import damage_crop

    margin = PipelineConfig().crop_margin
    out_dir.mkdir(parents=True, exist_ok=True)
    y_true: list[int] = []
    y_pred: list[int] = []
    latencies: list[float] = []
    for path, label in tqdm(severity_images(prepared, split), desc=f"severity on {split}",
                            disable=not progress, unit="img"):
        with Image.open(path) as im:
            image = im.convert("RGB")
        picture = image
        if crop_detector is not None:
            picture, _ = damage_crop(image, crop_detector, margin)
        start = time.perf_counter()
        grade = model.grade_many([picture], photo=image)[0]
        latencies.append((time.perf_counter() - start) * 1000)
        y_true.append(label)
        y_pred.append(SEVERITY_LEVELS.index(grade.label))  # type: ignore[arg-type]
    report = classification_report(np.array(y_true), np.array(y_pred), list(SEVERITY_LEVELS))
    report.update(split=split, images=len(y_true),
                  input="crops around the top detection" if crop_detector is not None else "whole photo",
                  latency_ms={"median": float(np.median(latencies)) if latencies else 0.0,
                              "what": "resize + crop + onnxruntime, per image, this machine"})
    plots.confusion(np.array(report["confusion_matrix"]), list(SEVERITY_LEVELS),
                    out_dir / "severity_confusion.png",
                    f"Severity on {split}, {'crops' if crop_detector is not None else 'whole photos'}")
    (out_dir / "severity_eval.json").write_text(json.dumps(report, indent=2))
    return report

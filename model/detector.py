"""The damaged-part detector: a YOLO network exported to ONNX, run by onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.errors import InferenceError, ManifestError
from model.findings import Detection
from model.manifest import Manifest
from model.onnx_session import OnnxModel, open_session
from model.preprocess import Letterbox, letterbox


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices by descending score."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = (xx2 - xx1).clip(0) * (yy2 - yy1).clip(0)
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


def decode(
    output: np.ndarray, num_classes: int, conf: float, iou: float, max_det: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw network output to (boxes x1y1x2y2 in input pixels, scores, class ids).

    Two layouts exist: end-to-end heads (YOLO26) give ``(1, N, 6)`` rows of x1,y1,x2,y2,score,class,
    already de-duplicated; classic heads (YOLO11) give ``(1, 4 + nc, N)`` of cx,cy,w,h and per-class
    scores, which need class-aware NMS.
    """
    out = output[0]
    if out.ndim == 2 and out.shape[1] == 6 and out.shape[0] != 4 + num_classes:
        keep = out[:, 4] >= conf
        rows = out[keep][:max_det]
        return rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64)
    if out.ndim != 2 or out.shape[0] != 4 + num_classes:
        raise InferenceError(f"unexpected detector output shape {output.shape} for {num_classes} classes")
    preds = out.T
    class_scores = preds[:, 4:]
    cls = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(cls)), cls]
    mask = scores >= conf
    preds, cls, scores = preds[mask], cls[mask], scores[mask]
    cx, cy, w, h = preds[:, 0], preds[:, 1], preds[:, 2], preds[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    # class-aware NMS: offset boxes by class so different classes never suppress each other
    offset = boxes + (cls[:, None] * 7680.0)
    keep = nms(offset, scores, iou)[:max_det]
    return boxes[keep], scores[keep], cls[keep]


class Detector(OnnxModel):
    """Finds damaged parts in a photo. Build with :meth:`load`; call :meth:`detect`."""

    what = "detector"

    def __init__(self, session: Any, manifest: Manifest, conf: float | None = None, iou: float | None = None,
                 max_det: int = 100) -> None:
        super().__init__(session, manifest)
        chosen = manifest.detection_thresholds()  # the manifest's (chosen on val), else its kind's defaults
        self.conf = chosen.conf if conf is None else conf
        self.iou = iou or chosen.nms_iou
        self.max_det = max_det

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int | None = None) -> Detector:
        """Open the shipped detector (or ``path``) after checking its manifest."""
        session, manifest = open_session(path, "detector", threads)
        if manifest.preprocess.kind != "letterbox":
            raise ManifestError(f"detector manifest asks for {manifest.preprocess.kind!r}; expected letterbox")
        return cls(session, manifest)

    def detect_tensor(
        self, tensor: np.ndarray, box: Letterbox, conf: float | None = None
    ) -> list[Detection]:
        """Detections for an already letterboxed input, in pixels of the original image."""
        boxes, scores, cls = decode(
            self.run(tensor), len(self.classes), self.conf if conf is None else conf, self.iou, self.max_det
        )
        boxes = box.to_image(boxes)
        return [
            Detection(box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])), label=self.classes[int(c)],
                      score=float(s), class_id=int(c))
            for b, s, c in zip(boxes, scores, cls, strict=True)
            if b[2] > b[0] and b[3] > b[1]
        ]

    def detect(self, image: Image.Image, conf: float | None = None) -> list[Detection]:
        """Damaged parts in ``image`` (any size and mode), boxes in its pixels, highest score first."""
        tensor, box = letterbox(image, self.input_size, self.manifest.preprocess)
        found = self.detect_tensor(tensor, box, conf)
        return sorted(found, key=lambda d: -d.score)

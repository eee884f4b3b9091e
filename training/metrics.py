"""Detection and classification metrics in numpy: AP per class, precision/recall/F1, confusion.

Detection AP matches predictions to labelled boxes as COCO does and is checked against pycocotools in
``tests/training/test_metrics_coco.py``. Two interpolations of the precision envelope are offered: the
ultralytics validator's (the project's reported figures) and COCO's (equal to pycocotools).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0, 1, 101)
Interpolation = Literal["ultralytics", "coco"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between x1y1x2y2 boxes ``a`` (n, 4) and ``b`` (m, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clip(0).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9))


def match_predictions(
    pred_boxes: np.ndarray, pred_scores: np.ndarray, pred_cls: np.ndarray, true_boxes: np.ndarray,
    true_cls: np.ndarray,
) -> np.ndarray:
    """For each prediction and IoU threshold, whether it is a true positive (COCO's matching).

    Predictions are taken in descending order of score; each takes the unmatched labelled box of its class
    with the highest IoU at or above the threshold. A more confident prediction therefore always claims a
    box before a less confident one, however much better the latter overlaps it: matching by IoU alone
    hands boxes to low-scoring near-duplicates and counts the confident detection as a false alarm.
    """
    correct = np.zeros((len(pred_boxes), len(IOU_THRESHOLDS)), dtype=bool)
    if len(pred_boxes) == 0 or len(true_boxes) == 0:
        return correct
    iou = box_iou(true_boxes, pred_boxes) * (true_cls[:, None] == pred_cls[None, :])
    order = np.argsort(-pred_scores, kind="stable")
    for k, threshold in enumerate(IOU_THRESHOLDS):
        free = np.ones(len(true_boxes), dtype=bool)
        for p in order:
            candidates = np.where(free & (iou[:, p] >= threshold), iou[:, p], -1.0)
            t = int(candidates.argmax())
            if candidates[t] < 0:
                continue
            free[t] = False
            correct[p, k] = True
    return correct


def average_precision(recall: np.ndarray, precision: np.ndarray,
                      interpolation: Interpolation = "ultralytics") -> float:
    """Area under the precision envelope (the best precision at this recall or beyond) at 101 recall points.

    ``ultralytics``, as its validator and every figure in the training log: the envelope starts at precision
    1 at recall 0 and falls in a straight line to 0 at recall 1 after the last prediction, and is integrated
    with the trapezoid rule. ``coco``, as pycocotools: the mean of the envelope at each recall point, 0
    beyond the highest recall reached. The ultralytics figure joins the envelope's steps with sloped lines and
    ends at precision 0 at recall 1, so for a class of ``n`` labelled boxes that are all found the two differ
    by at most ``1 / (2 n)`` plus the 0.01 of sampling 101 points; when recall stops at ``r`` with precision
    ``p``, its line down to recall 1 adds up to ``(1 - r) * p / 2``.
    """
    if interpolation == "coco":
        if len(recall) == 0:
            return 0.0
        envelope = np.flip(np.maximum.accumulate(np.flip(precision)))
        at = np.searchsorted(recall, RECALL_POINTS, side="left")
        sampled = np.where(at < len(recall), envelope[np.minimum(at, len(recall) - 1)], 0.0)
        return float(sampled.mean())
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    return float(np.trapezoid(np.interp(RECALL_POINTS, mrec, mpre), RECALL_POINTS))


def mean_ap(ap: np.ndarray, support: np.ndarray) -> tuple[float, float]:
    """mAP50 and mAP50-95 over the classes with labelled boxes (COCO and ultralytics leave the others out)."""
    labelled = ap[support > 0]
    if not len(labelled):
        return 0.0, 0.0
    return float(labelled[:, 0].mean()), float(labelled.mean())


@dataclass
class DetectionStats:
    """Accumulates predictions over a test split, then reports AP per class."""

    num_classes: int
    correct: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    pred_cls: list[np.ndarray] = field(default_factory=list)
    true_cls: list[np.ndarray] = field(default_factory=list)

    def add(self, pred_boxes: np.ndarray, scores: np.ndarray, pred_cls: np.ndarray,
            true_boxes: np.ndarray, true_cls: np.ndarray) -> None:
        self.correct.append(match_predictions(pred_boxes, scores, pred_cls, true_boxes, true_cls))
        self.scores.append(scores)
        self.pred_cls.append(pred_cls)
        self.true_cls.append(true_cls)

    def per_class(self, interpolation: Interpolation = "ultralytics") -> dict[str, np.ndarray]:
        """AP at each IoU threshold per class, plus PR curves at IoU 0.5 for plotting."""
        correct = np.concatenate(self.correct) if self.correct else np.zeros((0, len(IOU_THRESHOLDS)), bool)
        scores = np.concatenate(self.scores) if self.scores else np.zeros(0)
        pred_cls = np.concatenate(self.pred_cls) if self.pred_cls else np.zeros(0, int)
        true_cls = np.concatenate(self.true_cls) if self.true_cls else np.zeros(0, int)
        order = np.argsort(-scores, kind="stable")
        correct, scores, pred_cls = correct[order], scores[order], pred_cls[order]
        ap = np.zeros((self.num_classes, len(IOU_THRESHOLDS)))
        support = np.array([(true_cls == c).sum() for c in range(self.num_classes)])
        curves = np.zeros((self.num_classes, 2, 101))
        for c in range(self.num_classes):
            mask = pred_cls == c
            n_true = support[c]
            if n_true == 0 or not mask.any():
                continue
            tp = np.cumsum(correct[mask], axis=0)
            fp = np.cumsum(~correct[mask], axis=0)
            recall = tp / n_true
            precision = tp / (tp + fp)
            for k in range(len(IOU_THRESHOLDS)):
                ap[c, k] = average_precision(recall[:, k], precision[:, k], interpolation)
            grid = np.linspace(0, 1, 101)
            env = np.flip(np.maximum.accumulate(np.flip(precision[:, 0])))
            curves[c] = (grid, np.interp(grid, recall[:, 0], env, right=0.0))
        return {"ap": ap, "support": support, "pr_curves": curves}


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict[str, object]:
    """Precision, recall, F1 per class, macro-F1, accuracy and the confusion matrix (rows = truth)."""
    n = len(classes)
    cm = np.zeros((n, n), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[t, p] += 1
    per_class: dict[str, dict[str, float]] = {}
    f1s = []
    for i, name in enumerate(classes):
        tp = cm[i, i]
        precision = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        recall = tp / cm[i, :].sum() if cm[i, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                           "support": int(cm[i, :].sum())}
    return {
        "per_class": per_class,
        "macro_f1": float(np.mean(f1s)),
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "confusion_matrix": cm.tolist(),
        "classes": classes,
    }

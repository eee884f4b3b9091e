"""Our detection AP against COCO's own evaluator (pycocotools) on the same synthetic detections.

The detections have what real ones have: several images and classes, boxes that fit well and badly (IoU
from about 0.3 to 1, so every threshold of AP50-95 matters), confident near-duplicates, wrong-class boxes,
false alarms, labelled boxes nobody found, and a class that is predicted but never labelled (COCO leaves it
out of the mean).

With ``interpolation="coco"`` our figures must equal pycocotools'. The default interpolation (ultralytics',
behind every figure in the training log) differs from COCO's by design; :func:`average_precision` states the
bound, and the test holds it to that bound.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from training import metrics
from training.metrics import IOU_THRESHOLDS, DetectionStats, box_iou, mean_ap

COCOeval = pytest.importorskip("pycocotools.cocoeval", reason="pycocotools is in the dev extra").COCOeval
COCO = pytest.importorskip("pycocotools.coco").COCO

LABELLED_CLASSES = 3
NEVER_LABELLED = 3  # predicted now and then, never in the truth


@dataclass
class Image_:
    truth: np.ndarray  # (n, 4) x1y1x2y2
    truth_cls: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    cls: np.ndarray


def _jitter(box: np.ndarray, rng: np.random.Generator, spread: float) -> np.ndarray:
    """The box moved and resized by ``spread`` of its size (about IoU 0.95 at 0.02, 0.4 at 0.25)."""
    w, h = box[2] - box[0], box[3] - box[1]
    cx, cy = (box[0] + box[2]) / 2 + rng.normal(0, spread) * w, (box[1] + box[3]) / 2 + rng.normal(0, spread) * h
    w, h = w * np.exp(rng.normal(0, spread)), h * np.exp(rng.normal(0, spread))
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def synthetic(seed: int, misses: bool, spreads: tuple[float, ...] = (0.02, 0.06, 0.12, 0.25),
              images: int = 30) -> list[Image_]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(images):
        n = int(rng.integers(1, 6))
        xy = rng.uniform(0, 500, (n, 2))
        truth = np.concatenate([xy, xy + rng.uniform(20, 160, (n, 2))], axis=1)
        truth_cls = rng.integers(0, LABELLED_CLASSES, n)
        preds: list[tuple[np.ndarray, int]] = []
        for box, c in zip(truth, truth_cls, strict=True):
            if misses and rng.random() < 0.15:
                continue  # nobody found it
            preds.append((_jitter(box, rng, float(rng.choice(spreads))), int(c)))
            if rng.random() < 0.3:  # a near-duplicate, sometimes the better fit, scored independently
                preds.append((_jitter(box, rng, 0.05), int(c)))
            if rng.random() < 0.1:  # the right place, the wrong class
                preds.append((_jitter(box, rng, 0.03), int((c + 1) % LABELLED_CLASSES)))
        for _ in range(int(rng.integers(0, 3))):  # false alarms, some of a class never labelled
            xy = rng.uniform(0, 500, 2)
            preds.append((np.concatenate([xy, xy + rng.uniform(20, 160, 2)]), int(rng.integers(0, NEVER_LABELLED + 1))))
        boxes = np.array([b for b, _ in preds]).reshape(-1, 4)
        out.append(Image_(truth, truth_cls, boxes, rng.uniform(0.01, 1.0, len(preds)), np.array([c for _, c in preds])))
    return out


def ours(images: list[Image_], interpolation: metrics.Interpolation) -> tuple[np.ndarray, np.ndarray]:
    """AP per class and IoU threshold, and the labelled boxes per class."""
    stats = DetectionStats(NEVER_LABELLED + 1)
    for im in images:
        stats.add(im.boxes, im.scores, im.cls, im.truth, im.truth_cls)
    result = stats.per_class(interpolation)
    return result["ap"], result["support"]


def coco(images: list[Image_]) -> tuple[np.ndarray, float, float]:
    """pycocotools' AP per class and IoU threshold (NaN for a class never labelled), and its mAP50-95, mAP50."""
    def xywh(b: np.ndarray) -> list[float]:
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    annotations = [
        {"id": len(images) * 100 + i * 10 + j, "image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(b),
         "area": float((b[2] - b[0]) * (b[3] - b[1])), "iscrowd": 0}
        for i, im in enumerate(images) for j, (b, c) in enumerate(zip(im.truth, im.truth_cls, strict=True))
    ]
    results = [
        {"image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(b), "score": float(s)}
        for i, im in enumerate(images) for b, s, c in zip(im.boxes, im.scores, im.cls, strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth = COCO()
        truth.dataset = {"images": [{"id": i + 1} for i in range(len(images))], "annotations": annotations,
                         "categories": [{"id": k + 1} for k in range(NEVER_LABELLED + 1)]}
        truth.createIndex()
        evaluator = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"][:, :, :, 0, -1]  # IoU, recall point, class; all areas, 100 boxes
    ap = np.where((precision > -1).all(axis=1), precision.mean(axis=1), np.nan).T
    return ap, float(evaluator.stats[0]), float(evaluator.stats[1])


@pytest.fixture(scope="module")
def detections() -> list[Image_]:
    return synthetic(seed=7, misses=True)


def test_coco_interpolation_equals_pycocotools(detections: list[Image_]) -> None:
    ap, support = ours(detections, "coco")
    expected, map50_95, map50 = coco(detections)
    labelled = support > 0
    assert labelled.tolist() == [True] * LABELLED_CLASSES + [False]
    np.testing.assert_allclose(ap[labelled], expected[labelled], atol=1e-9)
    assert mean_ap(ap, support) == pytest.approx((map50, map50_95), abs=1e-9)
    assert 0.2 < map50_95 < map50 < 0.95  # neither trivial nor empty


def test_default_interpolation_stays_within_its_stated_bound_of_pycocotools() -> None:
    """Every labelled box found (the premise of the bound), then AP50 per class within 1 / (2 n) + 0.01."""
    images = synthetic(seed=11, misses=False, spreads=(0.02, 0.04, 0.08))
    matched = sum(int(metrics.match_predictions(im.boxes, im.scores, im.cls, im.truth, im.truth_cls)[:, 0].sum())
                  for im in images)
    assert matched == sum(len(im.truth) for im in images)
    ap, support = ours(images, "ultralytics")
    expected, _, _ = coco(images)
    for c in range(LABELLED_CLASSES):
        bound = 1 / (2 * support[c]) + 0.01
        assert abs(ap[c, 0] - expected[c, 0]) <= bound, (c, ap[c, 0], expected[c, 0], bound)


def test_when_recall_stops_short_the_default_interpolation_draws_a_line_to_recall_one() -> None:
    """Half the boxes found, perfectly ranked: COCO says 0.505 (51 of 101 recall points), ultralytics adds the
    triangle from (0.5, 1) down to (1, 0): 0.75."""
    recall, precision = np.array([0.25, 0.5]), np.array([1.0, 1.0])
    assert metrics.average_precision(recall, precision, "coco") == pytest.approx(51 / 101)
    assert metrics.average_precision(recall, precision) == pytest.approx(0.75, abs=0.005)


@contextlib.contextmanager
def matching_by_iou_alone() -> Iterator[None]:
    """The matching before COCO's order was adopted: best overlap first, whatever the scores."""
    def match(pred_boxes: np.ndarray, pred_scores: np.ndarray, pred_cls: np.ndarray, true_boxes: np.ndarray,
              true_cls: np.ndarray) -> np.ndarray:
        correct = np.zeros((len(pred_boxes), len(IOU_THRESHOLDS)), dtype=bool)
        iou = box_iou(true_boxes, pred_boxes) * (true_cls[:, None] == pred_cls[None, :])
        for k, threshold in enumerate(IOU_THRESHOLDS):
            t_idx, p_idx = np.nonzero(iou >= threshold)
            taken_t: set[int] = set()
            taken_p: set[int] = set()
            for j in np.argsort(-iou[t_idx, p_idx], kind="stable"):
                t, p = int(t_idx[j]), int(p_idx[j])
                if t not in taken_t and p not in taken_p:
                    taken_t.add(t)
                    taken_p.add(p)
                    correct[p, k] = True
        return correct

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "match_predictions", match)
        yield


def test_the_comparison_would_catch_a_matching_that_is_not_cocos(detections: list[Image_]) -> None:
    """The same data with the old matching moves AP away from pycocotools': the comparison above can fail."""
    with matching_by_iou_alone():
        ap, support = ours(detections, "coco")
    expected, _, _ = coco(detections)
    labelled = support > 0
    assert np.abs(ap[labelled] - expected[labelled]).max() > 0.005

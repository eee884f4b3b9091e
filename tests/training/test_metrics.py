"""The detection metric behind every mAP the project reports: COCO's matching and 101-point AP."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import IOU_THRESHOLDS, DetectionStats, average_precision, match_predictions

TRUTH = np.array([[0.0, 0.0, 100.0, 100.0]])
CAR = np.array([0])


def test_the_confident_prediction_claims_the_box_even_when_a_weaker_one_overlaps_it_better() -> None:
    # The confident box overlaps the labelled box at IoU 0.81, the weak near-duplicate at 1.0.
    boxes = np.array([[0.0, 0.0, 90.0, 90.0], [0.0, 0.0, 100.0, 100.0]])
    correct = match_predictions(boxes, np.array([0.9, 0.1]), np.array([0, 0]), TRUTH, CAR)
    at_50 = list(IOU_THRESHOLDS).index(0.5)
    assert correct[:, at_50].tolist() == [True, False]
    # Above the confident box's IoU it no longer matches, so the weak one takes the box there.
    at_90 = int(np.argmin(np.abs(IOU_THRESHOLDS - 0.9)))
    assert correct[:, at_90].tolist() == [False, True]


def test_the_order_of_the_rows_does_not_matter_only_the_scores_do() -> None:
    boxes = np.array([[0.0, 0.0, 100.0, 100.0], [0.0, 0.0, 90.0, 90.0]])
    correct = match_predictions(boxes, np.array([0.1, 0.9]), np.array([0, 0]), TRUTH, CAR)
    assert correct[:, 0].tolist() == [False, True]


def test_a_prediction_of_another_class_never_matches() -> None:
    correct = match_predictions(TRUTH.copy(), np.array([0.9]), np.array([1]), TRUTH, CAR)
    assert not correct.any()


def test_each_labelled_box_is_matched_once() -> None:
    truth = np.array([[0.0, 0.0, 100.0, 100.0], [200.0, 0.0, 300.0, 100.0]])
    boxes = np.array([[0.0, 0.0, 100.0, 100.0], [5.0, 0.0, 100.0, 100.0], [200.0, 0.0, 300.0, 100.0]])
    correct = match_predictions(boxes, np.array([0.9, 0.8, 0.7]), np.zeros(3, int), truth, np.array([0, 0]))
    assert correct[:, 0].tolist() == [True, False, True]


# A perfect ranking scores 0.995, not 1: the envelope drops to 0 at recall 1, and the 101-point trapezoid
# gives that last step half its width (ultralytics' validator reads the same).
PERFECT = 0.995


def test_ap_of_a_perfect_ranking_and_of_a_false_alarm_ranked_first() -> None:
    assert average_precision(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(PERFECT)
    # false alarm, then the only box: precision 0.5 at every recall level
    assert average_precision(np.array([0.0, 1.0]), np.array([0.0, 0.5])) == pytest.approx(PERFECT / 2, abs=0.01)


def test_a_near_duplicate_below_the_true_detection_does_not_cost_ap() -> None:
    """The bug this matching fixed: a weak, better-fitting duplicate used to turn the hit into a false alarm."""
    stats = DetectionStats(num_classes=1)
    boxes = np.array([[0.0, 0.0, 90.0, 90.0], [0.0, 0.0, 100.0, 100.0]])
    stats.add(boxes, np.array([0.9, 0.01]), np.array([0, 0]), TRUTH, CAR)
    ap50 = stats.per_class()["ap"][0, 0]
    assert ap50 == pytest.approx(PERFECT)

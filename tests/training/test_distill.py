"""Pseudo-label distillation: ground truth wins, teacher boxes never duplicate it, val/test stay human."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.detector import DetectorConfig, train_detector
from training.distill import DistillConfig, distill, merge_pseudo_labels, read_rows, to_xyxy
from training.metrics import box_iou

from .pretrain_fixtures import make_prepared, tiny_detector


def test_teacher_boxes_on_top_of_ground_truth_are_dropped() -> None:
    truth = [(1, 0.3, 0.3, 0.2, 0.2), (4, 0.7, 0.7, 0.2, 0.2)]
    teacher = [
        ((1, 0.3, 0.3, 0.2, 0.2), 0.99),  # the same box: a duplicate
        ((2, 0.31, 0.3, 0.2, 0.2), 0.95),  # same place, other class: still not added
        ((5, 0.1, 0.8, 0.1, 0.1), 0.9),  # a new object: added
        ((5, 0.1, 0.81, 0.1, 0.1), 0.8),  # the teacher's own near-duplicate: dropped
        ((3, 0.8, 0.2, 0.1, 0.1), 0.2),  # not confident: dropped
    ]
    merged = merge_pseudo_labels(truth, teacher, conf=0.5, gt_iou=0.3)
    assert merged == [*truth, (5, 0.1, 0.8, 0.1, 0.1)]


def test_merged_labels_keep_all_truth_and_never_overlap_it() -> None:
    rng = np.random.default_rng(0)

    def boxes(n: int) -> list[tuple[int, float, float, float, float]]:
        return [
            (int(rng.integers(0, 7)), *rng.uniform(0.2, 0.8, 2), *rng.uniform(0.05, 0.4, 2)) for _ in range(n)
        ]

    for _ in range(50):
        truth = boxes(int(rng.integers(0, 4)))
        teacher = [(b, float(rng.uniform())) for b in boxes(8) + truth]
        merged = merge_pseudo_labels(truth, teacher, conf=0.4, gt_iou=0.3)
        assert merged[: len(truth)] == truth
        added = merged[len(truth) :]
        if truth and added:
            assert box_iou(to_xyxy(added), to_xyxy(truth)).max() < 0.3
        assert len(set(added)) == len(added)


@pytest.mark.slow
def test_distill_writes_pseudo_labels_and_trains_the_student(tmp_path: Path) -> None:
    prepared = make_prepared(tmp_path)
    teacher = train_detector(
        DetectorConfig.model_validate(
            {**tiny_detector(), "prepared": prepared, "project": tmp_path / "runs", "name": "teacher"}
        )
    )
    cfg = DistillConfig.model_validate(
        {
            "prepared": prepared,
            "out": tmp_path / "distill",
            "teacher_weights": teacher / "weights" / "best.pt",
            "conf": 0.0001,
            "gt_iou": 0.3,
            "student": {**tiny_detector(), "project": str(tmp_path / "runs"), "name": "student"},
        }
    )
    run = distill(cfg, progress=False)
    assert (run / "weights" / "best.pt").is_file()
    out = tmp_path / "distill" / "prepared" / "detect"
    report = json.loads((tmp_path / "distill" / "prepared" / "report.json").read_text())["distill"]
    assert report["teacher_boxes_added"] > 0
    for label in (prepared / "detect" / "train" / "labels").glob("*.txt"):
        truth = read_rows(label)
        merged = read_rows(out / "train" / "labels" / label.name)
        assert merged[: len(truth)] == truth  # ground truth kept, first and unchanged
        added = merged[len(truth) :]
        if truth and added:
            assert box_iou(to_xyxy(added), to_xyxy(truth)).max() < 0.3
    unlabelled = sorted((out / "train" / "images").glob("u_*"))
    assert len(unlabelled) == report["unlabelled_images"]
    listing = json.loads((prepared / "photos.json").read_text())
    train_severity = {
        Path(r["file"]).name for r in listing if r["dataset"] == "severity" and r["split"] == "train"
    }
    assert all(p.name[2:] in train_severity for p in unlabelled)  # only train groups, never val or test
    for split in ("val", "test"):
        originals = sorted(p.name for p in (prepared / "detect" / split / "labels").glob("*.txt"))
        assert sorted(p.name for p in (out / split / "labels").glob("*.txt")) == originals
        assert all(
            (out / split / "labels" / n).read_text()
            == (prepared / "detect" / split / "labels" / n).read_text()
            for n in originals
        )

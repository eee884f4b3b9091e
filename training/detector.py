"""Train the damaged-part detector: an ultralytics YOLO built from its YAML, optionally seeded by ``init_from``."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from training.ultralytics_recipe import UltralyticsRecipe, train_recipe


class DetectorConfig(UltralyticsRecipe):
    """Detector recipe. Every field maps to an ultralytics train argument unless noted."""

    model: str = "yolo26n.yaml"
    name: str = "detector"
    imgsz: int = 320
    batch: int = 32
    cos_lr: bool = False
    mosaic: float = 1.0
    mixup: float = 0.0
    copy_paste: float = 0.0
    close_mosaic: int = 10
    degrees: float = 0.0
    scale: float = 0.5

    def train(self) -> Path:
        return train_detector(self)


def train_detector(cfg: DetectorConfig) -> Path:
    """Train; returns the run folder (weights/best.pt, results.csv, plots, config.yaml)."""
    data_yaml = cfg.prepared / "detect" / "data.yaml"
    run_dir = train_recipe(
        cfg, "detect", data_yaml, data_yaml, lambda: len(yaml.safe_load(data_yaml.read_text())["names"])
    )
    (run_dir / "data.json").write_text(json.dumps({"data_yaml": str(data_yaml)}))
    return run_dir

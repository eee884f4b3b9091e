"""Train the damaged-part detector: an ultralytics YOLO built from its YAML, optionally seeded by ``init_from``."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import Field

from training.ultralytics_recipe import UltralyticsRecipe, train_recipe


class DetectorConfig(UltralyticsRecipe):
    """Detector recipe. Every field maps to an ultralytics train argument unless noted."""

    model: str = "yolo26n.yaml"
    name: str = "detector"
    imgsz: int = 320
    batch: int = 32
    cos_lr: bool = False
    mosaic: float = Field(1.0, ge=0, le=1)
    mixup: float = Field(0.0, ge=0, le=1)
    copy_paste: float = Field(0.0, ge=0, le=1)
    """Probabilities of each augmentation per training image."""
    close_mosaic: int = Field(10, ge=0, description="epochs at the end trained without mosaic")
    degrees: float = 0.0
    scale: float = Field(0.5, ge=0, description="random scale gain: 0.5 is 50-150 %")

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

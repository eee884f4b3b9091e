"""Train the severity classifier (minor / moderate / severe): ultralytics classification from its YAML."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from model.findings import SEVERITY_LEVELS
from training.ultralytics_recipe import UltralyticsRecipe, train_recipe


class SeverityConfig(UltralyticsRecipe):
    """Severity recipe; fields map to ultralytics classification train arguments."""

    model: str = "yolo26n-cls.yaml"
    name: str = "severity"
    data: str = Field("severity", description="folder of the prepared data: severity (whole photos) or "
                      "severity-crops (crops around detected damage, see prepare-severity-crops) or "
                      "severity-views (each crop and its whole photo, prepare-severity-crops --with-photos)")
    imgsz: int = 224
    batch: int = 64
    dropout: float = 0.0
    erasing: float = 0.4
    auto_augment: str | None = "randaugment"

    def train(self) -> Path:
        return train_severity(self)


def train_severity(cfg: SeverityConfig) -> Path:
    """Train on ``prepared/<data>/{train,val}``; returns the run folder."""
    data = cfg.prepared / cfg.data
    return train_recipe(cfg, "classify", data.resolve(), data / "train", lambda: len(SEVERITY_LEVELS))

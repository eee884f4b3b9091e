"""Train the damaged-part detector: an ultralytics YOLO built from its YAML, optionally seeded by ``init_from``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from model.errors import ConfigError
from training.config import default_work_dir, save_resolved
from training.transfer import resolve_model_yaml, seed_checkpoint


class DetectorConfig(BaseModel):
    """Detector recipe. Every field maps to an ultralytics train argument unless noted."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("yolo26n.yaml", description="architecture YAML; never a *.pt name (that downloads)")
    prepared: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    project: Path = Field(default_factory=lambda: default_work_dir() / "runs")
    name: str = "detector"
    imgsz: int = 320
    epochs: int = 100
    time: float | None = Field(None, description="hours; overrides epochs when set")
    batch: int = 32
    workers: int = 2
    device: str | None = None
    seed: int = 0
    patience: int = 100
    optimizer: str = "auto"
    lr0: float = 0.01
    cos_lr: bool = False
    mosaic: float = 1.0
    mixup: float = 0.0
    copy_paste: float = 0.0
    close_mosaic: int = 10
    fliplr: float = 0.5
    degrees: float = 0.0
    scale: float = 0.5
    cache: bool | str = "ram"
    amp: bool = True
    extra: dict[str, Any] = Field(default_factory=dict, description="any other ultralytics argument")
    threads: int | None = Field(None, description="CPU threads for training (default: all cores); not an "
                                "ultralytics argument")
    init_from: Path | None = Field(None, description="checkpoint (read with the allowlist reader) whose tensors "
                                   "matching by name and shape seed the network")


def train_arguments(cfg: DetectorConfig, data_yaml: Path) -> dict[str, Any]:
    """The keyword arguments for ``YOLO.train``."""
    args: dict[str, Any] = cfg.model_dump(exclude={"model", "prepared", "project", "extra", "device", "time",
                                                   "init_from",
                                                   "threads"})
    args.update(data=str(data_yaml), project=str(cfg.project.resolve()), exist_ok=True, pretrained=False,
                plots=True, verbose=False)
    if cfg.time is not None:
        args["time"] = cfg.time
    if cfg.device is not None:
        args["device"] = cfg.device
    args.update(cfg.extra)
    return args


def train_detector(cfg: DetectorConfig) -> Path:
    """Train; returns the run folder (weights/best.pt, results.csv, plots, config.yaml)."""
    from training.ultralytics_env import prepare_ultralytics

    if cfg.model.endswith(".pt"):
        raise ConfigError("model must be an architecture YAML such as yolo26n.yaml: *.pt names download weights")
    data_yaml = cfg.prepared / "detect" / "data.yaml"
    if cfg.init_from is not None and not cfg.init_from.is_file():
        raise ConfigError(f"init_from {cfg.init_from} not found: run `autoquote-train pretrain` first")
    if not data_yaml.is_file():
        raise ConfigError(f"{data_yaml} not found: run `autoquote-train prepare` first")
    prepare_ultralytics(cfg.threads)
    from ultralytics import YOLO

    run_dir = cfg.project / cfg.name
    save_resolved(cfg, run_dir)
    args = train_arguments(cfg, data_yaml)
    if cfg.init_from is not None:
        nc = len(yaml.safe_load(data_yaml.read_text())["names"])
        seed, _ = seed_checkpoint(cfg.init_from, cfg.model, "detect", nc, run_dir)
        args["pretrained"] = str(seed.resolve())
    yolo = YOLO(resolve_model_yaml(cfg.model), task="detect")
    yolo.train(**args)
    (run_dir / "data.json").write_text(json.dumps({"data_yaml": str(data_yaml)}))
    return run_dir

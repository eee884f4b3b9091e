"""Train the severity classifier (minor / moderate / severe): ultralytics classification from its YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from model.errors import ConfigError
from model.findings import SEVERITY_LEVELS
from training.config import default_work_dir, save_resolved
from training.transfer import resolve_model_yaml, seed_checkpoint


class SeverityConfig(BaseModel):
    """Severity recipe; fields map to ultralytics classification train arguments."""

    model_config = ConfigDict(extra="forbid")

    model: str = "yolo26n-cls.yaml"
    prepared: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    project: Path = Field(default_factory=lambda: default_work_dir() / "runs")
    name: str = "severity"
    data: str = Field("severity", description="folder of the prepared data: severity (whole photos) or "
                      "severity-crops (crops around detected damage, see prepare-severity-crops)")
    imgsz: int = 224
    epochs: int = 100
    time: float | None = None
    batch: int = 64
    workers: int = 2
    device: str | None = None
    seed: int = 0
    patience: int = 100
    optimizer: str = "auto"
    lr0: float = 0.01
    dropout: float = 0.0
    fliplr: float = 0.5
    erasing: float = 0.4
    auto_augment: str | None = "randaugment"
    cache: bool | str = "ram"
    amp: bool = True
    extra: dict[str, Any] = Field(default_factory=dict)
    threads: int | None = Field(None, description="CPU threads for training (default: all cores); not an "
                                "ultralytics argument")
    init_from: Path | None = Field(None, description="checkpoint (read with the allowlist reader) whose tensors "
                                   "matching by name and shape seed the network")


def train_severity(cfg: SeverityConfig) -> Path:
    """Train on ``prepared/severity/{train,val}``; returns the run folder."""
    from training.ultralytics_env import prepare_ultralytics

    if cfg.model.endswith(".pt"):
        raise ConfigError("model must be an architecture YAML such as yolo26n-cls.yaml")
    data = cfg.prepared / cfg.data
    if not (data / "train").is_dir():
        raise ConfigError(f"{data}/train not found: run `autoquote-train prepare` first")
    prepare_ultralytics(cfg.threads)
    from ultralytics import YOLO

    run_dir = cfg.project / cfg.name
    save_resolved(cfg, run_dir)
    args: dict[str, Any] = cfg.model_dump(
        exclude={"model", "prepared", "project", "extra", "device", "time", "init_from",
                                                   "threads", "data"}
    )
    args.update(data=str(data.resolve()), project=str(cfg.project.resolve()), exist_ok=True,
                pretrained=False, plots=True, verbose=False)
    if cfg.time is not None:
        args["time"] = cfg.time
    if cfg.device is not None:
        args["device"] = cfg.device
    if cfg.init_from is not None:
        if not cfg.init_from.is_file():
            raise ConfigError(f"init_from {cfg.init_from} not found: give a checkpoint file")
        seed, _ = seed_checkpoint(cfg.init_from, cfg.model, "classify", len(SEVERITY_LEVELS), run_dir)
        args["pretrained"] = str(seed.resolve())
    args.update(cfg.extra)
    yolo = YOLO(resolve_model_yaml(cfg.model), task="classify")
    yolo.train(**args)
    return run_dir

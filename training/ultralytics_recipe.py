"""What the detector and severity recipes share: the ultralytics training fields and one train routine."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from model.errors import ConfigError
from model.manifest import Task
from training.config import default_work_dir, save_resolved
from training.transfer import resolve_model_yaml, seed_checkpoint

# Recipe fields that are not ultralytics train arguments, or are passed to it in another form.
NOT_TRAIN_ARGUMENTS = {"model", "prepared", "project", "extra", "device", "time", "init_from", "threads", "data"}


class UltralyticsRecipe(BaseModel):
    """A perception recipe. Every field maps to an ultralytics train argument unless noted."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="architecture YAML; never a *.pt name (that downloads)")
    prepared: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    project: Path = Field(default_factory=lambda: default_work_dir() / "runs")
    name: str
    imgsz: int
    epochs: int = 100
    time: float | None = Field(None, description="hours; overrides epochs when set")
    batch: int
    workers: int = 2
    device: str | None = None
    seed: int = 0
    patience: int = 100
    optimizer: str = "auto"
    lr0: float = 0.01
    fliplr: float = 0.5
    cache: bool | str = "ram"
    amp: bool = True
    extra: dict[str, Any] = Field(default_factory=dict, description="any other ultralytics argument")
    threads: int | None = Field(None, description="CPU threads for training (default: all cores); not an "
                                "ultralytics argument")
    init_from: Path | None = Field(None, description="checkpoint (read with the allowlist reader) whose tensors "
                                   "matching by name and shape seed the network")

    @abstractmethod
    def train(self) -> Path:
        """Train this recipe; returns the run folder."""


def train_arguments(cfg: UltralyticsRecipe, data: Path) -> dict[str, Any]:
    """The keyword arguments for ``YOLO.train``."""
    args: dict[str, Any] = cfg.model_dump(exclude=NOT_TRAIN_ARGUMENTS)
    args.update(data=str(data), project=str(cfg.project.resolve()), exist_ok=True, pretrained=False,
                plots=True, verbose=False)
    if cfg.time is not None:
        args["time"] = cfg.time
    if cfg.device is not None:
        args["device"] = cfg.device
    args.update(cfg.extra)
    return args


def check_architecture(cfg: UltralyticsRecipe) -> None:
    """Refuse a ``*.pt`` model name: ultralytics would download weights for it."""
    if cfg.model.endswith(".pt"):
        example = type(cfg).model_fields["model"].default
        raise ConfigError(f"model must be an architecture YAML such as {example}: *.pt names download weights")


def train_recipe(cfg: UltralyticsRecipe, task: Task, data: Path, needed: Path, classes: Callable[[], int]) -> Path:
    """Train ``cfg`` on ``data`` (``needed`` is what ``prepare`` writes); returns the run folder.

    With ``init_from`` the network (``classes()`` outputs) is first seeded from that checkpoint.
    """
    from training.ultralytics_env import prepare_ultralytics

    check_architecture(cfg)
    if cfg.init_from is not None and not cfg.init_from.is_file():
        raise ConfigError(f"init_from {cfg.init_from} not found: give a checkpoint file "
                          "(`autoquote-train pretrain` writes one)")
    if not needed.exists():
        raise ConfigError(f"{needed} not found: run `autoquote-train prepare` first")
    prepare_ultralytics(cfg.threads)
    from ultralytics import YOLO

    run_dir = cfg.project / cfg.name
    save_resolved(cfg, run_dir)
    args = train_arguments(cfg, data)
    if cfg.init_from is not None:
        seed, _ = seed_checkpoint(cfg.init_from, cfg.model, task, classes(), run_dir)
        args["pretrained"] = str(seed.resolve())
    YOLO(resolve_model_yaml(cfg.model), task=task).train(**args)
    return run_dir

"""Pretraining without downloaded weights: supervised on car-parts, or self-supervised (SimCLR) on car photos.

Both write an ultralytics-format checkpoint that ``init_from`` (``train-detector`` / ``train-severity``)
loads by layer name and shape: the backbone (and, for the supervised route, the neck) moves over, the
class-specific head does not.
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from model.errors import ConfigError
from training.config import default_work_dir, save_resolved
from training.data.car_parts import ssl_images
from training.data.sources import open_rgb
from training.detector import DetectorConfig
from training.ultralytics_recipe import check_architecture, train_arguments


class SupervisedPretrainConfig(DetectorConfig):
    """The detector recipe, trained on ``pretrain/car_parts`` (18 part classes), not the damage labels."""

    name: str = "pretrain-car-parts"

    def train(self) -> Path:
        return pretrain_supervised(self)


class SSLConfig(BaseModel):
    """SimCLR on the backbone of ``model``: two augmented views of each photo, NT-Xent loss."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("yolo26n.yaml", description="detector architecture whose backbone is pretrained")
    cls_model: str | None = Field("yolo26n-cls.yaml", description="classifier that shares the early layers")
    prepared: Path = Field(default_factory=lambda: default_work_dir() / "prepared")
    project: Path = Field(default_factory=lambda: default_work_dir() / "runs")
    name: str = "pretrain-ssl"
    layers: int = Field(10, description="backbone modules 0..layers-1 (yolo26: 10 = up to SPPF)")
    imgsz: int = 160
    epochs: int = 100
    time: float | None = Field(None, description="hours; stops early and fits the schedule to it")
    batch: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 5
    temperature: float = 0.2
    hidden_dim: int = 512
    proj_dim: int = 128
    crop_scale: tuple[float, float] = (0.2, 1.0)
    workers: int = 8
    device: str | None = None
    amp: bool = True
    seed: int = 0
    limit: int | None = Field(None, description="use only this many photos (smoke runs)")


def pretrain_supervised(cfg: SupervisedPretrainConfig) -> Path:
    """Train the detector architecture on car-parts from scratch; returns the run folder (weights/best.pt)."""
    from training.ultralytics_env import prepare_ultralytics

    check_architecture(cfg)
    data_yaml = cfg.prepared / "pretrain" / "car_parts" / "data.yaml"
    if not data_yaml.is_file():
        raise ConfigError(f"{data_yaml} not found: run `autoquote-train prepare-pretrain` first")
    prepare_ultralytics()
    from ultralytics import YOLO

    run_dir = cfg.project / cfg.name
    save_resolved(cfg, run_dir)
    YOLO(cfg.model, task="detect").train(**train_arguments(cfg, data_yaml))
    return run_dir


def two_view_transform(imgsz: int, crop_scale: tuple[float, float]) -> Any:
    """SimCLR augmentations (crop, flip, colour, grey, blur) to a 0-1 float tensor, as YOLO networks take."""
    import torch
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomResizedCrop(imgsz, scale=crop_scale, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            v2.RandomApply([v2.GaussianBlur(9, sigma=(0.1, 2.0))], p=0.5),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )


class TwoViews:
    """A map-style dataset of photos held in memory (resized once), yielding two augmented views."""

    def __init__(self, paths: list[Path], imgsz: int, crop_scale: tuple[float, float]) -> None:
        side = round(imgsz * 1.25)
        self.images = [open_rgb(path, side, min) for path in paths]
        self.transform = two_view_transform(imgsz, crop_scale)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        image = self.images[i]
        return self.transform(image), self.transform(image)


def build_encoder(cfg: SSLConfig) -> tuple[Any, Any, int]:
    """The detector (built from its YAML), its backbone as a Sequential, and the backbone output channels."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    detector = DetectionModel(cfg.model, nc=1, verbose=False)
    layers = list(detector.model[: cfg.layers])
    if any(getattr(m, "f", -1) != -1 for m in layers):
        raise ConfigError(f"layers={cfg.layers}: the first layers of {cfg.model} are not a plain chain")
    backbone = torch.nn.Sequential(*layers)
    with torch.no_grad():
        channels = int(backbone(torch.zeros(1, 3, 64, 64)).shape[1])
    return detector, backbone, channels


def nt_xent(z1: Any, z2: Any, temperature: float) -> Any:
    """SimCLR's normalised-temperature cross-entropy over the 2N views of a batch."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    n = len(z1)
    sim.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, targets)


def _save_checkpoints(cfg: SSLConfig, detector: Any, run_dir: Path, meta: dict[str, Any]) -> dict[str, Path]:
    """The trained backbone inside a full detector (and classifier) checkpoint that ultralytics can load."""
    import copy

    import torch
    from ultralytics.nn.tasks import ClassificationModel

    weights = run_dir / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    saved = {"detect": weights / "backbone-detect.pt"}
    ckpt = {
        "model": copy.deepcopy(detector).half(),
        "train_args": {},
        "date": datetime.now(UTC).isoformat(),
        "ssl": meta,
    }
    torch.save(ckpt, saved["detect"])
    if cfg.cls_model:
        classifier = ClassificationModel(cfg.cls_model, nc=3, verbose=False)
        source = detector.state_dict()
        target = classifier.state_dict()
        shared = {
            k: v
            for k, v in source.items()
            if k in target and v.shape == target[k].shape and int(k.split(".")[1]) < cfg.layers
        }
        classifier.load_state_dict(shared, strict=False)
        saved["classify"] = weights / "backbone-cls.pt"
        torch.save(
            {
                "model": classifier.half(),
                "train_args": {},
                "date": ckpt["date"],
                "ssl": {**meta, "transferred_tensors": len(shared)},
            },
            saved["classify"],
        )
    return saved


def pretrain_ssl(cfg: SSLConfig, progress: bool = True) -> Path:
    """SimCLR on every distinct non-test car photo; returns the run folder (weights/backbone-*.pt)."""
    from training.ultralytics_env import prepare_ultralytics

    if cfg.model.endswith(".pt") or (cfg.cls_model or "").endswith(".pt"):
        raise ConfigError("model and cls_model must be architecture YAMLs: *.pt names download weights")
    paths = ssl_images(cfg.prepared)
    random.Random(cfg.seed).shuffle(paths)
    paths = paths[: cfg.limit] if cfg.limit else paths
    if len(paths) < 2:
        raise ConfigError("self-supervised pretraining needs at least two photos")
    prepare_ultralytics()
    import torch

    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device if cfg.device else ("cuda" if torch.cuda.is_available() else "cpu"))
    run_dir = cfg.project / cfg.name
    save_resolved(cfg, run_dir)
    detector, backbone, channels = build_encoder(cfg)
    head = torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(channels, cfg.hidden_dim),
        torch.nn.BatchNorm1d(cfg.hidden_dim),
        torch.nn.ReLU(inplace=True),
        torch.nn.Linear(cfg.hidden_dim, cfg.proj_dim),
    )
    net = torch.nn.Sequential(backbone, head).to(device).train()
    batch = min(cfg.batch, len(paths))
    loader = torch.utils.data.DataLoader(
        TwoViews(paths, cfg.imgsz, cfg.crop_scale),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=cfg.workers if device.type == "cuda" else 0,
        pin_memory=device.type == "cuda",
        persistent_workers=cfg.workers > 0 and device.type == "cuda",
    )
    optim = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    use_amp = cfg.amp and device.type == "cuda"
    start = time.monotonic()
    history: list[dict[str, float]] = []
    steps = len(loader)
    for epoch in range(cfg.epochs):
        total, count = 0.0, 0
        for step, (v1, v2) in enumerate(loader):
            done = max(
                (epoch + step / steps) / cfg.epochs,
                (time.monotonic() - start) / 3600 / cfg.time if cfg.time else 0.0,
            )
            warm = min(1.0, (epoch + step / steps + 1e-3) / max(cfg.warmup_epochs, 1e-3))
            lr = cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
            for group in optim.param_groups:
                group["lr"] = lr
            v1, v2 = v1.to(device, non_blocking=True), v2.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = nt_xent(net(v1).float(), net(v2).float(), cfg.temperature)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total, count = total + float(loss.detach()), count + 1
        elapsed = time.monotonic() - start
        history.append({"epoch": epoch + 1, "loss": total / max(count, 1), "lr": lr, "seconds": elapsed})
        if progress:
            print(
                f"ssl epoch {epoch + 1}/{cfg.epochs} loss {history[-1]['loss']:.4f} "
                f"lr {lr:.2e} {elapsed:.0f}s"
            )
        if cfg.time and elapsed / 3600 >= cfg.time:
            break
    with (run_dir / "results.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["epoch", "loss", "lr", "seconds"])
        writer.writeheader()
        writer.writerows(history)
    meta = {
        "method": "simclr",
        "photos": len(paths),
        "epochs": len(history),
        "imgsz": cfg.imgsz,
        "layers": cfg.layers,
        "final_loss": history[-1]["loss"] if history else None,
    }
    saved = _save_checkpoints(cfg, detector.cpu().eval(), run_dir, meta)
    (run_dir / "ssl.json").write_text(
        json.dumps({**meta, "checkpoints": {k: v.name for k, v in saved.items()}}, indent=2)
    )
    return run_dir

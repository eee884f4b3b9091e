"""A prepared synthetic dataset with car-parts and the SSL list, shared by the pretraining tests."""

from __future__ import annotations

from pathlib import Path

from training.data.car_parts import PretrainDataConfig, prepare_pretrain
from training.data.prepare import PrepareConfig, prepare

from .synthetic_car_parts import make_car_parts
from .synthetic_data import make_shared_datasets


def make_prepared(root: Path, n_sources: int = 24, n_severity: int = 18) -> Path:
    """damaged-parts, severity and car-parts under ``root/shared``, prepared into ``root/prepared``."""
    make_shared_datasets(root / "shared", n_sources=n_sources, n_severity=n_severity)
    make_car_parts(root / "shared", n_train=12, n_test=4)
    prepare(PrepareConfig(data_root=root / "shared", out=root / "prepared"), progress=False)
    prepare_pretrain(
        PretrainDataConfig(data_root=root / "shared", prepared=root / "prepared"), progress=False
    )
    return root / "prepared"


def tiny_detector(**fields: object) -> dict[str, object]:
    """Detector config fields for a seconds-long CPU run."""
    extra = {"plots": False, **dict(fields.pop("extra", {}))}  # type: ignore[call-overload]
    return {
        "epochs": 1,
        "imgsz": 64,
        "batch": 8,
        "workers": 0,
        "cache": False,
        "amp": False,
        "extra": extra,
        **fields,
    }


def frozen(**fields: object) -> dict[str, object]:
    """Training settings under which no convolution weight moves (plain SGD at learning rate 0)."""
    extra = {"warmup_bias_lr": 0.0, "warmup_epochs": 0, **dict(fields.pop("extra", {}))}  # type: ignore[call-overload]
    return {"optimizer": "SGD", "lr0": 0.0, "extra": extra, **fields}

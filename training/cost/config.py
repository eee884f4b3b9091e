"""The cost head's run configuration (``training/configs/cost_head.yaml``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.cost.synthetic import NoiseModel

_Strict = ConfigDict(frozen=True, extra="forbid")


class SplitConfig(BaseModel):
    model_config = _Strict
    train: float = Field(gt=0, lt=1)
    calibration: float = Field(gt=0, lt=1)
    test: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        if abs(self.train + self.calibration + self.test - 1.0) > 1e-6:
            raise ValueError("split fractions must add up to 1")
        return self

    @property
    def fractions(self) -> tuple[float, float, float]:
        return (self.train, self.calibration, self.test)


class LedgerConfig(BaseModel):
    model_config = _Strict
    path: Path | None = None
    extra: tuple[Path, ...] = ()  # more ledgers beside it, e.g. `autoquote export-reviewed`'s ledger.csv
    size: int = Field(default=20000, ge=50)
    noise: NoiseModel = Field(default_factory=NoiseModel)


class HeadConfig(BaseModel):
    model_config = _Strict
    hidden: int = Field(default=16, ge=4, le=512)
    epochs: int = Field(default=40, ge=1)
    batch_size: int = Field(default=256, ge=8)
    lr: float = Field(default=3e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    opset: int = Field(default=17, ge=13)
    point_scale: float = Field(
        default=0.0, ge=0
    )  # Welsch scale pulling the point quote to the mode; 0 = median


class CostConfig(BaseModel):
    """Everything one ``train-cost`` run depends on."""

    model_config = _Strict
    version: str = "0.1.0"
    seed: int = 20260
    level: float = Field(default=0.9, gt=0, lt=1)
    quantiles: tuple[float, float, float] = (0.05, 0.5, 0.95)
    split: SplitConfig = Field(default_factory=lambda: SplitConfig(train=0.6, calibration=0.2, test=0.2))
    catalogue: Path | None = None
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    head: HeadConfig = Field(default_factory=HeadConfig)

    @model_validator(mode="after")
    def _ordered_quantiles(self) -> CostConfig:
        low, mid, high = self.quantiles
        if not 0 < low < mid < high < 1:
            raise ValueError("quantiles must be increasing and inside (0, 1)")
        return self

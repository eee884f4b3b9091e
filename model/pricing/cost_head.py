"""The learned cost head, run by onnxruntime: adjusts the catalogue total and gives a conformal interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from model.errors import InferenceError, ManifestError
from model.findings import ClaimContext, Finding, LineItem, PriceEstimate
from model.kinds import COST
from model.manifest import Manifest
from model.onnx_session import open_session
from model.pricing.catalogue import Catalogue, load_catalogue
from model.pricing.estimator import Estimator
from model.pricing.features import encode, feature_spec

HEAD_NAME = COST.manifest_name


class HeadSettings(BaseModel):
    """The ``head`` section of a cost-head manifest: what the outputs mean and what it was trained for."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    target: str = "log(paid / estimator_total)"
    output_name: str = "quantiles"
    quantiles: tuple[float, float, float]
    level: float = Field(gt=0, lt=1)
    conformal_offset: float
    features: dict[str, Any]
    catalogue_version: str
    catalogue_sha256: str = ""


def head_settings(manifest: Manifest) -> HeadSettings:
    """The head section of a manifest, validated."""
    if manifest.task != "cost":
        raise ManifestError(f"{manifest.file} is a {manifest.task!r} model, not a cost head")
    try:
        return HeadSettings.model_validate(manifest.head)
    except ValidationError as exc:
        raise ManifestError(
            f"{manifest.file}: the manifest's head section is invalid: {exc.errors()[0]['msg']}"
        ) from exc


def _scale(item: LineItem, factor: float) -> LineItem:
    money = {
        k: round(getattr(item, k) * factor, 2)
        for k in ("parts_cost", "labour_cost", "refinish_cost", "materials_cost")
    }
    return item.model_copy(update={**money, "total": round(sum(money.values()), 2)})


class CostHead:
    """Prices a claim with the catalogue estimator, then lets the ONNX head move the total and interval.

    Line items stay the catalogue's breakdown (same operations and hours) with every amount scaled by
    one factor, head total / catalogue total, so the line items always sum to the quoted total; the
    factor is stated in the estimate's notes.
    """

    name = HEAD_NAME

    def __init__(self, onnx_path: Path, catalogue: Catalogue, estimator: Estimator | None = None) -> None:
        self.path = Path(onnx_path)
        # one thread: a claim is a single tiny row, and the service's other sessions need the cores
        self._session, self.manifest = open_session(self.path, COST.name, threads=1)
        self.settings = head_settings(self.manifest)
        self.catalogue = catalogue
        self.estimator = estimator if estimator is not None else Estimator(catalogue)
        self.spec = feature_spec(catalogue)
        if self.settings.features != self.spec.as_dict():
            raise ManifestError(
                f"{self.path.name} was trained on features {self.settings.features} but catalogue "
                f"{catalogue.version} gives {self.spec.as_dict()}; retrain the head for this catalogue"
            )

    @classmethod
    def load(cls, path: str | Path | None = None, threads: int | None = None) -> CostHead:
        """The shipped head (or ``path``) on the default catalogue; always one thread (``threads`` is unused)."""
        return cls(Path(path) if path is not None else COST.shipped, load_catalogue())

    @property
    def version(self) -> str:
        return self.manifest.version

    def predict(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Raw quantiles of log(paid / catalogue total), one row per claim, sorted low to high."""
        try:
            out = self._session.run([self.settings.output_name], {self.manifest.input_name: features})[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise InferenceError(f"cost head failed on a batch of shape {features.shape}: {exc}") from exc
        result: npt.NDArray[np.float32] = np.sort(np.asarray(out, dtype=np.float32), axis=1)
        return result

    def price(self, findings: Sequence[Finding], context: ClaimContext) -> PriceEstimate:
        """Catalogue line items scaled to the head's median; the interval is the conformalised quantiles."""
        claim = self.estimator.claim(findings, context)
        base = self.estimator.price_claim(claim)
        named = replace(base, pricer=self.name, pricer_version=self.version, level=self.settings.level)
        if not claim.parts or base.total <= 0:
            return replace(named, notes=())
        low_q, mid_q, high_q = (float(v) for v in self.predict(encode(claim, base, self.spec)[None, :])[0])
        factor = math.exp(mid_q)
        items = tuple(_scale(item, factor) for item in base.line_items)
        total = round(sum(item.total for item in items), 2)
        offset = self.settings.conformal_offset
        low = min(total, round(base.total * math.exp(low_q - offset), 2))
        high = max(total, round(base.total * math.exp(high_q + offset), 2))
        note = (
            f"cost head moved the catalogue total {base.total:.2f} by {factor - 1:+.1%} "
            "(expected hidden damage "
            "and shop variance); every line item is scaled by the same factor"
        )
        return replace(named, line_items=items, total=total, low=low, high=high, notes=(note,))

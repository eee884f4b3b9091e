"""What every pricer offers, and the choice of the default one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from model.findings import ClaimContext, Finding, PriceEstimate
from model.kinds import COST
from model.manifest import load_manifest
from model.pricing.catalogue import Catalogue, load_catalogue
from model.pricing.cost_head import CostHead, head_settings
from model.pricing.estimator import Estimator

SHIPPED_HEAD = COST.shipped


class Pricer(Protocol):
    """Turns findings and a claim context into a priced estimate."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def price(self, findings: Sequence[Finding], context: ClaimContext) -> PriceEstimate: ...


def shipped_head_is_default(catalogue: Catalogue, head_path: Path = SHIPPED_HEAD) -> bool:
    """Whether the shipped head beat the estimator on its test split and was trained for this catalogue."""
    if not head_path.is_file():
        return False
    manifest = load_manifest(head_path)
    settings = head_settings(manifest)
    return bool(manifest.metrics.get("beats_estimator")) and settings.catalogue_version == catalogue.version


def load_pricer(catalogue: Catalogue | None = None, head_path: Path | str | None = None) -> Pricer:
    """The head at ``head_path``; by default the shipped head if it beat the estimator, else the estimator."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    estimator = Estimator(catalogue)
    if head_path is not None:
        return CostHead(Path(head_path), catalogue, estimator)
    if shipped_head_is_default(catalogue):
        return CostHead(SHIPPED_HEAD, catalogue, estimator)
    return estimator

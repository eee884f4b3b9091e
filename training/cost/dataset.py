"""A ledger as arrays: feature rows, catalogue totals, amounts paid and split labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from model.pricing.catalogue import Catalogue
from model.pricing.estimator import Estimator
from model.pricing.features import FeatureSpec, claim_features, feature_spec
from training.cost.ledger import Ledger, split_of


@dataclass(frozen=True)
class CostArrays:
    """One row per usable ledger claim; ``target`` is log(paid / catalogue total)."""

    features: npt.NDArray[np.float32]
    estimate: npt.NDArray[np.float64]
    paid: npt.NDArray[np.float64]
    currency: npt.NDArray[np.str_]
    split: npt.NDArray[np.str_]
    spec: FeatureSpec

    @property
    def target(self) -> npt.NDArray[np.float64]:
        return np.log(self.paid / self.estimate)

    def subset(self, name: str) -> CostArrays:
        """The rows of one split (train, calibration or test)."""
        keep = self.split == name
        return CostArrays(
            self.features[keep],
            self.estimate[keep],
            self.paid[keep],
            self.currency[keep],
            self.split[keep],
            self.spec,
        )

    def __len__(self) -> int:
        return int(self.paid.shape[0])


def featurise(ledger: Ledger, catalogue: Catalogue, fractions: tuple[float, float, float]) -> CostArrays:
    """Encode every ledger row with the runtime feature code and assign its split."""
    estimator = Estimator(catalogue)
    spec = feature_spec(catalogue)
    rows, totals = [], []
    for row in ledger.rows:
        x, estimate = claim_features(estimator, row.to_findings(), row.context(), spec)
        rows.append(x)
        totals.append(estimate.total)
    return CostArrays(
        features=np.stack(rows).astype(np.float32),
        estimate=np.asarray(totals, dtype=np.float64),
        paid=np.asarray([r.paid for r in ledger.rows], dtype=np.float64),
        currency=np.asarray([r.currency for r in ledger.rows]),
        split=np.asarray([split_of(r.claim_id, fractions) for r in ledger.rows]),
        spec=spec,
    )

"""Split-conformal calibration: CQR for the head, a one-sided pair of bands for the estimator."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def _order_stat(values: Array, k: int) -> float:
    """The k-th smallest value (1-based), -inf below 1 and +inf beyond n."""
    if k < 1:
        return -math.inf
    if k > values.size:
        return math.inf
    return float(np.sort(values)[k - 1])


def cqr_offset(low: Array, high: Array, y: Array, level: float) -> float:
    """Conformalised quantile regression: widen [low, high] by this much to cover ``level`` of new rows."""
    scores = np.maximum(low - y, y - high)
    return _order_stat(scores, math.ceil((scores.size + 1) * level))


def band(residual: Array, level: float) -> tuple[float, float]:
    """A fixed band [lo, hi] on residuals: each side a one-sided conformal bound at (1 - level) / 2."""
    alpha = (1.0 - level) / 2.0
    n = residual.size
    lo = _order_stat(residual, math.floor((n + 1) * alpha))
    hi = _order_stat(residual, math.ceil((n + 1) * (1.0 - alpha)))
    return lo, hi

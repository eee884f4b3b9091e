"""Quote accuracy and interval calibration of the head and the estimator on a held-out ledger split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.offline import configure_offline
from training.cost.conformal import band, cqr_offset
from training.cost.dataset import CostArrays

Array = npt.NDArray[np.float64]
CURVE_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
COVERAGE_TOLERANCE = 0.02


def quote_metrics(
    point: Array, low: Array, high: Array, paid: Array, currency: npt.NDArray[np.str_]
) -> dict[str, Any]:
    """MAE per currency, MdAPE, share within 10% and 20%, interval coverage and mean relative width."""
    ape = np.abs(point - paid) / paid
    return {
        "n": int(paid.size),
        "mae": {
            str(c): round(float(np.mean(np.abs(point - paid)[currency == c])), 2) for c in np.unique(currency)
        },
        "mdape": round(float(np.median(ape)), 4),
        "within_10": round(float(np.mean(ape <= 0.10)), 4),
        "within_20": round(float(np.mean(ape <= 0.20)), 4),
        "coverage": round(float(np.mean((low <= paid) & (paid <= high))), 4),
        "mean_relative_width": round(float(np.mean((high - low) / point)), 4),
    }


def head_quote(
    estimate: Array, quantiles: npt.NDArray[np.float32], offset: float
) -> tuple[Array, Array, Array]:
    """Point, low and high amounts from the head's log-ratio quantiles and its conformal offset."""
    q = np.sort(quantiles.astype(np.float64), axis=1)
    return (
        estimate * np.exp(q[:, 1]),
        estimate * np.exp(q[:, 0] - offset),
        estimate * np.exp(q[:, 2] + offset),
    )


def estimator_quote(estimate: Array, lo: float, hi: float) -> tuple[Array, Array, Array]:
    """Point, low and high amounts of the estimator with a fixed band on the log total."""
    return estimate, estimate * np.exp(lo), estimate * np.exp(hi)


def coverage_curve(
    cal: CostArrays,
    test: CostArrays,
    q_cal: npt.NDArray[np.float32],
    q_test: npt.NDArray[np.float32],
    levels: Sequence[float] = CURVE_LEVELS,
) -> dict[str, list[float]]:
    """Test coverage of both pricers' intervals, each calibrated on ``cal`` at every nominal level."""
    head, estimator = [], []
    for level in levels:
        offset = cqr_offset(q_cal[:, 0].astype(np.float64), q_cal[:, 2].astype(np.float64), cal.target, level)
        _, low, high = head_quote(test.estimate, q_test, offset)
        head.append(round(float(np.mean((low <= test.paid) & (test.paid <= high))), 4))
        lo, hi = band(cal.target, level)
        _, low, high = estimator_quote(test.estimate, lo, hi)
        estimator.append(round(float(np.mean((low <= test.paid) & (test.paid <= high))), 4))
    return {"levels": list(levels), "cost-head": head, "estimator": estimator}


def plot_calibration(curve: dict[str, list[float]], path: Path, title: str) -> Path:
    """Empirical against nominal coverage for both pricers, with the diagonal, as a PNG."""
    configure_offline()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot([0.4, 1.0], [0.4, 1.0], color="grey", linestyle="--", label="ideal")
    for name, marker in (("cost-head", "o"), ("estimator", "s")):
        ax.plot(curve["levels"], curve[name], marker=marker, label=name)
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("coverage on the test split")
    ax.set_title(title, fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def head_beats_estimator(head: dict[str, Any], estimator: dict[str, Any], level: float) -> bool:
    """Lower MdAPE, more quotes within 20%, and coverage no more than 2 points under nominal."""
    return bool(
        head["mdape"] < estimator["mdape"]
        and head["within_20"] > estimator["within_20"]
        and head["coverage"] >= level - COVERAGE_TOLERANCE
    )


def compare(
    cal: CostArrays,
    test: CostArrays,
    q_cal: npt.NDArray[np.float32],
    q_test: npt.NDArray[np.float32],
    offset: float,
    level: float,
) -> dict[str, Any]:
    """Head and estimator side by side on ``test``; the estimator's band is calibrated on ``cal``."""
    head = quote_metrics(*head_quote(test.estimate, q_test, offset), test.paid, test.currency)
    lo, hi = band(cal.target, level)
    estimator = quote_metrics(*estimator_quote(test.estimate, lo, hi), test.paid, test.currency)
    estimator["band"] = {"log_low": round(lo, 4), "log_high": round(hi, 4)}
    head["conformal_offset"] = round(offset, 6)
    beats = head_beats_estimator(head, estimator, level)
    verdict = (
        "the cost head beats the catalogue estimator on this split and is the default pricer"
        if beats
        else "the cost head does NOT beat the catalogue estimator on this split; "
        "the estimator stays the default"
    )
    return {
        "split": "test",
        "level": level,
        "cost-head": head,
        "estimator": estimator,
        "beats_estimator": beats,
        "verdict": verdict,
        "calibration": coverage_curve(cal, test, q_cal, q_test),
    }

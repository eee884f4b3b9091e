"""Thresholds that settle the most photos while the share of wrong settlements stays provably under a target.

The guarantee is the Learn-then-Test one (Angelopoulos et al., 2021) with fixed-sequence testing:

* For a threshold set θ, the photos it settles are a sample from the photos it would settle in service;
  among ``m`` settled, ``k`` priced the wrong parts. The one-sided Clopper–Pearson upper bound on the
  error share at confidence ``1 - δ`` is at most the target ``α`` exactly when the binomial p-value
  ``P(Bin(m, α) ≤ k)`` is at most ``δ``; a step whose bound is under the target is *certified*.
* Each search path is a sequence of threshold sets fixed before any label is read, from strict to loose.
  The walk certifies steps in order and stops at the first step that fails, so the family-wise chance of
  certifying any threshold set whose true error is above the target is at most ``δ`` per path; with
  ``J`` paths each is walked at ``δ / J`` (Bonferroni), so the whole search holds at ``δ``.
* Steps that settle fewer photos than could ever be certified (fewer than ``m0``, the smallest ``m`` whose
  bound with no error is under the target) are passed over rather than ending the walk: whether a step
  settles a photo depends only on the models' outputs, never on the labels, and under the premise that
  makes the ordering sensible (stricter thresholds are not riskier) passing over them only makes the
  test more conservative.
* The chosen thresholds are the certified step that settles the most photos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

# The policy thresholds the search sets, and which way is stricter.
STRICTER_WHEN_HIGHER = {
    "min_detection_score": True,
    "min_severity_confidence": True,
    "severe_probability": False,
    "max_relative_width": False,
}
THRESHOLD_NAMES = tuple(STRICTER_WHEN_HIGHER)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(Bin(n, p) <= k), summed in log space so large n neither overflows nor underflows."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    logs = [base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper bound on a binomial proportion: the Beta(k+1, n-k) quantile.

    Found by bisection on ``P(Bin(n, p) <= k) = 1 - confidence``, which is decreasing in ``p``; exact to
    about 1e-12. With ``k = 0`` it equals ``1 - (1 - confidence) ** (1 / n)``.
    """
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0 or k == n:
        return 1.0
    delta = 1.0 - confidence
    lo, hi = k / n, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if binomial_cdf(k, n, mid) > delta:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return hi


def min_certifiable(target: float, confidence: float) -> int:
    """The fewest settled photos whose bound can be under ``target`` (with no wrong one)."""
    return max(1, math.ceil(math.log(1.0 - confidence) / math.log(1.0 - target) - 1e-12))


@dataclass(frozen=True)
class Tally:
    """Photos, how many of them settle alone, and how many of those were priced for the wrong parts."""

    n_photos: int
    n_settled: int
    n_wrong: int

    @property
    def settle_share(self) -> float:
        return self.n_settled / self.n_photos if self.n_photos else 0.0

    @property
    def error_rate(self) -> float | None:
        return self.n_wrong / self.n_settled if self.n_settled else None


@dataclass(frozen=True)
class Outcomes:
    """Per photo: could it settle at all, its weakest finding on each threshold, and were its priced parts wrong.

    ``eligible`` is the decision with the loosest thresholds (no failure, usable photo, damage found, under
    the small-claim limit); the other arrays are what each threshold compares against.
    """

    eligible: npt.NDArray[np.bool_]
    min_score: npt.NDArray[np.float64]
    min_confidence: npt.NDArray[np.float64]
    max_severe: npt.NDArray[np.float64]
    relative_width: npt.NDArray[np.float64]
    wrong: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.eligible)

    def settled(self, t: dict[str, float]) -> npt.NDArray[np.bool_]:
        """Which photos settle under thresholds ``t``, exactly as ``model.decision.decide`` rules."""
        mask: npt.NDArray[np.bool_] = (
            self.eligible
            & (self.min_score >= t["min_detection_score"])
            & (self.min_confidence >= t["min_severity_confidence"])
            & (self.max_severe < t["severe_probability"])
            & (self.relative_width <= t["max_relative_width"])
        )
        return mask

    def tally(self, t: dict[str, float]) -> Tally:
        """How many photos settle under thresholds ``t``, and how many of those wrongly."""
        mask = self.settled(t)
        return Tally(len(self), int(mask.sum()), int((mask & self.wrong).sum()))


@dataclass(frozen=True)
class Step(Tally):
    """One threshold set on a path and what it did on the calibration photos."""

    path: int
    index: int
    thresholds: dict[str, float]
    bound: float  # Clopper–Pearson upper bound at the path's level
    certified: bool
    tested: bool  # False when passed over (too few settled to certify) or after the walk stopped


@dataclass(frozen=True)
class SearchResult:
    """Every step evaluated, the chosen one (None when nothing was certified) and the test's settings."""

    steps: tuple[Step, ...]
    chosen: Step | None
    target: float
    confidence: float
    level_per_path: float
    paths: int


def interpolate_path(strict: dict[str, float], loose: dict[str, float], steps: int) -> list[dict[str, float]]:
    """``steps`` threshold sets from ``strict`` to ``loose``, each threshold moved linearly."""
    if steps < 2:
        raise ValueError("a path needs at least 2 steps")
    names = set(strict) | set(loose)
    if names != set(THRESHOLD_NAMES):
        raise ValueError(f"a path sets exactly {', '.join(THRESHOLD_NAMES)}")
    return [
        {name: strict[name] + (loose[name] - strict[name]) * i / (steps - 1) for name in THRESHOLD_NAMES}
        for i in range(steps)
    ]


def fixed_sequence_search(
    outcomes: Outcomes,
    paths: Sequence[Sequence[dict[str, float]]],
    target: float,
    confidence: float = 0.95,
    min_settled: int = 0,
) -> SearchResult:
    """Walk each path from strict to loose, certify while the bound stays under ``target``; pick the most settled.

    Testing starts at the first step that settles at least ``max(m0, min_settled)`` photos: a later start
    tolerates an unlucky error among the first few photos, at the price of never certifying fewer.
    """
    if not 0 < target < 1 or not 0 < confidence < 1:
        raise ValueError("target and confidence must lie strictly between 0 and 1")
    if not paths:
        raise ValueError("at least one search path is needed")
    level = 1.0 - (1.0 - confidence) / len(paths)
    m0 = max(min_certifiable(target, level), min_settled)
    steps: list[Step] = []
    for j, path in enumerate(paths):
        walking = True
        for i, t in enumerate(path):
            tally = outcomes.tally(t)
            bound = clopper_pearson_upper(tally.n_wrong, tally.n_settled, level)
            tested = walking and tally.n_settled >= m0
            certified = tested and bound <= target
            if tested and not certified:
                walking = False
            steps.append(Step(**asdict(tally), path=j, index=i, thresholds=dict(t), bound=bound,
                              certified=certified, tested=tested))
    certified_steps = [s for s in steps if s.certified]
    chosen = max(certified_steps, key=lambda s: (s.n_settled, -s.n_wrong, -s.path, -s.index), default=None)
    return SearchResult(tuple(steps), chosen, target, confidence, level, len(paths))

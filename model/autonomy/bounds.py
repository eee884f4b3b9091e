"""Anytime-valid bounds on a step's wrong rate: when autonomy may be switched on, and when it must be revoked.

Both are betting confidence sequences in the sense of Waudby-Smith and Ramdas (2023, "Estimating means of
bounded random variables by betting", JRSS-B). Each graded claim is a Bernoulli outcome ``x`` (1: wrong).
For a candidate rate ``m``, a gambler starts with wealth 1 and before each outcome stakes a fraction
``lambda`` chosen from the past only; the outcome multiplies the wealth by ``1 - lambda (x - m)`` (betting that
the rate is below ``m``) or ``1 + lambda (x - m)`` (above). If the rate really is ``m`` or worse for the gambler,
the wealth is a non-negative supermartingale, and Ville's inequality bounds the chance that it *ever* reaches
``1 / alpha`` by ``alpha``. Ever, not at a planned sample size: that is why the bound may be read after every
review, by anyone, as often as they like, and acted on the moment it crosses.

**Switching on** (``upper_bound``). The stake against rate ``m`` is the Bayes-predictive bet of a mixture
prior over the alternative ``q = m u`` below ``m``, with ``u`` drawn from ``GRANT_PRIOR`` (0.7 on ``u = 0``, a
step that never errs; 0.3 spread over ``u = 0.1 .. 0.8``). The wealth of that betting strategy is the
mixture likelihood ratio ``K(k, n; m) = sum_u w_u u^k ((1 - m u) / (1 - m))^(n - k)`` of ``k`` wrong among ``n``
(Robbins' method of mixtures), so it depends on the counts only, not on the order of the reviews. ``K`` grows
with ``m`` and falls with ``k``; the upper bound is ``inf {m : K(k, n; m) >= 1 / alpha}``, found by bisection.
Two consequences, both tested: the bound is never below the exact fixed-sample Clopper-Pearson bound at the
same confidence (at fixed ``n`` the rule rejects ``k <= c`` with probability at most ``alpha``), and at 5 % and
95 % it is reached after 63 graded claims with no error, 162 with one, 202 with two (the fixed-sample floors,
valid only when looked at once, are 59, 93 and 124). The prior's weight on a perfect step makes the first grant
early; its spread lets a step that errs (below about 4.5 % for a 5 % target) still get there.

**Revoking** (``revoke_log_wealth``, ``lower_bound``). The stake on "the rate is above the target" is the bet
of an alternative at twice the target, placed only while the recent wrong rate (weights decaying by
``REVOKE_MEMORY`` per claim, about the last 50 graded claims) is above the target, and nothing otherwise.
Months of good evidence therefore cost no wealth, and a change for the worse is bet on within a few dozen
claims. The stakes are predictable, so a step whose rate stays at or below the target is revoked with
probability at most ``alpha``, ever.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from model.errors import InputError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# (u, weight): the mixture over alternatives q = m * u below the tested rate m. Chosen before any evidence;
# benchmarks/bench_autonomy.py shows what it gives.
GRANT_PRIOR: tuple[tuple[float, float], ...] = ((0.0, 0.7),) + tuple((u / 10, 0.3 / 8) for u in range(1, 9))
REVOKE_MEMORY = 0.98
REVOKE_ALTERNATIVE = 2.0  # the bet is that the rate is this many times the target
_REVOKE_CAP = 0.5  # a revocation stake never risks more than this share of the wealth on one claim
_BISECTIONS = 60
_CHUNK = 256  # the recent rate is summed in blocks so that memory ** -i never overflows


def _threshold(confidence: float) -> float:
    return math.log(1.0 / (1.0 - confidence))


def grant_log_wealth(wrong: npt.ArrayLike, graded: npt.ArrayLike, rate: npt.ArrayLike) -> FloatArray:
    """``log K(k, n; m)``: the log wealth against "the wrong rate is at least ``rate``", broadcast over arrays.

    ``wrong`` may be fractional (``more_needed`` follows the expected path); the ``u = 0`` component counts
    only when it is exactly 0.
    """
    k = np.asarray(wrong, dtype=np.float64)[..., None]
    n = np.asarray(graded, dtype=np.float64)[..., None]
    m = np.asarray(rate, dtype=np.float64)[..., None]
    u = np.array([p[0] for p in GRANT_PRIOR])
    w = np.array([p[1] for p in GRANT_PRIOR])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_u = np.log(u)
        log_like = np.where(k == 0, 0.0, k * log_u)
    terms = np.log(w) + log_like + (n - k) * (np.log1p(-m * u) - np.log1p(-m))
    top = terms.max(axis=-1)  # finite: the u > 0 terms always are
    total: FloatArray = top + np.log(np.exp(terms - top[..., None]).sum(axis=-1))
    return total


def grant_reached(wrong: npt.ArrayLike, graded: npt.ArrayLike, target: float, confidence: float) -> BoolArray:
    """Whether the upper bound at ``confidence`` is at or below ``target`` after ``wrong`` of ``graded``."""
    reached: BoolArray = grant_log_wealth(wrong, graded, target) >= _threshold(confidence)
    return reached


def upper_bound(wrong: int, graded: int, confidence: float) -> float:
    """The smallest rate the evidence does not rule out from above: 1.0 with no evidence."""
    _check_counts(wrong, graded)
    if graded == wrong:
        return 1.0
    threshold = _threshold(confidence)
    lo, hi = 0.0, 1.0 - 1e-12
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if grant_log_wealth(wrong, graded, mid) >= threshold:
            hi = mid
        else:
            lo = mid
    return hi  # rejected end of the bracket: never below the exact crossing


def more_needed(wrong: int, graded: int, target: float, confidence: float, cap: int = 1 << 20) -> int | None:
    """More graded claims until the upper bound reaches ``target``, if they err at the current rate.

    The continuation is the expected one: after ``j`` more, ``wrong + j * wrong / graded`` of ``graded + j``
    (no error at all when nothing is graded yet or nothing was wrong). Along it each term of ``log K`` is
    linear in ``j``, so ``log K`` is convex and, once over the threshold, stays over: bisection finds the
    first ``j``. ``None``: not within ``cap`` claims (the current rate is too close to the target, or above).
    """
    _check_counts(wrong, graded)
    rate = wrong / graded if graded else 0.0

    def reached(j: int) -> bool:
        return bool(grant_reached(wrong + rate * j, graded + j, target, confidence))

    if reached(0):
        return 0
    if not reached(cap):
        return None
    lo, hi = 0, cap  # not reached at lo, reached at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reached(mid) else (mid, hi)
    return hi


def revoke_stakes(wrong: npt.ArrayLike, target: float) -> FloatArray:
    """The stake before each outcome (along the last axis) on "the rate is above ``target``": 0 or one value.

    Predictable: the stake before outcome ``t`` looks at outcomes ``0 .. t-1`` only.
    """
    x = np.asarray(wrong, dtype=np.float64)
    gamma = REVOKE_MEMORY
    recent_sum = np.zeros(x.shape)
    carry = np.zeros(x.shape[:-1])
    for start in range(0, x.shape[-1], _CHUNK):
        block = x[..., start : start + _CHUNK]
        i = np.arange(block.shape[-1], dtype=np.float64)
        # sum_{s<i} gamma^(i-1-s) x_s within the block, plus what came before it decayed by gamma^i
        scaled = np.cumsum(block * gamma**-i, axis=-1) - block * gamma**-i
        recent_sum[..., start : start + _CHUNK] = gamma ** (i - 1) * scaled + gamma**i * carry[..., None]
        last = block.shape[-1]
        carry = gamma**last * carry + np.sum(block * gamma ** (last - 1 - i), axis=-1)
    t = np.arange(x.shape[-1], dtype=np.float64)
    weight = (1.0 - gamma**t) / (1.0 - gamma)  # sum of the weights so far: 0 before the first outcome
    above = recent_sum > target * weight
    alternative = min(REVOKE_ALTERNATIVE * target, (1.0 + target) / 2)
    stake = (alternative - target) / (target * (1.0 - target))
    stakes: FloatArray = np.where(above, stake, 0.0)
    return stakes


def revoke_log_wealth(wrong: npt.ArrayLike, target: float, rate: float | None = None) -> FloatArray:
    """Log wealth after each outcome against "the rate is at most ``rate``" (default: the target)."""
    x = np.asarray(wrong, dtype=np.float64)
    m = target if rate is None else rate
    stakes = np.minimum(revoke_stakes(x, target), _REVOKE_CAP / m)
    log_wealth: FloatArray = np.cumsum(np.log1p(stakes * (x - m)), axis=-1)
    return log_wealth


def revoke_reached(wrong: npt.ArrayLike, target: float, confidence: float) -> BoolArray:
    """After each outcome: has the evidence shown the rate above ``target`` (at any time so far)?"""
    reached: BoolArray = np.maximum.accumulate(revoke_log_wealth(wrong, target), axis=-1) >= _threshold(confidence)
    return reached


def lower_bound(wrong: npt.ArrayLike, target: float, confidence: float) -> float:
    """The largest rate the evidence rules out from below now (0.0 when it rules out none).

    The stakes are those placed for ``target``, capped for other rates; the wealth then falls as the rate
    tested rises, so bisection finds the crossing.
    """
    x = np.asarray(wrong, dtype=np.float64)
    if x.size == 0:
        return 0.0
    threshold = _threshold(confidence)
    stakes = revoke_stakes(x, target)

    def rejected(m: float) -> bool:
        return float(np.sum(np.log1p(np.minimum(stakes, _REVOKE_CAP / m) * (x - m)))) >= threshold

    lo, hi = 1e-12, 1.0 - 1e-12
    if not rejected(lo):
        return 0.0
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if rejected(mid):
            lo = mid
        else:
            hi = mid
    return lo  # rejected end of the bracket: never above the exact crossing


def _check_counts(wrong: int, graded: int) -> None:
    if not 0 <= wrong <= graded:
        raise InputError(f"need 0 <= wrong <= graded, got wrong={wrong}, graded={graded}")

"""The error bound and the threshold search behind `autoquote-train calibrate`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.risk_control import (
    Outcomes,
    binomial_cdf,
    clopper_pearson_upper,
    fixed_sequence_search,
    interpolate_path,
    min_certifiable,
)

# scipy.stats.beta.ppf(confidence, k + 1, n - k), computed once elsewhere (scipy is not a dependency).
KNOWN = [
    (1, 10, 0.95, 0.39416330243650466),
    (5, 100, 0.95, 0.1022533776432745),
    (3, 61, 0.95, 0.12223140113067367),
    (12, 200, 0.975, 0.1024618313083245),
]


@pytest.mark.parametrize("k,n,confidence,expected", KNOWN)
def test_clopper_pearson_matches_the_beta_quantile(k: int, n: int, confidence: float, expected: float) -> None:
    assert clopper_pearson_upper(k, n, confidence) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("n", [1, 7, 59, 300])
def test_clopper_pearson_closed_forms(n: int) -> None:
    assert clopper_pearson_upper(0, n, 0.95) == pytest.approx(1 - 0.05 ** (1 / n), abs=1e-10)
    assert clopper_pearson_upper(n - 1, n, 0.95) == pytest.approx(0.95 ** (1 / n), abs=1e-10)
    assert clopper_pearson_upper(n, n) == 1.0
    assert clopper_pearson_upper(0, 0) == 1.0


def test_bound_is_above_the_point_estimate_and_shrinks_with_n() -> None:
    bounds = [clopper_pearson_upper(n // 20, n) for n in (40, 200, 2000)]
    assert all(b > 0.05 for b in bounds) and bounds[0] > bounds[1] > bounds[2]
    with pytest.raises(ValueError):
        clopper_pearson_upper(5, 4)


def test_binomial_cdf_against_the_direct_sum() -> None:
    n, p = 30, 0.17
    for k in range(n + 1):
        direct = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
        assert binomial_cdf(k, n, p) == pytest.approx(direct, rel=1e-9, abs=1e-15)


def test_fewest_photos_that_can_prove_five_percent() -> None:
    assert min_certifiable(0.05, 0.95) == 59  # 0.95**59 < 0.05 <= 0.95**58
    assert clopper_pearson_upper(0, 59) <= 0.05 < clopper_pearson_upper(0, 58)


def synthetic(n: int, seed: int, risk: float | None = None) -> Outcomes:
    """Photos whose chance of wrong parts falls with the detector score (or is ``risk`` everywhere)."""
    rng = np.random.default_rng(seed)
    score = rng.uniform(0.25, 1.0, n)
    p_wrong = np.full(n, risk) if risk is not None else 0.5 * ((1 - score) / 0.75) ** 3
    return Outcomes(
        eligible=rng.uniform(size=n) < 0.9,
        min_score=score,
        min_confidence=rng.uniform(0.4, 1.0, n),
        max_severe=rng.uniform(0.0, 0.5, n),
        relative_width=rng.uniform(0.8, 1.6, n),
        wrong=rng.uniform(size=n) < p_wrong,
    )


def path(steps: int = 36) -> list[dict[str, float]]:
    strict = {"min_detection_score": 0.95, "min_severity_confidence": 0.6, "severe_probability": 0.3,
              "max_relative_width": 1.2}
    loose = {"min_detection_score": 0.25, "min_severity_confidence": 0.45, "severe_probability": 0.45,
             "max_relative_width": 1.5}
    return interpolate_path(strict, loose, steps)


@pytest.mark.parametrize("seed", range(5))
def test_search_picks_the_most_settled_step_whose_bound_meets_the_target(seed: int) -> None:
    outcomes = synthetic(2000, seed)
    result = fixed_sequence_search(outcomes, [path()], target=0.05)
    assert result.chosen is not None and result.chosen.bound <= 0.05
    assert all(s.bound <= 0.05 for s in result.steps if s.certified)
    # fixed sequence: once a tested step fails, nothing later on the path is certified
    first_fail = min((s.index for s in result.steps if s.tested and not s.certified), default=len(result.steps))
    assert all(s.index < first_fail for s in result.steps if s.certified)
    best = max(s.n_settled for s in result.steps if s.index < first_fail and s.bound <= 0.05 and s.tested)
    assert result.chosen.n_settled == best
    # the point estimate at the chosen step is under the bound, and looser steps would have been riskier
    assert result.chosen.error_rate is not None and result.chosen.error_rate < result.chosen.bound
    loosest = result.steps[-1]
    assert loosest.error_rate is not None and loosest.error_rate > 0.05


def test_nothing_is_chosen_when_every_threshold_errs_too_often() -> None:
    result = fixed_sequence_search(synthetic(2000, 1, risk=0.2), [path()], target=0.05)
    assert result.chosen is None and not any(s.certified for s in result.steps)


def test_false_certification_rate_stays_under_one_minus_confidence() -> None:
    """Every threshold has a true error of 6% > 5%: certifying any of them is a mistake, allowed 5% of runs."""
    runs = 200
    wrong_runs = sum(
        fixed_sequence_search(synthetic(600, 100 + i, risk=0.06), [path(8)], target=0.05).chosen is not None
        for i in range(runs)
    )
    assert wrong_runs / runs <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs)


def test_several_paths_split_the_confidence() -> None:
    outcomes = synthetic(2000, 3)
    one = fixed_sequence_search(outcomes, [path()], target=0.05)
    two = fixed_sequence_search(outcomes, [path(), path(12)], target=0.05)
    assert two.level_per_path == pytest.approx(0.975) and one.level_per_path == pytest.approx(0.95)
    assert two.chosen is not None and two.chosen.bound <= 0.05
    assert two.chosen.bound == pytest.approx(clopper_pearson_upper(two.chosen.n_wrong, two.chosen.n_settled, 0.975))

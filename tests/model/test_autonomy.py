"""Autonomy earned from adjusters: grading, anytime-valid bounds, path states, draws, shadow, partial release."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from model.autonomy import (
    AdjusterDecision,
    GradedClaim,
    Proposal,
    StepShadow,
    audit_draw,
    blind_draw,
    evaluate_path,
    grade,
    partial_evidence,
    settle_alone,
    shadow_steps,
    split_claim,
    step_policy,
    upper_bound,
)
from model.autonomy.bounds import (
    GRANT_PRIOR,
    grant_log_wealth,
    grant_reached,
    lower_bound,
    more_needed,
    revoke_reached,
    revoke_stakes,
)
from model.autonomy.draws import Draw
from model.decision import Calibration, DecisionInput, Policy, Reason, available_policies, decide, load_policy
from model.errors import ConfigError, InputError, PolicyError
from model.findings import Finding, LineItem, PriceEstimate
from tests.conftest import TEST_POLICIES_DIR
from training.risk_control import clopper_pearson_upper

PATH = [
    {"name": f"score-{score}", "min_detection_score": score, "min_severity_confidence": confidence,
     "severe_probability": severe, "small_claim_limit": limit}
    for score, confidence, severe, limit in [(0.9, 0.7, 0.3, 1000.0), (0.8, 0.65, 0.3, 1500.0),
                                             (0.7, 0.6, 0.35, 2000.0), (0.6, 0.55, 0.4, 2000.0)]
]
UNPROVEN = Calibration(
    models={"detector": "d@1"}, proven=False, target=0.05, confidence=0.95, settle_share=0.0, n_photos=239,
    n_settled=0, n_wrong=0, split="val", method="test", wrong_means="test", calibrated_at="2026-01-01",
)
# the hand-set CN policy with the shipped policies' autonomy settings and a lab calibration that proved nothing
CN = Policy.model_validate(
    {**load_policy("CN", TEST_POLICIES_DIR).model_dump(), "grade_tolerance_amount": 200.0, "threshold_path": PATH,
     "calibration": UNPROVEN.model_dump()}
)
SECRET = b"0123456789abcdef-test-secret"


def test_grant_prior_weights_sum_to_one() -> None:
    assert sum(w for _, w in GRANT_PRIOR) == pytest.approx(1.0)


# --- grading -----------------------------------------------------------------------------------------------


def proposal(amount: float = 1000.0, parts: tuple[str, ...] = ("Bumper",)) -> Proposal:
    share = amount / len(parts)
    return Proposal({p: share for p in parts}, amount, "CNY")


def final(amount: float = 1000.0, parts: tuple[str, ...] = ("Bumper",), action: str = "edit") -> AdjusterDecision:
    share = amount / len(parts)
    return AdjusterDecision(action, {p: share for p in parts}, amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "proposed,final_amount,wrong,overpay,underpay",
    [
        (1000.0, 1000.0, False, False, False),
        (1190.0, 1000.0, False, False, False),  # 190 over: inside max(100, 200)
        (1210.0, 1000.0, True, True, False),  # 210 over: outside
        (810.0, 1000.0, False, False, False),
        (790.0, 1000.0, True, False, True),  # customer harm
        (10900.0, 10000.0, False, False, False),  # 900 over 10,000: inside the 10% ratio (1,000)
        (11100.0, 10000.0, True, True, False),
    ],
)
def test_amount_tolerance_is_the_larger_of_ratio_and_amount(
    proposed: float, final_amount: float, wrong: bool, overpay: bool, underpay: bool
) -> None:
    g = grade(proposal(proposed), final(final_amount), CN, blind=True)
    assert (g.wrong, g.overpay, g.underpay) == (wrong, overpay, underpay)
    assert g.tolerance == max(0.1 * final_amount, 200.0)


def test_parts_are_compared_case_insensitively_and_a_missed_part_is_wrong() -> None:
    same = grade(proposal(parts=("Bumper", "Door")), final(parts=(" bumper", "DOOR")), CN, blind=False)
    assert not same.wrong and not same.parts_differ and not same.blind
    missed = grade(proposal(parts=("Bumper",)), final(parts=("Bumper", "Fender")), CN, blind=True)
    assert missed.wrong and not missed.overpay and not missed.underpay
    assert missed.missing_parts == ("fender",) and missed.extra_parts == () and missed.blind


def test_a_rejected_claim_the_model_would_pay_is_wrong_and_overpays_whatever_the_tolerance() -> None:
    g = grade(proposal(150.0), AdjusterDecision.rejected(), CN, blind=True)
    assert g.wrong and g.overpay and g.action == "reject" and g.final_amount == 0.0
    assert grade(proposal(), final(action="approve"), CN, blind=False).action == "approve"


def test_grading_refuses_what_cannot_be_compared() -> None:
    with pytest.raises(InputError):
        grade(Proposal({"Bumper": 10.0}, 10.0, "USD"), final(), CN, blind=True)
    with pytest.raises(InputError):
        AdjusterDecision("reject", {}, 100.0)
    with pytest.raises(InputError):
        Proposal({"Bumper": -5.0}, 10.0, "CNY")


def test_a_partial_release_is_graded_on_the_released_parts_only() -> None:
    decided = final(1500.0, parts=("Bumper", "Door")).restricted_to(["bumper"])
    assert decided.amount == 750.0 and decided.parts == frozenset({"bumper"})
    assert not grade(Proposal({"Bumper": 750.0}, 750.0, "CNY"), decided, CN, blind=True).wrong


# --- the bounds --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 2, 5, 10])
def test_the_upper_bound_is_never_below_clopper_pearson(k: int) -> None:
    for n in [k + 1, 10, 30, 59, 63, 93, 150, 400]:
        if n >= k:
            assert upper_bound(k, n, 0.95) >= clopper_pearson_upper(k, n, 0.95) - 1e-9, (k, n)


def test_the_bound_falls_with_agreeing_reviews_and_rises_with_errors() -> None:
    clean = [upper_bound(0, n, 0.95) for n in range(0, 200, 10)]
    assert clean == sorted(clean, reverse=True) and clean[0] == 1.0
    at_100 = [upper_bound(k, 100, 0.95) for k in range(0, 10)]
    assert at_100 == sorted(at_100)
    rates = np.linspace(0.001, 0.9, 200)
    assert np.all(np.diff(grant_log_wealth(3, 120, rates)) >= -1e-12)  # wealth grows with the rate tested


def test_switching_on_needs_63_clean_reviews_at_5_percent() -> None:
    assert not grant_reached(0, 62, 0.05, 0.95) and grant_reached(0, 63, 0.05, 0.95)
    assert upper_bound(0, 63, 0.95) <= 0.05 < upper_bound(0, 62, 0.95)
    assert more_needed(0, 0, 0.05, 0.95) == 63 and more_needed(0, 40, 0.05, 0.95) == 23
    one_error = more_needed(1, 100, 0.05, 0.95)
    assert one_error is not None and 50 < one_error < 200
    assert more_needed(10, 100, 0.05, 0.95) is None  # 10% now: never at this rate


def reference_wealth(wrong: list[bool], rate: float) -> float:
    """The same bound as a gambler's wealth: each stake the posterior-predictive bet, one outcome at a time."""
    u = np.array([p[0] for p in GRANT_PRIOR])
    posterior = np.array([p[1] for p in GRANT_PRIOR])
    wealth = 1.0
    for x in wrong:
        q = float(posterior @ (rate * u)) / posterior.sum()  # predictive chance of an error
        stake = (rate - q) / (rate * (1 - rate))  # bet that the rate is below ``rate``
        wealth *= 1 - stake * (x - rate)
        posterior = posterior * (rate * u if x else 1 - rate * u)
    return wealth


def test_the_mixture_is_the_wealth_of_a_predictable_betting_strategy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        wrong = list(rng.random(int(rng.integers(1, 120))) < 0.04)
        for rate in (0.03, 0.05, 0.2):
            closed = float(np.exp(grant_log_wealth(sum(wrong), len(wrong), rate)))
            assert closed == pytest.approx(reference_wealth(wrong, rate), rel=1e-9)


def test_the_bisection_finds_the_crossing_a_grid_search_finds() -> None:
    grid = np.linspace(1e-4, 0.5, 5000)
    for k, n in [(0, 70), (1, 150), (3, 200), (8, 300)]:
        rejected = grid[grant_log_wealth(k, n, grid) >= np.log(20)]
        assert upper_bound(k, n, 0.95) == pytest.approx(rejected[0], abs=grid[1] - grid[0])


def binomial_cdf_table(n_max: int, p: float) -> np.ndarray:
    table = np.zeros((n_max + 1, n_max + 2))
    pmf = np.zeros(n_max + 2)
    pmf[0] = 1.0
    table[0] = 1.0
    for t in range(1, n_max + 1):
        pmf = np.r_[pmf[0] * (1 - p), pmf[1:] * (1 - p) + pmf[:-1] * p]
        table[t] = np.cumsum(pmf)
    return table


def test_coverage_holds_when_the_bound_is_read_after_every_review() -> None:
    runs, length, rate, alpha = 1000, 300, 0.05, 0.05
    wrong = np.random.default_rng(11).random((runs, length)) < rate
    k, n = np.cumsum(wrong, axis=1), np.arange(1, length + 1)
    ever_below = grant_reached(k, n, rate, 1 - alpha).any(axis=1).mean()
    slack = 3 * np.sqrt(alpha * (1 - alpha) / runs)
    assert ever_below <= alpha + slack
    # the same simulation catches a bound that is not anytime-valid: Clopper-Pearson read at every step
    peeking = (binomial_cdf_table(length, rate)[n[None, :], k] <= alpha).any(axis=1).mean()
    assert peeking > alpha + slack


def test_revocation_is_rare_when_the_rate_meets_the_target_and_quick_when_it_does_not() -> None:
    rng = np.random.default_rng(5)
    at_target = rng.random((1000, 600)) < 0.05
    assert revoke_reached(at_target, 0.05, 0.95)[:, -1].mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1000)
    worse = np.concatenate([rng.random((200, 300)) < 0.01, rng.random((200, 600)) < 0.2], axis=1)
    when = np.argmax(revoke_reached(worse, 0.05, 0.95), axis=1) - 300
    assert np.median(when) < 80
    assert lower_bound(worse[0], 0.05, 0.95) > 0.05 and lower_bound(worse[0, :300], 0.05, 0.95) < 0.05


def test_revocation_stakes_look_only_at_the_past() -> None:
    wrong = np.random.default_rng(2).random(500) < 0.08
    stakes = revoke_stakes(wrong, 0.05)
    for t in (0, 17, 255, 256, 300, 499):
        flipped = wrong.copy()
        flipped[t:] = ~flipped[t:]
        assert revoke_stakes(flipped, 0.05)[t] == stakes[t]


# --- the path ----------------------------------------------------------------------------------------------


TWO_STEPS = CN.model_copy(
    update={"threshold_path": CN.threshold_path[:2], "autonomy": "automatic", "calibration": None}
)


def claim(
    wrong: bool = False,
    settles: tuple[bool, ...] = (True, True),
    blind: bool = True,
    autonomous: bool = False,
    audited: bool = False,
) -> GradedClaim:
    decided = final(5000.0 if wrong else 1000.0)
    graded = grade(proposal(), decided, CN, blind=blind)
    return GradedClaim.settled(graded, settles, autonomous=autonomous, audit_drawn=audited)


def test_a_fresh_path_is_in_shadow_and_says_what_it_needs() -> None:
    status = evaluate_path([], CN)
    assert [s.state for s in status.steps] == ["shadow"] * 4
    assert [s.testable for s in status.steps] == [True, False, False, False]
    assert all(s.graded == 0 and s.bound == 1.0 and s.more_needed == 63 for s in status.steps)
    assert status.autonomous_step is None and status.target == 0.05


def test_a_looser_step_waits_for_the_stricter_one() -> None:
    # the loose step sees 100 clean reviews; the strict one settles only every other claim
    claims = [claim(settles=(i % 2 == 0, True)) for i in range(100)]
    status = evaluate_path(claims, TWO_STEPS)
    strict, loose = status.steps
    assert strict.state == "shadow" and strict.would_settle == 50 and strict.more_needed == 13
    assert loose.state == "shadow" and not loose.testable and loose.would_settle == 100 and loose.bound <= 0.05
    status = evaluate_path(claims + [claim(settles=(True, True)) for _ in range(13)], TWO_STEPS)
    strict, loose = status.steps
    assert strict.state == loose.state == "autonomous" and strict.proven_at == loose.proven_at == 112
    assert status.autonomous_step == loose.step


def test_manual_autonomy_waits_for_an_admin() -> None:
    manual = TWO_STEPS.model_copy(update={"autonomy": "manual"})
    claims = [claim() for _ in range(63)]
    assert [s.state for s in evaluate_path(claims, manual).steps] == ["pending_confirmation"] * 2
    confirmed = evaluate_path(claims, manual, confirmed={"score-0.9"})
    assert [s.state for s in confirmed.steps] == ["autonomous", "pending_confirmation"]


def test_errors_in_audits_revoke_the_step_and_every_looser_one() -> None:
    shadow = [claim() for _ in range(63)]
    audits = [claim(wrong=i % 3 == 0, autonomous=True, audited=True) for i in range(60)]
    unaudited = [claim(wrong=True, autonomous=True, audited=False) for _ in range(50)]  # never counted
    status = evaluate_path(shadow + unaudited + audits, TWO_STEPS)
    strict, loose = status.steps
    assert strict.state == loose.state == "revoked" and status.autonomous_step is None
    assert strict.revoked_by == loose.revoked_by == strict.step
    assert strict.proven_at == 62 and strict.revoked_at is not None and strict.revoked_at > 113
    assert strict.would_settle == 123 and strict.wrong == 20 and strict.lower_bound > 0.05
    assert strict.overpay == 0 and strict.underpay == 20


def test_only_blind_reviews_count_unless_asked_and_anchored_ones_are_reported_beside() -> None:
    claims = [claim(blind=False) for _ in range(80)] + [claim(wrong=True, blind=False)]
    step = evaluate_path(claims, TWO_STEPS).steps[0]
    assert step.would_settle == 0 and step.state == "shadow"
    assert (step.anchored_would_settle, step.anchored_wrong) == (81, 1)
    assert evaluate_path(claims, TWO_STEPS, blind_only=False).steps[0].state == "autonomous"


def test_evidence_from_another_path_is_refused() -> None:
    with pytest.raises(InputError):
        evaluate_path([claim(settles=(True,))], TWO_STEPS)


# --- draws -------------------------------------------------------------------------------------------------


def test_draws_are_deterministic_independent_and_at_their_rate() -> None:
    a = audit_draw("claim-1", SECRET, 0.1)
    assert a == audit_draw("claim-1", SECRET, 0.1) and 0.0 <= a.value < 1.0
    assert a.value != blind_draw("claim-1", SECRET, 0.1).value
    assert a.value != audit_draw("claim-1", SECRET + b"x", 0.1).value
    share = np.mean([audit_draw(f"claim-{i}", SECRET, 0.1).drawn for i in range(4000)])
    assert abs(share - 0.1) < 3 * np.sqrt(0.1 * 0.9 / 4000)
    with pytest.raises(ConfigError):
        audit_draw("claim-1", b"short", 0.1)
    with pytest.raises(ConfigError):
        blind_draw("claim-1", SECRET, 1.5)


# --- shadow, partial release and the verdict ---------------------------------------------------------------


def finding(part: str, score: float, severe: float = 0.05) -> Finding:
    return Finding(part, {"minor": 0.9 - severe, "moderate": 0.1, "severe": severe}, 0.1, score, "p1")


def claim_input(*findings: Finding, amounts: tuple[float, ...] = (400.0,), failure: bool = False) -> DecisionInput:
    items = tuple(LineItem(part=f.part, operation="repair", total=a) for f, a in zip(findings, amounts, strict=True))
    total = sum(amounts)
    estimate = PriceEstimate(items, total, total * 0.8, total * 1.2, 0.9, "CNY", "cat", "estimator", "1")
    failures = (Reason("pipeline_error", "boom"),) if failure else ()
    return DecisionInput(tuple(findings), estimate, failures=failures)


def test_shadow_steps_judge_each_step_without_the_lab_gate() -> None:
    inp = claim_input(finding("Bumper", 0.85))
    assert decide(inp, CN).outcome == "human_review"  # policy_not_calibrated
    assert [s.would_settle for s in shadow_steps(inp, CN)] == [False, True, True, True]
    assert not any(s.would_settle for s in shadow_steps(claim_input(finding("Bumper", 0.95), failure=True), CN))
    over = claim_input(finding("Bumper", 0.95), amounts=(1200.0,))  # over the strict step's 1,000 limit
    assert [s.would_settle for s in shadow_steps(over, CN)] == [False, True, True, True]


def test_step_policy_applies_the_overrides_and_drops_the_calibration() -> None:
    strict = step_policy(CN, "score-0.9")
    assert (strict.min_detection_score, strict.small_claim_limit, strict.calibration) == (0.9, 1000.0, None)
    assert strict.max_relative_width == CN.max_relative_width
    with pytest.raises(PolicyError):
        step_policy(CN, "score-0.1")


def test_partial_release_splits_the_confident_part_within_the_limit() -> None:
    inp = claim_input(finding("Bumper", 0.95), finding("Door", 0.65), amounts=(600.0, 900.0))
    split = split_claim(inp, CN, "score-0.9")
    assert split is not None and [i.part for i in split.released] == ["Bumper"]
    assert (split.released_amount, split.held_amount) == (600.0, 900.0)
    assert split.proposal().items == {"bumper": 600.0}
    too_big = claim_input(finding("Bumper", 0.95), finding("Door", 0.65), amounts=(1100.0, 300.0))
    assert split_claim(too_big, CN, "score-0.9") is None  # the confident part is over the step's limit
    assert split_claim(claim_input(finding("Bumper", 0.95)), CN, "score-0.9") is None  # settles whole
    failed = claim_input(finding("Bumper", 0.95), finding("Door", 0.65), amounts=(600.0, 900.0), failure=True)
    assert split_claim(failed, CN, "score-0.9") is None
    shadows = shadow_steps(inp, CN.model_copy(update={"partial_release": True}))
    assert shadows[0].partial is not None and shadows[-1].partial is None  # the loosest step settles it whole
    assert all(s.partial is None for s in shadow_steps(inp, CN))  # the policy does not allow it


def test_partial_releases_are_evidence_of_their_own_graded_on_the_released_parts() -> None:
    policy = CN.model_copy(update={"partial_release": True, "autonomy": "automatic"})
    shadow = shadow_steps(claim_input(finding("Bumper", 0.95), finding("Door", 0.65), amounts=(600.0, 900.0)), policy)
    agreed = AdjusterDecision("edit", {"Bumper": 620.0, "Door": 1400.0}, 2020.0)  # the door was the doubt
    evidence = partial_evidence(shadow, agreed, policy, blind=True)
    assert [g is not None and not g.wrong for g in evidence.gradings] == [True, True, True, False]
    status = evaluate_path([evidence] * 63, policy, kind="partial_release")
    assert [s.state for s in status.steps] == ["autonomous"] * 3 + ["shadow"]
    missed = partial_evidence(shadow, AdjusterDecision("edit", {"Door": 1400.0}, 1400.0), policy, blind=True)
    assert all(g is None or (g.wrong and g.overpay) for g in missed.gradings)


def test_the_verdict_settles_alone_only_under_an_autonomous_step_and_no_audit() -> None:
    status = evaluate_path([claim() for _ in range(63)], TWO_STEPS)
    shadow = (StepShadow("score-0.9", False), StepShadow("score-0.8", True))
    no, yes = Draw("audit", 0.5, 0.1), Draw("audit", 0.05, 0.1)
    seen = Draw("blind", 0.9, 0.5)
    alone = settle_alone(shadow, status.states, None, no, seen)
    assert (alone.action, alone.step, alone.blind, alone.autonomy_on) == ("auto_settle", "score-0.8", False, True)
    audited = settle_alone(shadow, status.states, None, yes, seen)
    assert (audited.action, audited.blind) == ("audit", True)
    fresh = settle_alone(shadow, evaluate_path([], TWO_STEPS).states, None, yes, seen)
    assert (fresh.action, fresh.blind, fresh.autonomy_on) == ("review", False, False)


# --- policies ----------------------------------------------------------------------------------------------


def test_every_shipped_and_test_policy_loads_with_the_new_fields() -> None:
    for name in available_policies():
        policy = load_policy(name)
        assert len(policy.threshold_path) >= 2 and policy.audit_rate > 0
        assert policy.calibration is not None  # the calibration block is kept
    old = load_policy("CN", TEST_POLICIES_DIR)  # written before autonomy existed
    assert old.threshold_path == () and old.autonomy == "manual" and old.autonomy_target == 0.05


def write_policy(tmp_path: Path, **changes: object) -> Path:
    raw = yaml.safe_load((TEST_POLICIES_DIR / "CN.yaml").read_text(encoding="utf-8"))
    raw.update(changes)
    (tmp_path / "CN.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "changes",
    [
        {"threshold_path": [{"name": "a", "min_detection_score": 0.6}, {"name": "b", "min_detection_score": 0.9}]},
        {"threshold_path": [{"name": "a", "small_claim_limit": 2500}, {"name": "b"}]},  # b: the base's 2,000
        {"threshold_path": [{"name": "a"}, {"name": "a"}]},
        {"threshold_path": [{"name": "a", "min_detecton_score": 0.9}]},
        {"threshold_path": [{"name": "Not a name"}]},
        {"audit_rate": 0},
        {"blind_review_rate": 1.5},
        {"autonomy": "sometimes"},
        {"autonomy_target": 0.6},
        {"grade_tolerance_amount": -1},
    ],
)
def test_bad_autonomy_settings_are_refused(tmp_path: Path, changes: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        load_policy("CN", write_policy(tmp_path, **changes))


def test_a_path_strict_to_loose_loads(tmp_path: Path) -> None:
    path = [{"name": "a", "min_detection_score": 0.9, "small_claim_limit": 1000}, {"name": "b"}]
    policy = load_policy("CN", write_policy(tmp_path, threshold_path=path, autonomy="automatic"))
    assert isinstance(policy, Policy) and [s.name for s in policy.threshold_path] == ["a", "b"]
    assert step_policy(policy, "b").min_detection_score == policy.min_detection_score

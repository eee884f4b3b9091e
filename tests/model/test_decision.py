"""The decision policy: auto-settle only when everything is fine; every other case says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.decision import (
    Calibration,
    DecisionInput,
    PhotoFlags,
    Policy,
    Reason,
    available_policies,
    decide,
    load_policy,
)
from model.errors import PolicyError, UnknownJurisdiction
from model.findings import Finding, PriceEstimate
from model.quality import QualityIssue
from tests.conftest import TEST_POLICIES_DIR

CN = load_policy("CN", TEST_POLICIES_DIR)


def finding(score: float = 0.9, severe: float = 0.05, part: str = "Bumper") -> Finding:
    return Finding(part, {"minor": 0.95 - severe, "moderate": 0.05, "severe": severe}, 0.1, score, "p1")


def estimate(total: float = 800.0, width: float = 0.4, currency: str = "CNY") -> PriceEstimate:
    half = total * width / 2
    return PriceEstimate((), total, total - half, total + half, 0.9, currency, "cat", "pricer", "1")


def outcome(findings: tuple[Finding, ...], est: PriceEstimate | None, **kw: object) -> tuple[str, set[str]]:
    d = decide(DecisionInput(findings, est, **kw), CN)  # type: ignore[arg-type]
    return d.outcome, {r.code for r in d.reasons}


def test_shipped_policies_load_with_their_limits() -> None:
    assert {"CN", "CN-single-vehicle", "US"} <= set(available_policies())
    assert load_policy("CN").small_claim_limit == 2000 and load_policy("CN").currency == "CNY"
    assert load_policy("CN-single-vehicle").small_claim_limit == 5000
    assert load_policy("US").currency == "USD"


def test_clean_small_claim_settles() -> None:
    assert outcome((finding(),), estimate()) == ("auto_settle", set())


@pytest.mark.parametrize(
    "findings,est,code",
    [
        ((finding(score=0.3),), estimate(), "low_confidence"),
        ((finding(),), estimate(total=2500), "over_limit"),
        ((finding(severe=0.6),), estimate(), "severe_damage"),
        ((finding(),), estimate(width=1.8), "wide_interval"),
        ((finding(),), estimate(currency="USD"), "pipeline_error"),
    ],
)
def test_each_flag_routes_to_a_human(findings: tuple[Finding, ...], est: PriceEstimate, code: str) -> None:
    result, codes = outcome(findings, est)
    assert result == "human_review" and code in codes


def test_the_single_vehicle_limit_is_higher() -> None:
    d = decide(DecisionInput((finding(),), estimate(total=3000)), load_policy("CN-single-vehicle", TEST_POLICIES_DIR))
    assert d.outcome == "auto_settle"
    assert outcome((finding(),), estimate(total=3000))[0] == "human_review"


def test_poor_photo_asks_for_a_retake_and_says_why() -> None:
    flags = (PhotoFlags("p1", (QualityIssue("too_dark", "too dark; more light"),)),)
    d = decide(DecisionInput((), None, flags), CN)
    assert d.outcome == "retake_photos"
    assert (
        d.reasons[0].code == "poor_photo"
        and "too dark" in d.reasons[0].message
        and d.reasons[0].photo_id == "p1"
    )


def test_duplicate_photo_never_settles() -> None:
    result, codes = outcome((finding(),), estimate(), photos=(PhotoFlags("p1", (), "other-claim"),))
    assert result == "human_review" and "duplicate_photo" in codes


def test_no_damage_follows_the_policy() -> None:
    assert outcome((), None, photos=(PhotoFlags("p1"),)) == ("retake_photos", {"no_damage_found"})
    us = decide(DecisionInput((), None, (PhotoFlags("p1"),)), load_policy("US", TEST_POLICIES_DIR))
    assert us.outcome == "human_review"


def test_failures_go_to_a_human_even_with_a_poor_photo() -> None:
    failure = Reason("model_unavailable", "the detector could not run")
    flags = (PhotoFlags("p1", (QualityIssue("too_blurry", "blurred"),)),)
    d = decide(DecisionInput((finding(),), estimate(), flags, (failure,)), CN)
    assert d.outcome == "human_review" and d.reasons[0] == failure
    assert "no_damage_found" not in {
        r.code for r in decide(DecisionInput((), None, (), (failure,)), CN).reasons
    }


def test_unknown_and_invalid_policies_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownJurisdiction, match="CN"):
        load_policy("XX")
    with pytest.raises(UnknownJurisdiction):
        load_policy("../CN")
    (tmp_path / "BAD.yaml").write_text("jurisdiction: BAD\nversion: 1\n  broken: [\n")
    with pytest.raises(PolicyError, match="line"):
        load_policy("BAD", tmp_path)
    (tmp_path / "ZZ.yaml").write_text("jurisdiction: ZZ\nversion: '1'\nregion: ZZ\ncurrency: X\n")
    with pytest.raises(PolicyError, match="small_claim_limit"):
        load_policy("ZZ", tmp_path)


@pytest.mark.parametrize("jurisdiction,region", [("CN", "CN"), ("CN-single-vehicle", "CN"), ("US", "US")])
def test_shipped_policy_and_pricer_settle_a_small_confident_claim(jurisdiction: str, region: str) -> None:
    """The product's promise: a small, confident, minor damage settles alone with what ships."""
    from model.decision import DecisionInput, PhotoFlags, decide, load_policy
    from model.findings import ClaimContext, Finding
    from model.pricing import load_pricer

    finding = Finding(part="Bumper", severity={"minor": 0.85, "moderate": 0.1, "severe": 0.05},
                      area_fraction=0.04, score=0.8, photo_id="p1")
    estimate = load_pricer().price([finding], ClaimContext(segment="mid", region=region))
    policy = load_policy(jurisdiction, TEST_POLICIES_DIR)
    decision = decide(DecisionInput(findings=(finding,), estimate=estimate, photos=(PhotoFlags("p1"),)), policy)
    assert estimate.total < policy.small_claim_limit
    assert decision.outcome == "auto_settle", decision.reasons
    severe = Finding(part="Bumper", severity={"minor": 0.1, "moderate": 0.3, "severe": 0.6},
                     area_fraction=0.3, score=0.8, photo_id="p1")
    routed = decide(DecisionInput(findings=(severe,), estimate=load_pricer().price(
        [severe], ClaimContext(segment="mid", region=region)), photos=(PhotoFlags("p1"),)), policy)
    assert routed.outcome == "human_review" and "severe_damage" in {r.code for r in routed.reasons}


MODELS = {"detector": "autoquote-detector@1", "severity": "autoquote-severity@1", "pricer": "estimator@1.0"}


def calibrated(proven: bool = True, models: dict[str, str] | None = None) -> Policy:
    calibration = Calibration(
        models=models or MODELS, proven=proven, target=0.05, confidence=0.95,
        error_bound=0.04 if proven else None, error_rate=0.0 if proven else None, settle_share=0.3,
        n_photos=200, n_settled=60, n_wrong=0, split="val", method="fixed-sequence", wrong_means="parts differ",
        calibrated_at="2026-11-28T00:00:00+00:00",
    )
    return CN.model_copy(update={"version": "2026.11.28-cal", "calibration": calibration})


def test_a_calibrated_policy_settles_for_the_models_it_was_calibrated_for() -> None:
    d = decide(DecisionInput((finding(),), estimate(), models={**MODELS, "catalogue": "c"}), calibrated())
    assert d.outcome == "auto_settle" and d.reasons == ()


@pytest.mark.parametrize(
    "models",
    [
        {**MODELS, "detector": "autoquote-detector@2"},  # a promoted detector
        {**MODELS, "severity": "autoquote-severity@2"},
        {k: v for k, v in MODELS.items() if k != "pricer"},
        None,  # a caller that does not say which models produced the findings
    ],
)
def test_other_models_send_every_claim_to_a_human(models: dict[str, str] | None) -> None:
    for findings, est in (((finding(),), estimate()), ((), None)):
        d = decide(DecisionInput(findings, est, (PhotoFlags("p1"),), models=models), calibrated())
        assert d.outcome == "human_review"
        assert "policy_not_calibrated" in {r.code for r in d.reasons}


def test_the_reason_names_the_model_that_changed() -> None:
    d = decide(DecisionInput((finding(),), estimate(), models={**MODELS, "detector": "autoquote-detector@2"}),
               calibrated())
    message = next(r.message for r in d.reasons if r.code == "policy_not_calibrated")
    assert "autoquote-detector@1" in message and "autoquote-detector@2" in message and "severity" not in message


def test_a_calibration_that_proved_nothing_settles_nothing() -> None:
    d = decide(DecisionInput((finding(),), estimate(), models=MODELS), calibrated(proven=False))
    assert d.outcome == "human_review" and [r.code for r in d.reasons] == ["policy_not_calibrated"]


def test_a_hand_set_policy_ignores_the_models() -> None:
    assert CN.calibration is None
    d = decide(DecisionInput((finding(),), estimate(), models={"detector": "anything@9"}), CN)
    assert d.outcome == "auto_settle"


def test_a_calibrated_policy_round_trips_through_yaml(tmp_path: Path) -> None:
    import yaml

    policy = calibrated()
    (tmp_path / "CN.yaml").write_text(yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False))
    assert load_policy("CN", tmp_path) == policy
    broken = policy.model_dump(mode="json")
    broken["calibration"]["models"] = {}
    (tmp_path / "CN.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(PolicyError, match="calibration.models"):
        load_policy("CN", tmp_path)


def test_shipped_policies_are_calibrated_for_the_shipped_models() -> None:
    # Shipping a model without re-running `autoquote-train calibrate --ship` would silently send every claim
    # to an adjuster (policy_not_calibrated): catch it here instead.
    from model.manifest import WEIGHTS_DIR, load_manifest

    shipped = {kind: load_manifest(WEIGHTS_DIR / f"{kind}.onnx") for kind in ("detector", "severity")}
    for jurisdiction in available_policies():
        calibration = load_policy(jurisdiction).calibration
        assert calibration is not None, jurisdiction
        for kind, manifest in shipped.items():
            assert calibration.models[kind] == f"{manifest.name}@{manifest.version}", (jurisdiction, kind)

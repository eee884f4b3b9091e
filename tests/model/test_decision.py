"""The decision policy: auto-settle only when everything is fine; every other case says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.decision import (
    RETAKE_FIXES,
    Calibration,
    DecisionInput,
    PhotoFlags,
    Policy,
    Reason,
    available_policies,
    decide,
    load_policy,
    outcome_for,
)
from model.declared import DeclaredPart
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
    d = decide(DecisionInput((finding(),), estimate(), (PhotoFlags("p1"),), models=models), calibrated())
    assert d.outcome == "human_review"
    assert "policy_not_calibrated" in {r.code for r in d.reasons}
    # a claim a closer photo can still help is asked for one first, whatever the calibration
    d = decide(DecisionInput((), None, (PhotoFlags("p1"),), models=models), calibrated())
    assert d.outcome == "retake_photos"
    assert {r.code for r in d.reasons} == {"policy_not_calibrated", "no_damage_found"}


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


# Declared damage: the customer says which parts are damaged, the findings confirm them part by part.

DOOR, FENDER, LEFT_DOOR = DeclaredPart("Door"), DeclaredPart("Fender"), DeclaredPart("Door", "left")


def on(part: str, photo: str = "p1", score: float = 0.9) -> Finding:
    return Finding(part, {"minor": 0.9, "moderate": 0.05, "severe": 0.05}, 0.1, score, photo)


def declared_outcome(
    declared: tuple[DeclaredPart, ...], findings: tuple[Finding, ...], photos: tuple[PhotoFlags, ...] = (),
    est: PriceEstimate | None = None, policy: Policy = CN,
) -> tuple[str, set[str]]:
    est = est if est is not None else (estimate() if findings else None)
    d = decide(DecisionInput(findings, est, photos, declared=declared), policy)
    return d.outcome, {r.code for r in d.reasons}


@pytest.mark.parametrize(
    "declared,findings,photos,expected",
    [
        # every declared part confirmed on a wide shot, nothing else found
        ((DOOR,), (on("Door"),), (PhotoFlags("p1"),), ("auto_settle", set())),
        ((DOOR, FENDER), (on("Door"), on("Fender")), (), ("auto_settle", set())),
        # a close-up tagged with the declared part confirms it
        ((LEFT_DOOR,), (on("Door"),), (PhotoFlags("p1", part=LEFT_DOOR),), ("auto_settle", set())),
        # below the threshold on an undeclared part: ignored
        ((DOOR,), (on("Door"), on("Bumper", score=0.3)), (), ("auto_settle", set())),
        # a declared part nobody found, or found below the threshold: a close-up of it is asked for
        ((DOOR, FENDER), (on("Door"),), (), ("retake_photos", {"declared_not_found"})),
        ((DOOR,), (on("Door", score=0.3),), (), ("retake_photos", {"declared_not_found"})),
        ((DOOR,), (), (PhotoFlags("p1"),), ("retake_photos", {"declared_not_found"})),
        # the door is found only on the fender's close-up: that does not confirm the door
        ((DOOR, FENDER), (on("Door", "p2"), on("Fender", "p2")),
         (PhotoFlags("p1", part=DOOR), PhotoFlags("p2", part=FENDER)), ("retake_photos", {"declared_not_found"})),
        # a left-door close-up does not confirm the right door
        ((LEFT_DOOR, DeclaredPart("Door", "right")), (on("Door"),), (PhotoFlags("p1", part=LEFT_DOOR),),
         ("retake_photos", {"declared_not_found"})),
        # damage on a part nobody declared goes to a person, even with a part still to retake
        ((DOOR,), (on("Door"), on("Bumper")), (), ("human_review", {"undeclared_damage"})),
        ((DOOR, FENDER), (on("Door"), on("Bumper")), (), ("human_review", {"undeclared_damage", "declared_not_found"})),
        # the other guards still apply to the confirmed parts
        ((DOOR,), (on("Door"),), (PhotoFlags("p1", (), "other-claim"),), ("human_review", {"duplicate_photo"})),
    ],
)
def test_declared_parts_are_verified_part_by_part(
    declared: tuple[DeclaredPart, ...], findings: tuple[Finding, ...], photos: tuple[PhotoFlags, ...],
    expected: tuple[str, set[str]],
) -> None:
    assert declared_outcome(declared, findings, photos) == expected


def test_a_claim_without_declarations_is_judged_on_every_finding() -> None:
    assert declared_outcome((), (on("Door"), on("Bumper"))) == ("auto_settle", set())
    assert declared_outcome((), (on("Door"), on("Bumper", score=0.3)))[1] == {"low_confidence"}
    assert declared_outcome((DOOR,), (on("Door"), on("Bumper", score=0.3))) == ("auto_settle", set())


def test_the_threshold_that_confirms_is_the_policy_detection_score() -> None:
    strict = CN.model_copy(update={"min_detection_score": 0.95})
    assert declared_outcome((DOOR,), (on("Door", score=0.9),), policy=strict)[1] == {"declared_not_found"}
    # and an undeclared part under the stricter threshold is no longer reported
    assert declared_outcome((DOOR,), (on("Door", score=0.97), on("Bumper", score=0.9)), policy=strict)[1] == set()


def test_declared_reasons_name_the_part_and_the_photo_to_retake() -> None:
    flags = (PhotoFlags("wide"), PhotoFlags("close", part=LEFT_DOOR))
    d = decide(DecisionInput((on("Bumper", "wide"),), estimate(), flags, declared=(LEFT_DOOR,)), CN)
    missing = next(r for r in d.reasons if r.code == "declared_not_found")
    assert missing.photo_id == "close" and dict(missing.params) == {"part": "Door", "side": "left"}
    assert "left Door" in missing.message
    extra = next(r for r in d.reasons if r.code == "undeclared_damage")
    assert extra.photo_id == "wide" and dict(extra.params) == {"part": "Bumper"}


def test_a_price_of_a_part_that_was_not_confirmed_never_settles() -> None:
    from model.findings import LineItem

    items = tuple(LineItem(part=p, operation="repair", total=400.0) for p in ("Door", "Bumper"))
    est = PriceEstimate(items, 800.0, 700.0, 900.0, 0.9, "CNY", "cat", "pricer", "1")
    result, codes = declared_outcome((DOOR,), (on("Door"),), est=est)
    assert result == "human_review" and "pipeline_error" in codes


@pytest.mark.parametrize(
    "fix,other,expected",
    [
        ("poor_photo", None, "retake_photos"),
        ("declared_not_found", None, "retake_photos"),
        ("no_damage_found", None, "retake_photos"),
        # what new photos may change, or a human sees later anyway, waits for the retake
        ("poor_photo", "policy_not_calibrated", "retake_photos"),
        ("declared_not_found", "policy_not_calibrated", "retake_photos"),
        ("no_damage_found", "policy_not_calibrated", "retake_photos"),
        ("poor_photo", "low_confidence", "retake_photos"),
        ("declared_not_found", "over_limit", "retake_photos"),
        ("poor_photo", "severe_damage", "retake_photos"),
        ("poor_photo", "wide_interval", "retake_photos"),
        # what no retake can fix goes to a person at once
        ("poor_photo", "duplicate_photo", "human_review"),
        ("declared_not_found", "undeclared_damage", "human_review"),
        ("poor_photo", "undeclared_damage", "human_review"),
        ("poor_photo", "model_unavailable", "human_review"),
        ("declared_not_found", "pipeline_error", "human_review"),
        (None, "policy_not_calibrated", "human_review"),
    ],
)
def test_a_retake_outranks_what_new_photos_may_change(fix: str | None, other: str | None, expected: str) -> None:
    reasons = [Reason(code, code, "p1") for code in (fix, other) if code is not None]  # type: ignore[arg-type]
    assert outcome_for(reasons, CN, priced=True) == expected


def test_no_damage_found_follows_the_policy_even_beside_a_stale_calibration() -> None:
    us = load_policy("US", TEST_POLICIES_DIR)
    assert us.no_damage_action == "human_review"
    reasons = [Reason("no_damage_found", "none"), Reason("policy_not_calibrated", "stale")]
    assert outcome_for(reasons, us, priced=False) == "human_review"


def test_dark_photos_under_an_unproven_calibration_are_asked_again_photo_by_photo() -> None:
    """The claim from the issue: two dark photos, a policy that settles nothing; the customer can retake."""
    dark = (QualityIssue("too_dark", "too dark"),)
    flags = (PhotoFlags("p1", dark), PhotoFlags("p2", dark))
    d = decide(DecisionInput((), None, flags, models=MODELS), calibrated(proven=False))
    assert d.outcome == "retake_photos"
    assert [r.photo_id for r in d.reasons if r.code == "poor_photo"] == ["p1", "p2"]
    assert "policy_not_calibrated" in {r.code for r in d.reasons}


def test_every_reason_that_asks_for_a_retake_names_a_photo_or_a_part() -> None:
    dark = (QualityIssue("too_dark", "too dark"),)
    flags = (PhotoFlags("p1", dark), PhotoFlags("p2", part=FENDER))
    d = decide(DecisionInput((on("Door", "p2"),), estimate(), flags, declared=(DOOR, FENDER)), calibrated(False))
    assert d.outcome == "retake_photos"
    asks = [r for r in d.reasons if r.code in RETAKE_FIXES]
    assert {r.code for r in asks} == {"poor_photo", "declared_not_found"}
    assert all(r.photo_id or r.params.get("part") for r in asks)

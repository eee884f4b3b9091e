"""The part verifier as a second opinion: in the pipeline, in the decision, and in declared claims."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.decision import load_policy
from model.declared import DeclaredPart, verify
from model.findings import ClaimContext, Finding
from model.pipeline import PhotoInput, Pipeline, build_pipeline
from tests.conftest import TEST_POLICIES_DIR
from tests.fakes import FakeCatalogue, FakeDetector, FakeManifest, FakePricer, FakeSeverity, FakeVerifier

CTX = ClaimContext("mid", "CN")


def jpeg(width: int = 1600, height: int = 1200) -> bytes:
    arr = np.random.default_rng(0).normal(128, 40, size=(height, width, 3)).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def pipeline(verifier: FakeVerifier | None) -> Pipeline:
    detector = FakeDetector(parts=(("Door", (0.25, 0.25, 0.75, 0.75), 0.9),), manifest=FakeManifest())
    severity = FakeSeverity(probabilities={"minor": 0.9, "moderate": 0.08, "severe": 0.02}, manifest=FakeManifest())
    pricer = FakePricer(per_finding=450.0, interval=(400 / 450, 550 / 450), name="pricer", version="1",
                        catalogue_version="cat-1")
    from model.pipeline import PipelineConfig

    config = PipelineConfig(policies_dir=TEST_POLICIES_DIR)
    return Pipeline(detector, severity, pricer, FakeCatalogue(version="cat-1"), config, verifier=verifier)


def requiring(threshold: float | None, tmp_path: Path) -> Path:
    """The test CN policy with ``min_verifier_probability`` set, in its own folder."""
    text = (TEST_POLICIES_DIR / "CN.yaml").read_text()
    if threshold is not None:
        text += f"min_verifier_probability: {threshold}\n"
    (tmp_path / "CN.yaml").write_text(text)
    return tmp_path


def quote(pipe: Pipeline, policies: Path, declared: tuple[DeclaredPart, ...] = ()) -> object:
    pipe.config = type(pipe.config)(policies_dir=policies)
    return pipe.quote([PhotoInput("p1", pipe.decode(jpeg()))], CTX, declared=declared)


def test_the_verifier_sees_the_crop_the_severity_model_grades_and_its_part() -> None:
    verifier = FakeVerifier(0.8)
    pipe = pipeline(verifier)
    q = pipe.quote([PhotoInput("p1", pipe.decode(jpeg()))], CTX)
    assert verifier.asked and verifier.asked[0][1] == "Door"
    assert verifier.asked[0][0] == pipe.severity.crops[0]  # type: ignore[union-attr]
    assert q.photos[0].findings[0].agreement == pytest.approx(0.8)
    assert q.versions["verifier"] == "fake-verifier@0.3"


def test_without_a_verifier_nothing_changes_for_a_policy_that_does_not_ask_for_one() -> None:
    pipe = pipeline(None)
    q = pipe.quote([PhotoInput("p1", pipe.decode(jpeg()))], CTX)
    assert q.photos[0].findings[0].agreement is None
    assert "verifier" not in q.versions
    assert q.decision.outcome == "auto_settle"


@pytest.mark.parametrize(("probability", "outcome", "code"), [
    (0.9, "auto_settle", None),
    (0.2, "human_review", "low_confidence"),
])
def test_a_policy_that_requires_agreement_settles_only_with_it(probability: float, outcome: str, code: str | None,
                                                               tmp_path: Path) -> None:
    q = quote(pipeline(FakeVerifier(probability)), requiring(0.5, tmp_path))
    assert q.decision.outcome == outcome  # type: ignore[attr-defined]
    codes = {r.code for r in q.decision.reasons}  # type: ignore[attr-defined]
    assert (code in codes) if code else not codes


@pytest.mark.parametrize("verifier", [None, FakeVerifier(fail=RuntimeError("boom"))])
def test_a_required_verifier_that_is_missing_or_fails_never_settles(verifier: FakeVerifier | None,
                                                                    tmp_path: Path) -> None:
    q = quote(pipeline(verifier), requiring(0.5, tmp_path))
    assert q.decision.outcome == "human_review"  # type: ignore[attr-defined]
    assert {r.code for r in q.decision.reasons} & {"model_unavailable", "pipeline_error"}  # type: ignore[attr-defined]


def test_a_declared_part_is_confirmed_only_when_the_verifier_agrees(tmp_path: Path) -> None:
    door = (DeclaredPart("Door"),)
    agreed = quote(pipeline(FakeVerifier(0.9)), requiring(0.5, tmp_path), door)
    doubted = quote(pipeline(FakeVerifier(0.1)), requiring(0.5, tmp_path), door)
    assert agreed.decision.outcome == "auto_settle"  # type: ignore[attr-defined]
    assert doubted.decision.outcome == "retake_photos"  # type: ignore[attr-defined]
    assert "declared_not_found" in {r.code for r in doubted.decision.reasons}  # type: ignore[attr-defined]


def test_verify_counts_an_unchecked_finding_only_when_no_agreement_is_asked() -> None:
    found = [Finding("Door", {"minor": 1.0}, 0.1, score=0.9, photo_id="p1"),
             Finding("Bumper", {"minor": 1.0}, 0.1, score=0.9, photo_id="p1", agreement=0.1)]
    loose = verify([DeclaredPart("Door")], found, {"p1": None}, 0.5)
    strict = verify([DeclaredPart("Door")], found, {"p1": None}, 0.5, min_agreement=0.5)
    assert loose.parts[0].status == "confirmed" and [f.part for f in loose.undeclared] == ["Bumper"]
    assert strict.parts[0].status == "not_confirmed" and strict.undeclared == ()


def test_the_shipped_pipeline_loads_a_verifier_only_when_one_is_there(tmp_path: Path) -> None:
    missing = build_pipeline(verifier_path=tmp_path / "verifier.onnx")
    assert missing.verifier is None and any(p.startswith("verifier:") for p in missing.problems)


def test_policy_refuses_an_agreement_outside_0_1(tmp_path: Path) -> None:
    from model.errors import PolicyError

    text = (TEST_POLICIES_DIR / "CN.yaml").read_text() + "min_verifier_probability: 1.5\n"
    (tmp_path / "CN.yaml").write_text(text)
    with pytest.raises(PolicyError):
        load_policy("CN", tmp_path)

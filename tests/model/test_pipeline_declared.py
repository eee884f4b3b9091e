"""The pipeline with declared parts: verified part by part, priced for what is confirmed, assessed again cheaply."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pytest
from PIL import Image

from model.decision import decide
from model.declared import DeclaredPart, parse_declared
from model.errors import InputError, UnknownPart
from model.findings import ClaimContext, Detection
from model.pipeline import PhotoInput, Pipeline
from tests.fakes import FakeCatalogue, FakeManifest, FakePricer, FakeSeverity, fake_pipeline

CTX = ClaimContext("mid", "CN")
DOOR, FENDER = DeclaredPart("Door"), DeclaredPart("Fender")
# 480 px high photos of these widths: the fake detector tells them apart by their shape, which decoding keeps
WIDTHS = {"wide": 640, "door": 600, "fender": 560, "empty": 520}


@dataclass
class PartsByWidth:
    """Finds given parts (name, score) on the photo of each width: one fake photo per view of the car."""

    found: dict[int, list[tuple[str, float]]]
    input_size: int = 320
    manifest: FakeManifest = field(default_factory=FakeManifest)
    calls: int = 0

    def detect(self, image: Image.Image) -> list[Detection]:
        self.calls += 1
        width = min(WIDTHS.values(), key=lambda w: abs(w / 480 - image.width / image.height))
        w, h = image.size
        box = (0.25 * w, 0.25 * h, 0.75 * w, 0.75 * h)
        return [Detection(box, part, score, i) for i, (part, score) in enumerate(self.found.get(width, []))]


def jpeg(width: int) -> bytes:
    rng = np.random.default_rng(width)
    buf = io.BytesIO()
    Image.fromarray(rng.normal(128, 40, (480, width, 3)).clip(0, 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def pipeline(found: dict[str, list[tuple[str, float]]]) -> tuple[Pipeline, PartsByWidth]:
    detector = PartsByWidth({WIDTHS[view]: parts for view, parts in found.items()})
    severity = FakeSeverity(probabilities={"minor": 0.9, "moderate": 0.08, "severe": 0.02}, manifest=FakeManifest())
    pricer = FakePricer(per_finding=450.0, interval=(400 / 450, 550 / 450), name="pricer", version="1")
    return fake_pipeline(detector, severity, pricer, FakeCatalogue()), detector


def photo(pipe: Pipeline, view: str, part: DeclaredPart | None = None) -> PhotoInput:
    return PhotoInput(view, pipe.decode(jpeg(WIDTHS[view])), part=part)


def test_every_declared_part_confirmed_settles_and_prices_them() -> None:
    pipe, _ = pipeline({"door": [("Door", 0.9)], "fender": [("Fender", 0.8)]})
    quote = pipe.quote([photo(pipe, "door", DOOR), photo(pipe, "fender", FENDER)], CTX, declared=(DOOR, FENDER))
    assert quote.decision.outcome == "auto_settle", quote.decision.reasons
    assert quote.verification is not None and quote.verification.complete
    assert [(c.declared, c.status, c.photo_id) for c in quote.verification.parts] == [
        (DOOR, "confirmed", "door"), (FENDER, "confirmed", "fender"),
    ]
    assert quote.estimate is not None and {i.part for i in quote.estimate.line_items} == {"Door", "Fender"}


def test_undeclared_damage_is_never_priced_and_goes_to_a_person() -> None:
    pipe, _ = pipeline({"wide": [("Door", 0.9), ("Bumper", 0.8), ("Fender", 0.3)]})
    quote = pipe.quote([photo(pipe, "wide")], CTX, declared=(DOOR,))
    assert quote.decision.outcome == "human_review"
    assert {r.code for r in quote.decision.reasons} == {"undeclared_damage"}
    assert quote.estimate is not None and [i.part for i in quote.estimate.line_items] == ["Door"]
    assert quote.verification is not None and quote.verification.undeclared_parts == ("Bumper",)
    # without declarations the same photo prices all three, as before
    plain = pipe.quote([photo(pipe, "wide")], CTX)
    assert plain.verification is None and plain.estimate is not None and len(plain.estimate.line_items) == 3


def test_a_declared_part_not_found_asks_for_its_close_up_and_is_not_priced() -> None:
    pipe, _ = pipeline({"door": [("Door", 0.9)], "fender": [("Fender", 0.2)]})
    quote = pipe.quote([photo(pipe, "door", DOOR), photo(pipe, "fender", FENDER)], CTX, declared=(DOOR, FENDER))
    assert quote.decision.outcome == "retake_photos"
    (reason,) = quote.decision.reasons
    assert reason.code == "declared_not_found" and reason.photo_id == "fender" and reason.params["part"] == "Fender"
    assert quote.estimate is not None and [i.part for i in quote.estimate.line_items] == ["Door"]


def test_nothing_confirmed_is_nothing_priced() -> None:
    pipe, _ = pipeline({})
    quote = pipe.quote([photo(pipe, "empty")], CTX, declared=(DOOR,))
    assert quote.estimate is None and quote.decision.outcome == "retake_photos"
    assert [r.code for r in quote.decision.reasons] == ["declared_not_found"]


def test_declared_parts_and_tags_are_spelled_as_the_detector_spells_them() -> None:
    pipe, _ = pipeline({"door": [("Door", 0.9)]})
    assert pipe.parts == ["Bonnet", "Bumper", "Door", "Fender"]
    declared = parse_declared(["door:left"], pipe.parts)
    quote = pipe.quote([photo(pipe, "door", DeclaredPart("DOOR", "left"))], CTX,
                       declared=(DeclaredPart("door", "left"),))
    assert quote.declared == declared == (DeclaredPart("Door", "left"),)
    assert quote.photos[0].part == DeclaredPart("Door", "left")
    assert quote.decision.outcome == "auto_settle"


def test_caller_mistakes_are_refused_before_any_model_runs() -> None:
    pipe, detector = pipeline({"door": [("Door", 0.9)]})
    with pytest.raises(UnknownPart):
        pipe.quote([photo(pipe, "door")], CTX, declared=(DeclaredPart("Wheel"),))
    with pytest.raises(InputError, match="door"):
        pipe.quote([photo(pipe, "door", FENDER)], CTX, declared=(DOOR,))
    assert detector.calls == 0


def test_a_claim_is_assessed_again_without_running_the_models() -> None:
    pipe, detector = pipeline({"wide": [("Door", 0.9), ("Bumper", 0.8)]})
    seen = pipe.perceive([photo(pipe, "wide")])
    policy = pipe.policy("CN")
    door_only = pipe.assess(seen, CTX, policy, (DOOR,))
    both = pipe.assess(seen, CTX, policy, (DOOR, DeclaredPart("Bumper")))
    assert detector.calls == 1
    assert door_only.decision.outcome == "human_review" and both.decision.outcome == "auto_settle"
    # what decide read is recorded on the quote: deciding it again gives the same decision
    for quote in (door_only, both):
        assert decide(quote.decision_input(), policy) == quote.decision

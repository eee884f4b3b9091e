"""Declared damage: the text form a customer's parts arrive in, and the part-by-part check against findings."""

from __future__ import annotations

import pytest

from model.declared import DeclaredPart, check_tags, parse_declared, parse_declared_part, verify
from model.errors import InputError, UnknownPart
from model.findings import Finding
from model.manifest import WEIGHTS_DIR, load_manifest

PARTS = ["Bonnet", "Bumper", "Dickey", "Door", "Fender", "Light", "Windshield"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Door", DeclaredPart("Door")),
        ("door", DeclaredPart("Door")),
        ("  WINDSHIELD ", DeclaredPart("Windshield")),
        ("door:left", DeclaredPart("Door", "left")),
        ("Bumper : REAR", DeclaredPart("Bumper", "rear")),
        ("light:front", DeclaredPart("Light", "front")),
    ],
)
def test_parts_are_read_case_insensitively_and_spelled_as_the_vocabulary(text: str, expected: DeclaredPart) -> None:
    parsed = parse_declared_part(text, PARTS)
    assert parsed == expected
    assert parse_declared_part(str(parsed), PARTS) == parsed  # the text form reads back


@pytest.mark.parametrize("text", ["Wing mirror", "", ":left", "Doors", "Door left"])
def test_a_part_outside_the_vocabulary_is_unknown_part(text: str) -> None:
    with pytest.raises(UnknownPart) as err:
        parse_declared_part(text, PARTS)
    assert err.value.code == "unknown_part" and "Fender" in err.value.message


@pytest.mark.parametrize("text", ["Door:up", "Door:", "Door:left:right", "Door:back"])
def test_a_side_other_than_front_rear_left_right_is_refused_with_the_sides(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_declared_part(text, PARTS)
    assert not isinstance(err.value, UnknownPart)
    assert all(side in err.value.message for side in ("front", "rear", "left", "right"))


def test_a_part_declared_twice_counts_once_in_the_order_given() -> None:
    assert parse_declared(["fender", "Door:left", "Fender", "door:LEFT", "Door"], PARTS) == (
        DeclaredPart("Fender"), DeclaredPart("Door", "left"), DeclaredPart("Door"),
    )


def test_the_vocabulary_is_the_shipped_detectors_classes() -> None:
    classes = load_manifest(WEIGHTS_DIR / "detector.onnx", verify=False).classes
    assert parse_declared(classes, classes) == tuple(DeclaredPart(c) for c in classes)
    with pytest.raises(UnknownPart):
        parse_declared_part("Wheel", classes)


def test_photos_may_be_tagged_only_with_a_declared_part() -> None:
    declared = (DeclaredPart("Door", "left"), DeclaredPart("Bumper"))
    check_tags(declared, {"p1": DeclaredPart("Door", "left"), "p2": DeclaredPart("Door"), "p3": None,
                          "p4": DeclaredPart("Bumper", "rear")})
    for tag in (DeclaredPart("Door", "right"), DeclaredPart("Fender")):
        with pytest.raises(InputError, match="p9"):
            check_tags(declared, {"p9": tag})
    with pytest.raises(InputError, match="declares nothing"):
        check_tags((), {"p1": DeclaredPart("Door")})


def found(part: str, photo: str, score: float) -> Finding:
    return Finding(part, {"minor": 1.0}, 0.1, score, photo)


def test_verification_confirms_on_close_ups_and_wide_shots_and_prices_only_what_confirms() -> None:
    door, fender, light = DeclaredPart("Door"), DeclaredPart("Fender"), DeclaredPart("Light")
    findings = (
        found("Door", "door-close", 0.7),
        found("Door", "wide", 0.9),
        found("Door", "door-close", 0.2),  # below the threshold: confirms nothing, priced never
        found("Fender", "door-close", 0.95),  # on the door's close-up: does not confirm the fender
        found("Bumper", "wide", 0.6),  # undeclared
        found("Windshield", "wide", 0.4),  # undeclared but below the threshold: ignored
    )
    tags = {"door-close": door, "fender-close": fender, "wide": None}
    v = verify((door, fender, light), findings, tags, 0.5)
    assert [(c.declared, c.status) for c in v.parts] == [
        (door, "confirmed"), (fender, "not_confirmed"), (light, "not_confirmed"),
    ]
    door_check, fender_check, light_check = v.parts
    assert door_check.finding == findings[1] and door_check.photo_id == "wide"
    assert door_check.close_ups == ("door-close",)
    assert fender_check.photo_id == "fender-close"  # the close-up to retake
    assert light_check.photo_id is None  # nothing to retake but the part itself
    assert v.priced == (findings[0], findings[1])
    assert v.undeclared == (findings[4],) and v.undeclared_parts == ("Bumper",)
    assert v.confirmed_parts == {"door"} and not v.complete


def test_verification_is_complete_when_everything_declared_is_found_and_nothing_else() -> None:
    door = DeclaredPart("Door")
    assert verify((door,), (found("Door", "p1", 0.5),), {}, 0.5).complete
    assert not verify((door,), (found("Door", "p1", 0.49),), {}, 0.5).complete
    assert not verify((door,), (found("Door", "p1", 0.9), found("Light", "p1", 0.5)), {}, 0.5).complete

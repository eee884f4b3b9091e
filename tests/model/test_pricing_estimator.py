"""The deterministic estimator: line items, repair-or-replace, merging, and typed input errors."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from model.errors import InvalidArea, UnknownPart, UnknownRegion, UnknownSegment, UnknownSeverity
from model.findings import ClaimContext, Finding
from model.pricing import Catalogue, Estimator, load_catalogue
from model.pricing.catalogue import Figure

CN_MID = ClaimContext(segment="mid", region="CN")
US_MID = ClaimContext(segment="mid", region="US")


def finding(
    part: str = "Bumper",
    severity: str | Mapping[str, float] = "minor",
    area: float = 0.05,
    photo: str | None = "p1",
) -> Finding:
    """A finding with one-hot severity unless probabilities are given."""
    probs = {severity: 1.0} if isinstance(severity, str) else severity
    return Finding(part=part, severity=probs, area_fraction=area, photo_id=photo)


@pytest.fixture(scope="module")
def estimator() -> Estimator:
    return Estimator(load_catalogue())


def test_minor_bumper_scratch_in_china_is_a_small_claim(estimator: Estimator) -> None:
    quote = estimator.price([finding("Bumper", "minor", 0.03)], CN_MID)
    assert quote.currency == "CNY"
    assert [i.operation for i in quote.line_items] == ["repair"]
    assert 0 < quote.total < 1000  # far under the 2,000 CNY fast-claim limit


def test_empty_findings_price_to_zero(estimator: Estimator) -> None:
    quote = estimator.price([], US_MID)
    assert (quote.total, quote.low, quote.high, quote.line_items) == (0, 0, 0, ())
    assert quote.currency == "USD" and quote.pricer == "estimator"


def test_line_items_add_up_and_interval_brackets_total(estimator: Estimator) -> None:
    quote = estimator.price([finding("Door", "moderate", 0.1), finding("Light", "severe", 0.02)], US_MID)
    assert quote.total == pytest.approx(sum(i.total for i in quote.line_items), abs=0.01)
    for item in quote.line_items:
        parts = item.parts_cost + item.labour_cost + item.refinish_cost + item.materials_cost
        assert item.total == pytest.approx(parts, abs=0.01)
    assert quote.low < quote.total < quote.high and quote.level == 0.9
    assert quote.catalogue_version == "2026.1"


def test_severity_decides_repair_or_replace(estimator: Estimator) -> None:
    quote = estimator.price(
        [finding("Light", "severe"), finding("Windshield", "minor"), finding("Door", "minor")], CN_MID
    )
    ops = {i.part: i.operation for i in quote.line_items}
    assert ops == {"Door": "repair", "Light": "replace", "Windshield": "repair"}
    assert next(i for i in quote.line_items if i.part == "Light").parts_cost > 0


def test_replace_when_repair_approaches_part_price() -> None:
    catalogue = load_catalogue()

    def operation(ratio: float) -> str:
        spec = catalogue.spec.model_copy(
            update={"replace_when_repair_exceeds": Figure(value=ratio, source="illustrative")}
        )
        quote = Estimator(Catalogue(spec)).price([finding("Fender", "severe", 0.2)], US_MID)
        return quote.line_items[0].operation

    assert operation(0.05) == "replace"
    assert operation(5.0) == "repair"


def test_findings_on_one_part_are_merged_not_double_counted(estimator: Estimator) -> None:
    one = estimator.price([finding("Door", "moderate", 0.10)], CN_MID)
    split = estimator.price([finding("door", "moderate", 0.06), finding("DOOR", "minor", 0.04)], CN_MID)
    assert len(split.line_items) == 1 and split.line_items[0].part == "Door"
    assert split.total == pytest.approx(one.total)


def test_merge_takes_worst_severity_and_does_not_add_areas_across_photos(estimator: Estimator) -> None:
    worst = estimator.price(
        [finding("Bonnet", "minor", photo="p1"), finding("Bonnet", "severe", photo="p2")], US_MID
    )
    assert worst.total == estimator.price([finding("Bonnet", "severe")], US_MID).total
    twice = estimator.price(
        [finding("Door", "moderate", 0.1, "p1"), finding("Door", "moderate", 0.1, "p2")], US_MID
    )
    assert twice.total == estimator.price([finding("Door", "moderate", 0.1)], US_MID).total
    summed = estimator.price(
        [finding("Door", "moderate", 0.1, "p1"), finding("Door", "moderate", 0.1, "p1")], US_MID
    )
    assert summed.total > twice.total


def test_heavy_us_front_end_claim_is_in_the_published_range(estimator: Estimator) -> None:
    front = [finding(p, "severe", 0.2) for p in ("Bumper", "Bonnet", "Fender", "Light")]
    quote = estimator.price(front, US_MID)
    assert 2500 < quote.total < 7000  # CCC: average repairable claim above USD 4,700 (2024)


@pytest.mark.parametrize(
    ("bad", "error", "words"),
    [
        (finding("Wing mirror"), UnknownPart, "Bonnet"),
        (finding(area=-0.1), InvalidArea, "between 0 and 1"),
        (finding(area=1.5), InvalidArea, "between 0 and 1"),
        (finding(area=float("nan")), InvalidArea, "between 0 and 1"),
        (finding(severity={"catastrophic": 1.0}), UnknownSeverity, "minor, moderate, severe"),
        (finding(severity={"minor": 0.0}), UnknownSeverity, "all zero"),
    ],
)
def test_bad_findings_raise_typed_errors(
    estimator: Estimator, bad: Finding, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        estimator.price([bad], CN_MID)


def test_bad_context_raises_typed_errors(estimator: Estimator) -> None:
    with pytest.raises(UnknownRegion, match="DE"):
        estimator.price([finding()], ClaimContext(region="DE"))
    with pytest.raises(UnknownSegment, match="economy, mid, premium"):
        estimator.price([], ClaimContext(segment="luxury"))


def test_premium_parts_cost_more(estimator: Estimator) -> None:
    totals = [
        estimator.price([finding("Light", "severe")], ClaimContext(segment=s, region="CN")).total
        for s in ("economy", "mid", "premium")
    ]
    assert totals == sorted(totals) and totals[0] < totals[2]

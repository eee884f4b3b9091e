"""The deterministic catalogue estimator: merged findings to repair-or-replace line items and a total."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from model.errors import InvalidArea, UnknownSeverity
from model.findings import SEVERITY_LEVELS, ClaimContext, Finding, LineItem, PriceEstimate, Segment, Severity
from model.pricing.catalogue import Catalogue, EstimatorInterval

ESTIMATOR_VERSION = "1.0"


@dataclass(frozen=True)
class MergedFinding:
    """Every finding on one part folded into one: worst severity, combined area."""

    part: str
    severity: tuple[float, float, float]
    area_fraction: float
    count: int

    @property
    def label(self) -> Severity:
        """The most likely severity; a tie goes to the worse level."""
        best = max(range(len(SEVERITY_LEVELS)), key=lambda i: (self.severity[i], i))
        return SEVERITY_LEVELS[best]


@dataclass(frozen=True)
class Claim:
    """Validated findings and context in the catalogue's spelling, ready to price."""

    parts: tuple[MergedFinding, ...]
    region: str
    segment: Segment


def severity_vector(probabilities: Mapping[str, float]) -> tuple[float, float, float]:
    """Minor / moderate / severe probabilities, validated and normalised to sum to 1."""
    values = dict.fromkeys(SEVERITY_LEVELS, 0.0)
    for key, value in probabilities.items():
        name = str(key).strip().casefold()
        if name not in values:
            raise UnknownSeverity(
                f"unknown severity {key!r}; give probabilities for {', '.join(SEVERITY_LEVELS)}"
            )
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise UnknownSeverity(f"severity probability for {key!r} is {value!r}; use a number in [0, 1]")
        values[name] = number
    total = sum(values.values())
    if total <= 0:
        raise UnknownSeverity(
            "severity probabilities are empty or all zero; give at least one positive value"
        )
    minor, moderate, severe = (values[level] / total for level in SEVERITY_LEVELS)
    return (minor, moderate, severe)


def _check_area(finding: Finding) -> float:
    area = float(finding.area_fraction)
    if not math.isfinite(area) or area < 0 or area > 1:
        raise InvalidArea(
            f"damaged area {finding.area_fraction!r} on {finding.part!r} must be a fraction of the image "
            "between 0 and 1"
        )
    return area


def _worst(vectors: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    # Fold "at least this bad" probabilities with max: the merge is never milder than any one finding.
    at_least_moderate = max(v[1] + v[2] for v in vectors)
    at_least_severe = max(v[2] for v in vectors)
    return (1.0 - at_least_moderate, at_least_moderate - at_least_severe, at_least_severe)


def merge_findings(findings: Sequence[Finding], catalogue: Catalogue) -> tuple[MergedFinding, ...]:
    """One merged finding per part, in catalogue order.

    Areas add up within one photo (several dents on a panel) but not across photos (the same
    panel shot twice), so the combined area is the largest per-photo sum, capped at 1.
    """
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        grouped[catalogue.part_name(finding.part)].append(finding)
    merged: list[MergedFinding] = []
    for part in catalogue.parts:
        group = grouped.get(part)
        if not group:
            continue
        per_photo: dict[str | None, float] = defaultdict(float)
        for finding in group:
            per_photo[finding.photo_id] += _check_area(finding)
        severity = _worst([severity_vector(f.severity) for f in group])
        merged.append(MergedFinding(part, severity, min(1.0, max(per_photo.values())), len(group)))
    return tuple(merged)


def _money(value: float) -> float:
    return round(value + 0.0, 2)


class Estimator:
    """Prices a claim from the catalogue alone; its interval is a fixed band on the log total."""

    name = "estimator"
    version = ESTIMATOR_VERSION

    def __init__(self, catalogue: Catalogue, band: EstimatorInterval | None = None) -> None:
        self.catalogue = catalogue
        self.band = band if band is not None else catalogue.spec.estimator_interval

    def claim(self, findings: Sequence[Finding], context: ClaimContext) -> Claim:
        """Validate findings and context and merge the findings per part."""
        region = self.catalogue.region_name(context.region)
        segment = self.catalogue.segment_name(context.segment)
        return Claim(merge_findings(findings, self.catalogue), region, segment)

    def line_item(self, found: MergedFinding, region: str, segment: Segment) -> LineItem:
        """Repair or replace one part: replace when the severity rules out repair or repair costs too much."""
        spec = self.catalogue.spec
        part = spec.parts[found.part]
        rates = spec.regions[region]
        severity = found.label
        price = part.price[region].of(segment)
        repair_hours = part.repair_hours.of(severity) * spec.area_scaling.factor(
            found.area_fraction
        )
        repair_cost = repair_hours * rates.labour_rate.value
        too_dear = repair_cost >= spec.replace_when_repair_exceeds.value * price
        if part.repairable(severity) and not too_dear:
            operation: str = "repair"
            parts_cost, hours = 0.0, repair_hours
            refinish = part.refinish_hours.value * spec.repair_refinish_share.of(severity)
            why = f"{severity} damage on {found.area_fraction:.0%} of the photo"
        else:
            operation, parts_cost, hours = "replace", price, part.replace_hours.value
            refinish = part.refinish_hours.value
            why = (
                f"{severity} damage"
                if not part.repairable(severity)
                else (
                    f"{severity} damage; repair labour {repair_cost:.0f} reaches "
                    f"{spec.replace_when_repair_exceeds.value:.0%} of the part price {price:.0f}"
                )
            )
        labour = _money(hours * rates.labour_rate.value)
        refinish_cost = _money(refinish * rates.paint_labour_rate.value)
        materials = _money(refinish * rates.paint_materials_per_hour.value)
        parts_money = _money(parts_cost)
        return LineItem(
            part=found.part,
            operation="repair" if operation == "repair" else "replace",
            parts_cost=parts_money,
            labour_hours=round(hours, 2),
            labour_cost=labour,
            refinish_hours=round(refinish, 2),
            refinish_cost=refinish_cost,
            materials_cost=materials,
            total=_money(parts_money + labour + refinish_cost + materials),
            description=f"{operation} {found.part}: {why}",
        )

    def line_items(self, claim: Claim) -> tuple[LineItem, ...]:
        """One line item per damaged part."""
        return tuple(self.line_item(found, claim.region, claim.segment) for found in claim.parts)

    def price(self, findings: Sequence[Finding], context: ClaimContext) -> PriceEstimate:
        """Line items, total and the catalogue's fixed band as the prediction interval."""
        return self.price_claim(self.claim(findings, context))

    def price_claim(self, claim: Claim) -> PriceEstimate:
        """Price an already validated and merged claim."""
        items = self.line_items(claim)
        total = _money(sum(item.total for item in items))
        return PriceEstimate(
            line_items=items,
            total=total,
            low=_money(total * math.exp(self.band.log_low)),
            high=_money(total * math.exp(self.band.log_high)),
            level=self.band.level,
            currency=self.catalogue.currency_for(claim.region),
            catalogue_version=self.catalogue.version,
            pricer=self.name,
            pricer_version=self.version,
            notes=("priced from the catalogue alone; the interval is a fixed band calibrated on a ledger",)
            if items
            else (),
        )

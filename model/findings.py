"""Domain types shared by perception, pricing and decision: frozen, converted only at the edges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from model.fields import Hours, Money, Part, Text

# re-exported: the domain words travel with the records that use them
from model.vocabulary import SEVERITY_LEVELS as SEVERITY_LEVELS
from model.vocabulary import Operation as Operation
from model.vocabulary import Segment as Segment
from model.vocabulary import Severity as Severity


@dataclass(frozen=True)
class Detection:
    """One damaged part found by the detector, in pixels of the image it was given."""

    box: tuple[float, float, float, float]
    label: str
    score: float
    class_id: int

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


@dataclass(frozen=True)
class SeverityGrade:
    """Probabilities for minor / moderate / severe damage (they sum to 1)."""

    probabilities: Mapping[str, float]

    @property
    def label(self) -> str:
        return max(self.probabilities, key=lambda k: self.probabilities[k])

    @property
    def confidence(self) -> float:
        return max(self.probabilities.values())


@dataclass(frozen=True)
class Finding:
    """What pricing needs to know about one damage: which part, how bad, how big."""

    part: str
    severity: Mapping[str, float]
    area_fraction: float
    score: float = 1.0
    photo_id: str | None = None
    box: tuple[float, float, float, float] | None = None
    # the part verifier's probability that the crop shows damage to this part; None when no verifier ran
    agreement: float | None = None


@dataclass(frozen=True)
class ClaimContext:
    """The vehicle and place a claim is priced for."""

    segment: str = "mid"
    region: str = "CN"


class LineItem(BaseModel):
    """One priced part of a quote: a part repaired or replaced, with its labour, paint and materials.

    The one declaration of a line item: the database columns (``serve.db.rows.LineItemRow``), the API's
    output and the adjuster's edit form are derived from these fields. Only the part, the operation and
    the total are required; an adjuster may enter a lump sum without its breakdown.
    """

    model_config = ConfigDict(frozen=True)

    part: Part
    operation: Operation
    parts_cost: Money = 0.0
    labour_hours: Hours = 0.0
    labour_cost: Money = 0.0
    refinish_hours: Hours = 0.0
    refinish_cost: Money = 0.0
    materials_cost: Money = 0.0
    total: Money
    description: Annotated[Text, Field(max_length=500)] = ""

    @property
    def breakdown(self) -> float:
        """What the line's costs add up to: parts, labour, refinish and materials; 0 for a lump sum."""
        return round(self.parts_cost + self.labour_cost + self.refinish_cost + self.materials_cost, 2)


@dataclass(frozen=True)
class PriceEstimate:
    """Line items, total and prediction interval for a claim, with what produced them."""

    line_items: tuple[LineItem, ...]
    total: float
    low: float
    high: float
    level: float
    currency: str
    catalogue_version: str
    pricer: str
    pricer_version: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def relative_width(self) -> float:
        return (self.high - self.low) / self.total if self.total > 0 else float("inf")

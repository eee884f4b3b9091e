"""What one run of the pipeline takes and gives: photos in, what the models saw, the quote out.

Frozen domain records; ``model.pipeline`` makes them and re-exports them. A quote records the versions of
everything that produced it, the declared parts and what the photos confirmed of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from model.decision import Decision, DecisionInput, PhotoFlags, Reason
from model.declared import DeclaredPart, Verification
from model.findings import ClaimContext, Finding, PriceEstimate
from model.image_io import DecodedImage
from model.quality import QualityReport


@dataclass(frozen=True)
class PhotoInput:
    """One decoded photo of a claim, with what intake knows about it."""

    photo_id: str
    image: DecodedImage
    duplicate_of_claim: str | None = None
    part: DeclaredPart | None = None  # the declared part this photo is a close-up of; None: a wide shot


@dataclass(frozen=True)
class PhotoFinding:
    """One damage on one photo; the box is in pixels of the upright original photo."""

    part: str
    box: Annotated[tuple[float, float, float, float], Field(description="x1, y1, x2, y2 in pixels of the photo")]
    score: Annotated[float, Field(description="detector score")]
    severity: Annotated[Mapping[str, float], Field(description="probabilities of minor / moderate / severe damage")]
    area_fraction: float
    agreement: Annotated[float | None, Field(description="the part verifier's probability that the crop shows "
                                             "damage to this part; none when no verifier ran")] = None


@dataclass(frozen=True)
class PhotoResult:
    """What the pipeline saw on one photo."""

    photo_id: str
    sha256: str
    size: tuple[int, int]
    quality: QualityReport
    findings: tuple[PhotoFinding, ...]
    duplicate_of_claim: str | None = None
    part: DeclaredPart | None = None  # its tag: the declared part it is a close-up of; None: a wide shot


def photo_findings(photos: Sequence[PhotoResult]) -> tuple[Finding, ...]:
    """Every finding of the photos, as pricing and the decision read them."""
    return tuple(
        Finding(f.part, f.severity, f.area_fraction, score=f.score, photo_id=p.photo_id, box=f.box,
                agreement=f.agreement)
        for p in photos
        for f in p.findings
    )


def photo_flags(photos: Sequence[PhotoResult]) -> tuple[PhotoFlags, ...]:
    """What the decision reads about each photo: quality, duplicate, tag."""
    return tuple(PhotoFlags(p.photo_id, p.quality.issues, p.duplicate_of_claim, p.part) for p in photos)


@dataclass(frozen=True)
class Perception:
    """What the models saw on a claim's photos, before verification, pricing and the decision."""

    photos: tuple[PhotoResult, ...]
    failures: tuple[Reason, ...] = ()
    failed_stages: tuple[str, ...] = ()
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    def findings(self) -> tuple[Finding, ...]:
        """Every photo's findings."""
        return photo_findings(self.photos)


@dataclass(frozen=True)
class Quote:
    """Findings per photo, the price, the decision and the versions of everything that produced them."""

    photos: tuple[PhotoResult, ...]
    estimate: PriceEstimate | None
    decision: Decision
    versions: Mapping[str, str]
    context: ClaimContext
    jurisdiction: str
    currency: str
    failed_stages: tuple[str, ...] = ()
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    # The parts the customer declared (as the detector spells them) and, when there are any, the check of
    # each against the findings at the policy's threshold; the estimate then covers confirmed parts only.
    declared: tuple[DeclaredPart, ...] = ()
    verification: Verification | None = None

    def findings(self) -> tuple[Finding, ...]:
        """Every photo's findings (with declarations, the priced ones are ``verification.priced``)."""
        return photo_findings(self.photos)

    def failures(self) -> tuple[Reason, ...]:
        """The reasons its decision gives for stages that could not run."""
        return tuple(r for r in self.decision.reasons if r.code in ("model_unavailable", "pipeline_error"))

    def decision_input(self) -> DecisionInput:
        """What ``decide`` read about this claim, to decide it again under another policy."""
        flags = photo_flags(self.photos)
        return DecisionInput(self.findings(), self.estimate, flags, self.failures(), self.versions, self.declared)

"""A synthetic claims ledger made from the catalogue with a stated noise model (source ``synthetic-v1``).

No public data pairs photos with the amount actually paid, so until an insurer's ledger is available
the cost head learns from claims made up as follows (every knob is in :class:`NoiseModel`, one group per step):

1. **Claim**: region, vehicle segment and settlement date drawn at random; an impact zone (front,
   rear, side) picks 1-4 damaged parts; a claim intensity picks each part's *true* severity, and the
   true damaged area follows the severity (lognormal around a per-severity median).
2. **What the photos show** (the findings stored in the ledger): the severity model's probabilities
   are a noisy softmax around the true severity (so the most likely grade is sometimes wrong), the
   area is measured with lognormal error, and some damages are reported twice (two boxes on one
   photo, or the same panel on a second photo) to exercise merging.
3. **What was paid**: the catalogue estimate of the *true* damage, then
   - regional price spread: per-claim lognormal factors on labour (sigma per region) and on parts;
     premium vehicles go to dealer shops that charge ``premium_labour_uplift`` more for labour;
   - estimator-to-estimator variance: a lognormal factor on the total;
   - hidden damage found after teardown: with probability ``hidden_base`` plus ``hidden_severe`` if any
     part is severe plus ``hidden_front`` if the front end (Bonnet, Bumper, Light, Fender) is hit, a
     supplement of U(``supplement_low``, ``supplement_high``) of the total is added (industry reports
     supplements averaging over half of the original estimate);
   - rounding to the currency's usual unit.

Every row says ``source = synthetic-v1``; reports built on it say so too.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from model.findings import SEVERITY_LEVELS, ClaimContext, Finding
from model.ledger import LedgerFinding, LedgerRow
from model.pricing.catalogue import Catalogue
from model.pricing.estimator import Estimator
from model.vocabulary import SEGMENTS

SYNTHETIC_SOURCE = "synthetic-v1"
FRONT_END = frozenset({"Bonnet", "Bumper", "Light", "Fender"})
ZONES: dict[str, dict[str, float]] = {
    "front": {"Bumper": 0.35, "Bonnet": 0.2, "Light": 0.2, "Fender": 0.15, "Windshield": 0.1},
    "rear": {"Bumper": 0.45, "Dickey": 0.35, "Light": 0.2},
    "side": {"Door": 0.65, "Fender": 0.35},
}


class ClaimMix(BaseModel):
    """Step 1: which claims happen — where, on what vehicle, which parts, how badly and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    region_weights: dict[str, float] = Field(default_factory=lambda: {"CN": 0.6, "US": 0.4})
    segment_weights: tuple[float, float, float] = (0.4, 0.4, 0.2)
    zone_weights: tuple[float, float, float] = (0.45, 0.35, 0.2)
    parts_per_claim: tuple[float, float, float, float] = (0.45, 0.3, 0.17, 0.08)
    intensity: dict[str, tuple[float, float, float]] = Field(
        default_factory=lambda: {
            "light": (0.75, 0.2, 0.05),
            "medium": (0.25, 0.55, 0.2),
            "heavy": (0.05, 0.35, 0.6),
        }
    )
    intensity_weights: tuple[float, float, float] = (0.5, 0.35, 0.15)
    area_median: tuple[float, float, float] = (0.04, 0.1, 0.22)
    area_sigma: float = Field(0.5, ge=0)
    start: dt.date = dt.date(2024, 1, 1)
    days: int = 731


class PhotoNoise(BaseModel):
    """Step 2: how the findings stored in the ledger differ from the true damage."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    grader_strength: float = 2.2
    grader_noise: float = Field(1.0, ge=0)
    """The severity model's logits: N(0, grader_noise) each, plus grader_strength on the true grade."""
    area_error_sigma: float = Field(0.25, ge=0)
    """Sigma of the lognormal error on the measured damaged area."""
    duplicate_rate: float = Field(0.1, ge=0, le=1)
    second_photo_rate: float = Field(0.2, ge=0, le=1)
    """Shares of damages reported as two boxes on one panel, and of claims with a second photo of them."""


class PaymentNoise(BaseModel):
    """Step 3: how the amount paid differs from the catalogue estimate of the true damage."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    labour_sigma: dict[str, float] = Field(default_factory=lambda: {"CN": 0.15, "US": 0.1})
    parts_sigma: float = Field(0.08, ge=0)
    estimator_sigma: float = Field(0.1, ge=0)
    """Sigmas of the lognormal factors on labour (per region), on parts, and on the whole total."""
    premium_labour_uplift: float = Field(0.15, ge=0)
    """Extra labour charged for premium vehicles, which go to dealer shops."""
    hidden_base: float = Field(0.08, ge=0, le=1)
    hidden_severe: float = Field(0.22, ge=0, le=1)
    hidden_front: float = Field(0.1, ge=0, le=1)
    """Chance of hidden damage: the base, plus ``hidden_severe`` if a part is severe, plus ``hidden_front``
    if the front end is hit."""
    supplement_low: float = Field(0.2, ge=0)
    supplement_high: float = Field(0.8, ge=0)
    """What hidden damage adds: a uniform share of the total between these two."""
    rounding: dict[str, float] = Field(default_factory=lambda: {"CNY": 10.0, "USD": 5.0})


class NoiseModel(BaseModel):
    """Every random effect between the catalogue and the amount paid, in the module docstring's three steps."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    claims: ClaimMix = Field(default_factory=ClaimMix)
    photos: PhotoNoise = Field(default_factory=PhotoNoise)
    paid: PaymentNoise = Field(default_factory=PaymentNoise)


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.asarray([weights[n] for n in names], dtype=float)
    return str(names[int(rng.choice(len(names), p=p / p.sum()))])


def _observed_severity(rng: np.random.Generator, true_index: int, noise: PhotoNoise) -> dict[str, float]:
    logits = rng.normal(0.0, noise.grader_noise, size=3)
    logits[true_index] += noise.grader_strength
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return {level: round(float(v), 4) for level, v in zip(SEVERITY_LEVELS, p, strict=True)}


def _claim_findings(
    rng: np.random.Generator, parts: list[str], severities: list[int], areas: list[float], noise: PhotoNoise
) -> list[LedgerFinding]:
    two_photos = rng.random() < noise.second_photo_rate
    out: list[LedgerFinding] = []
    for part, sev, area in zip(parts, severities, areas, strict=True):
        seen = float(np.clip(area * rng.lognormal(0.0, noise.area_error_sigma), 0.001, 1.0))
        if rng.random() < noise.duplicate_rate:  # two boxes on one panel: areas add up
            share = float(rng.uniform(0.3, 0.7))
            for piece in (seen * share, seen * (1 - share)):
                severity = _observed_severity(rng, sev, noise)
                out.append(
                    LedgerFinding(part=part, severity=severity, area_fraction=round(piece, 5), photo_id="p1")
                )
        else:
            severity = _observed_severity(rng, sev, noise)
            out.append(
                LedgerFinding(part=part, severity=severity, area_fraction=round(seen, 5), photo_id="p1")
            )
        if two_photos:  # the same panel again from another angle: areas must not add up across photos
            again = float(np.clip(seen * rng.lognormal(0.0, 0.2), 0.001, 1.0))
            severity = _observed_severity(rng, sev, noise)
            out.append(
                LedgerFinding(part=part, severity=severity, area_fraction=round(again, 5), photo_id="p2")
            )
    return out


def _paid(
    rng: np.random.Generator,
    estimator: Estimator,
    truth: list[Finding],
    context: ClaimContext,
    noise: PaymentNoise,
) -> float:
    estimate = estimator.price(truth, context)
    parts = sum(item.parts_cost for item in estimate.line_items)
    labour = estimate.total - parts
    region, segment = context.region, context.segment
    labour_factor = rng.lognormal(0.0, noise.labour_sigma.get(region, 0.1))
    if segment == "premium":
        labour_factor *= 1.0 + noise.premium_labour_uplift
    paid = parts * rng.lognormal(0.0, noise.parts_sigma) + labour * labour_factor
    paid *= rng.lognormal(0.0, noise.estimator_sigma)
    severe = any(f.severity.get("severe", 0.0) == 1.0 for f in truth)
    front = any(f.part in FRONT_END for f in truth)
    p_hidden = noise.hidden_base + noise.hidden_severe * severe + noise.hidden_front * front
    if rng.random() < p_hidden:
        paid *= 1.0 + rng.uniform(noise.supplement_low, noise.supplement_high)
    unit = noise.rounding.get(estimator.catalogue.currency_for(region), 1.0)
    return float(max(unit, round(paid / unit) * unit))


def synthetic_rows(
    catalogue: Catalogue, size: int, seed: int, noise: NoiseModel | None = None
) -> list[LedgerRow]:
    """``size`` synthetic settled claims, reproducible from ``seed``."""
    noise = noise if noise is not None else NoiseModel()
    mix = noise.claims
    rng = np.random.default_rng(seed)
    estimator = Estimator(catalogue)
    zones = list(ZONES)
    rows: list[LedgerRow] = []
    for i in range(size):
        region = catalogue.region_name(_pick(rng, mix.region_weights))
        segment = SEGMENTS[int(rng.choice(3, p=np.asarray(mix.segment_weights)))]
        zone = ZONES[zones[int(rng.choice(3, p=np.asarray(mix.zone_weights)))]]
        n = min(len(zone), 1 + int(rng.choice(4, p=np.asarray(mix.parts_per_claim))))
        names = list(zone)
        weights = np.asarray([zone[k] for k in names])
        parts = [names[j] for j in rng.choice(len(names), size=n, replace=False, p=weights / weights.sum())]
        shares = mix.intensity[_pick(rng, dict(zip(mix.intensity, mix.intensity_weights, strict=True)))]
        severities = [int(rng.choice(3, p=np.asarray(shares))) for _ in parts]
        areas = [
            float(np.clip(mix.area_median[s] * rng.lognormal(0.0, mix.area_sigma), 0.005, 1.0))
            for s in severities
        ]
        truth = [
            Finding(p, {SEVERITY_LEVELS[s]: 1.0}, a) for p, s, a in zip(parts, severities, areas, strict=True)
        ]
        context = ClaimContext(segment=segment, region=region)
        rows.append(
            LedgerRow(
                claim_id=f"SYN-{seed}-{i:06d}",
                date=mix.start + dt.timedelta(days=int(rng.integers(mix.days))),
                region=region,
                segment=segment,
                currency=catalogue.currency_for(region),
                paid=_paid(rng, estimator, truth, context, noise.paid),
                findings=tuple(_claim_findings(rng, parts, severities, areas, noise.photos)),
                source=SYNTHETIC_SOURCE,
            )
        )
    return rows

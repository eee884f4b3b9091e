"""Test fakes of the pipeline's parts, one of each: they satisfy the Protocols in ``model/pipeline.py`` and do
as told (find given parts, grade with given probabilities, price each finding at a given amount, fail)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from model.findings import ClaimContext, Detection, Finding, LineItem, PriceEstimate, SeverityGrade
from model.pipeline import CatalogueLike, DetectorLike, Pipeline, PipelineConfig, SeverityLike
from model.pricing.pricer import Pricer
from model.quality import QualityThresholds
from tests.conftest import TEST_POLICIES_DIR

# The parts the fake detector knows (its manifest's classes) and the fake catalogue prices.
CLASSES = ["Bonnet", "Bumper", "Door", "Fender"]
BoxSpec = tuple[str, tuple[float, float, float, float], float]  # part, box as fractions of the image, score


@dataclass(frozen=True)
class FakeManifest:
    name: str = "fake"
    version: str = "1"
    classes: list[str] = field(default_factory=lambda: list(CLASSES))


@dataclass
class FakeDetector:
    """Finds the given parts at boxes given as fractions of the image; records the size of each image seen."""

    parts: Sequence[BoxSpec] = (("Bumper", (0.2, 0.3, 0.7, 0.8), 0.9),)
    fail: Exception | None = None
    input_size: int = 320
    manifest: FakeManifest = field(default_factory=lambda: FakeManifest("fake-detector", "0.1"))
    seen: list[tuple[int, int]] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.seen)

    def detect(self, image: Image.Image) -> list[Detection]:
        self.seen.append(image.size)
        if self.fail is not None:
            raise self.fail
        w, h = image.size
        return [
            Detection(box=(x1 * w, y1 * h, x2 * w, y2 * h), label=label, score=score, class_id=i)
            for i, (label, (x1, y1, x2, y2), score) in enumerate(self.parts)
        ]


@dataclass
class FakeSeverity:
    """Grades every crop with the given probabilities; records the size of each crop."""

    probabilities: dict[str, float] = field(default_factory=lambda: {"minor": 0.8, "moderate": 0.15, "severe": 0.05})
    input_size: int = 224
    manifest: FakeManifest = field(default_factory=lambda: FakeManifest("fake-severity", "0.1"))
    crops: list[tuple[int, int]] = field(default_factory=list)
    photos: list[tuple[int, int] | None] = field(default_factory=list)  # the whole photo given with each run

    def grade_many(self, images: Sequence[Image.Image], photo: Image.Image | None = None) -> list[SeverityGrade]:
        self.crops.extend(image.size for image in images)
        self.photos.append(None if photo is None else photo.size)
        return [SeverityGrade(probabilities=dict(self.probabilities)) for _ in images]


@dataclass
class FakeVerifier:
    """The part verifier: agrees with every detection by ``probability``; records the crops and parts asked about."""

    probability: float = 0.95
    fail: Exception | None = None
    manifest: FakeManifest = field(default_factory=lambda: FakeManifest("fake-verifier", "0.3"))
    asked: list[tuple[tuple[int, int], str]] = field(default_factory=list)

    def agreement(self, crops: Sequence[Image.Image], parts: Sequence[str]) -> list[float]:
        if self.fail is not None:
            raise self.fail
        self.asked.extend((c.size, p) for c, p in zip(crops, parts, strict=True))
        return [self.probability] * len(crops)

@dataclass
class FakeCatalogue:
    version: str = "fake-catalogue-1"
    parts: list[str] = field(default_factory=lambda: list(CLASSES))

    def currency_for(self, region: str) -> str:
        return {"CN": "CNY", "US": "USD"}[region]


@dataclass
class FakePricer:
    """Prices each finding at ``per_finding``; the interval is ``interval`` times the total."""

    per_finding: float = 500.0
    interval: tuple[float, float] = (0.8, 1.2)
    fail: Exception | None = None
    name: str = "fake-pricer"
    version: str = "0.1"
    catalogue_version: str = "fake-catalogue-1"

    def price(self, findings: Sequence[Finding], context: ClaimContext) -> PriceEstimate:
        if self.fail is not None:
            raise self.fail
        items = tuple(
            LineItem(
                part=f.part,
                operation="repair",
                parts_cost=0.0,
                labour_hours=1.0,
                labour_cost=self.per_finding * 0.6,
                refinish_hours=1.0,
                refinish_cost=self.per_finding * 0.3,
                materials_cost=self.per_finding * 0.1,
                total=self.per_finding,
                description=f"repair {f.part}",
            )
            for f in findings
        )
        total = self.per_finding * len(findings)
        low, high = self.interval
        return PriceEstimate(
            line_items=items,
            total=total,
            low=total * low,
            high=total * high,
            level=0.9,
            currency=FakeCatalogue().currency_for(context.region),
            catalogue_version=self.catalogue_version,
            pricer=self.name,
            pricer_version=self.version,
        )


def fake_pipeline(
    detector: DetectorLike | None = None,
    severity: SeverityLike | None = None,
    pricer: Pricer | None = None,
    catalogue: CatalogueLike | None = None,
    missing: bool = False,
    verifier: FakeVerifier | None = None,
) -> Pipeline:
    """A pipeline on fakes; ``missing`` builds one whose models failed to load."""
    config = PipelineConfig(quality=QualityThresholds(min_side=200), policies_dir=TEST_POLICIES_DIR)
    if missing:
        return Pipeline(None, None, None, None, config, ["detector: fake missing", "severity: fake missing"])
    return Pipeline(
        detector or FakeDetector(),
        severity or FakeSeverity(),
        pricer or FakePricer(),
        catalogue or FakeCatalogue(),
        config,
        verifier=verifier,
    )


def photo_bytes(
    width: int = 640,
    height: int = 480,
    fmt: str = "JPEG",
    brightness: float = 128.0,
    noise: float = 40.0,
    seed: int = 0,
    mode: str = "RGB",
    exif_orientation: int | None = None,
) -> bytes:
    """A synthetic photo with texture (so it is sharp) at a given mean brightness; distinct per seed."""
    rng = np.random.default_rng(seed)
    arr = rng.normal(brightness, noise, size=(height, width, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(arr, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    buf = io.BytesIO()
    kwargs: dict[str, object] = {"quality": 90} if fmt == "JPEG" else {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def phone_photo(
    width: int = 4032, height: int = 3024, seed: int = 0, exif_orientation: int | None = None
) -> bytes:
    """A JPEG that compresses like a camera photo (smooth structure, mild noise): ~3 MB at 12 MP."""
    rng = np.random.default_rng(seed)
    small = rng.normal(128, 50, size=(max(1, height // 32), max(1, width // 32), 3)).clip(0, 255)
    image = Image.fromarray(small.astype(np.uint8), "RGB").resize((width, height), Image.Resampling.BICUBIC)
    arr = np.asarray(image, dtype=np.float32) + rng.normal(0, 4, size=(height, width, 3))
    buf = io.BytesIO()
    kwargs: dict[str, object] = {"quality": 90}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif
    Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").save(buf, format="JPEG", **kwargs)
    return buf.getvalue()

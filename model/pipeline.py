"""Photos in, quote out: decode → quality → detect → grade → verify → price → decide. Pure domain, no web, no DB.

The service, the ``autoquote quote`` command and the benchmarks all run this one pipeline. Any failure
inside a stage becomes a reason (``model_unavailable`` or ``pipeline_error``) that routes the claim to a
human; it never auto-settles and never escapes as an exception. Only the caller's own mistakes (an
unknown jurisdiction or region, a declared part outside the detector's classes, a photo tagged with a part
the claim does not declare) raise.

``quote`` is ``perceive`` (the models, once per photo) then ``assess`` (verify the declared parts, price,
decide; no model runs), so a claim can be assessed again, under another policy or with other declarations,
without running the models again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, TypeVar

from PIL import Image

from model.decision import POLICIES_DIR, Decision, DecisionInput, Policy, Reason, decide, load_policy
from model.declared import DeclaredPart, check_tags, parse_declared_part
from model.errors import AutoquoteError, ModelError, UnknownJurisdiction
from model.findings import ClaimContext, Detection, Finding, PriceEstimate, SeverityGrade
from model.image_io import DecodedImage, ImageLimits, decode_image
from model.kinds import get_kind
from model.pricing.pricer import Pricer
from model.quality import QualityThresholds, assess_quality

# The records a run takes and gives live in model.quote; re-exported here, where callers have always found them.
from model.quote import Perception as Perception
from model.quote import PhotoFinding as PhotoFinding
from model.quote import PhotoInput as PhotoInput
from model.quote import PhotoResult as PhotoResult
from model.quote import Quote as Quote
from model.quote import photo_flags

T = TypeVar("T")

log = logging.getLogger(__name__)


class ManifestLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def classes(self) -> list[str]: ...


class DetectorLike(Protocol):
    """The damaged-part detector (``model.load_detector``)."""

    @property
    def input_size(self) -> int: ...
    @property
    def manifest(self) -> ManifestLike: ...
    def detect(self, image: Image.Image) -> list[Detection]: ...


class SeverityLike(Protocol):
    """The severity grader (``model.load_severity``)."""

    @property
    def input_size(self) -> int: ...
    @property
    def manifest(self) -> ManifestLike: ...
    def grade_many(self, images: Sequence[Image.Image], photo: Image.Image | None = None) -> list[SeverityGrade]: ...


class VerifierLike(Protocol):
    """The part verifier (``model.verifier.PartVerifier``): a second opinion on each detection's crop."""

    @property
    def manifest(self) -> ManifestLike: ...
    def agreement(self, crops: Sequence[Image.Image], parts: Sequence[str]) -> list[float]: ...


class CatalogueLike(Protocol):
    """The pricing catalogue (``model.pricing.load_catalogue``)."""

    @property
    def version(self) -> str: ...
    @property
    def parts(self) -> list[str]: ...
    def currency_for(self, region: str) -> str: ...


@dataclass(frozen=True)
class PipelineConfig:
    """Limits and thresholds for one deployment."""

    limits: ImageLimits = field(default_factory=ImageLimits)
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    decode_factor: float = 1.0  # decode photos to at least the detector input size times this
    crop_margin: float = 0.2  # severity crops: the box grown by this fraction on each side
    policies_dir: Path = POLICIES_DIR


def _label(manifest: ManifestLike) -> str:
    return f"{manifest.name}@{manifest.version}"


def expand_box(
    box: tuple[float, float, float, float], size: tuple[int, int], margin: float
) -> tuple[int, int, int, int]:
    """The box grown by ``margin`` of its size on each side, clamped to the picture, in whole pixels."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    w, h = size
    left, top = max(0, int(x1 - dx)), max(0, int(y1 - dy))
    right, bottom = min(w, int(round(x2 + dx))), min(h, int(round(y2 + dy)))
    return left, top, max(right, left + 1), max(bottom, top + 1)


class Pipeline:
    """The loaded models, catalogue and policies; what failed to load is listed in ``problems``."""

    def __init__(
        self,
        detector: DetectorLike | None,
        severity: SeverityLike | None,
        pricer: Pricer | None,
        catalogue: CatalogueLike | None,
        config: PipelineConfig | None = None,
        problems: Sequence[str] = (),
        verifier: VerifierLike | None = None,
    ) -> None:
        self.detector = detector
        self.severity = severity
        self.verifier = verifier
        self.pricer = pricer
        self.catalogue = catalogue
        self.config = config or PipelineConfig()
        self.problems = tuple(problems)
        self._policies: dict[str, Policy] = {}

    @property
    def parts(self) -> list[str]:
        """The part vocabulary a claim may declare: the detector's classes (the catalogue's parts without one)."""
        if self.detector is not None:
            return list(self.detector.manifest.classes)
        return list(self.catalogue.parts) if self.catalogue is not None else []

    @property
    def ready(self) -> bool:
        """True when every model and the catalogue loaded."""
        return None not in (self.detector, self.severity, self.pricer, self.catalogue)

    def versions(self) -> dict[str, str]:
        """Name@version of each model and the catalogue in service ("unavailable" where loading failed); the
        part verifier's too when one is in service (it is optional)."""
        versions = {
            "detector": _label(self.detector.manifest) if self.detector else "unavailable",
            "severity": _label(self.severity.manifest) if self.severity else "unavailable",
            "pricer": f"{self.pricer.name}@{self.pricer.version}" if self.pricer else "unavailable",
            "catalogue": self.catalogue.version if self.catalogue else "unavailable",
        }
        if self.verifier is not None:
            versions["verifier"] = _label(self.verifier.manifest)
        return versions

    def policy(self, jurisdiction: str) -> Policy:
        """The decision policy for a jurisdiction, read once."""
        if jurisdiction not in self._policies:
            self._policies[jurisdiction] = load_policy(jurisdiction, self.config.policies_dir)
        return self._policies[jurisdiction]

    def check_context(self, context: ClaimContext, jurisdiction: str | None) -> Policy:
        """Refuse an unknown jurisdiction, or one whose policy is for another region."""
        policy = self.policy(jurisdiction or context.region)
        if policy.region != context.region:
            raise UnknownJurisdiction(
                f"the {policy.jurisdiction} policy applies to region {policy.region}, not {context.region}; "
                "choose a jurisdiction of the claim's region"
            )
        return policy

    @property
    def decode_side(self) -> int:
        """The long side photos are decoded to: about the detector's input size times the decode factor."""
        base = self.detector.input_size if self.detector else self.config.limits.target_side // 2
        return int(base * self.config.decode_factor)

    def decode(self, data: bytes) -> DecodedImage:
        """Validate and decode one photo at about the scale the detector needs."""
        return decode_image(data, self.config.limits, target_side=self.decode_side)

    def quote(
        self,
        photos: Sequence[PhotoInput],
        context: ClaimContext,
        jurisdiction: str | None = None,
        declared: Sequence[DeclaredPart] = (),
    ) -> Quote:
        """Run every stage on the photos of one claim; stage failures become reasons, never exceptions.

        ``declared``: the parts the customer says are damaged (``model.declared.parse_declared`` reads them);
        each photo's ``part`` tags it as a close-up of one of them.
        """
        policy = self.check_context(context, jurisdiction)
        known = self.check_declared(declared, {p.photo_id: p.part for p in photos})
        parts = self.parts
        photos = [replace(p, part=parse_declared_part(str(p.part), parts)) if p.part else p for p in photos]
        return self.assess(self.perceive(photos), context, policy, known)

    def check_declared(
        self, declared: Sequence[DeclaredPart], tags: Mapping[str, DeclaredPart | None]
    ) -> tuple[DeclaredPart, ...]:
        """The declared parts as the detector spells them; refuse unknown parts and tags of undeclared parts."""
        parts = self.parts
        known = tuple(parse_declared_part(str(d), parts) for d in declared)
        check_tags(known, {pid: parse_declared_part(str(t), parts) if t else None for pid, t in tags.items()})
        return known

    def perceive(self, photos: Sequence[PhotoInput]) -> Perception:
        """Quality, detection and severity on each photo: the models' part of a quote."""
        timings: dict[str, float] = {}
        failures: list[Reason] = []
        failed: list[str] = []
        results = [self._photo(photo, timings, failures, failed) for photo in photos]
        return Perception(tuple(results), tuple(failures), tuple(failed), timings)

    def assess(
        self, seen: Perception, context: ClaimContext, policy: Policy, declared: Sequence[DeclaredPart] = ()
    ) -> Quote:
        """Verify the declared parts, price what is confirmed (everything found, without declarations), decide."""
        known = self.check_declared(declared, {p.photo_id: p.part for p in seen.photos})
        timings = dict(seen.timings_ms)
        failures, failed = list(seen.failures), list(seen.failed_stages)
        findings = seen.findings()
        flags = photo_flags(seen.photos)
        inp = DecisionInput(findings, None, flags, (), self.versions(), known)
        verification = inp.verification(policy)
        priced = verification.priced if verification is not None else findings
        estimate = self._price(list(priced), context, timings, failures, failed)
        try:
            decision = decide(replace(inp, estimate=estimate, failures=tuple(failures)), policy)
        except Exception as exc:  # a bug here must still reach a human, not auto-settle
            log.exception("decision failed")
            failed.append("decision")
            decision = Decision(
                "human_review", (Reason("pipeline_error", f"the decision step failed ({exc})"),), policy.label
            )
        currency = estimate.currency if estimate else self._currency(context.region)
        versions = {**self.versions(), "policy": policy.label}
        if estimate is not None:
            versions["catalogue"] = estimate.catalogue_version
        return Quote(
            photos=seen.photos,
            estimate=estimate,
            decision=decision,
            versions=versions,
            context=context,
            jurisdiction=policy.jurisdiction,
            currency=currency,
            failed_stages=tuple(dict.fromkeys(failed)),
            timings_ms=timings,
            declared=known,
            verification=verification,
        )

    def _currency(self, region: str) -> str:
        try:
            return self.catalogue.currency_for(region) if self.catalogue else ""
        except AutoquoteError:
            return ""

    def _fail(
        self, stage: str, exc: Exception | None, failures: list[Reason], failed: list[str], photo: str | None
    ) -> None:
        failed.append(stage)
        if exc is None or isinstance(exc, ModelError):
            why = f" ({exc})" if exc else " (it did not load)"
            message = f"the {stage} could not run{why}; an adjuster will assess the claim"
            failures.append(Reason("model_unavailable", message, photo, {"stage": stage}))
        else:
            log.error("%s failed on photo %s", stage, photo, exc_info=exc)
            message = f"the {stage} failed ({type(exc).__name__}); an adjuster will assess the claim"
            failures.append(Reason("pipeline_error", message, photo, {"stage": stage}))

    def _photo(
        self, photo: PhotoInput, timings: dict[str, float], failures: list[Reason], failed: list[str]
    ) -> PhotoResult:
        image = photo.image.image
        t0 = time.perf_counter()
        quality = assess_quality(image, photo.image.original_size, self.config.quality)
        timings["quality"] = timings.get("quality", 0.0) + (time.perf_counter() - t0) * 1e3
        scale = photo.image.original_size[0] / image.width if image.width else 1.0
        detected: list[PhotoFinding] = []
        if quality.ok:
            detections = self._detect(photo, timings, failures, failed)
            crops = [image.crop(expand_box(d.box, image.size, self.config.crop_margin)) for d in detections]
            grades = self._grade(photo, crops, timings, failures, failed)
            agreements = self._second_opinion(photo, detections, crops, timings, failures, failed)
            for det, grade, agreement in zip(detections, grades, agreements, strict=True):
                area = det.area / float(image.width * image.height)
                x1, y1, x2, y2 = (round(v * scale, 1) for v in det.box)
                box = (x1, y1, x2, y2)
                detected.append(PhotoFinding(det.label, box, det.score, dict(grade.probabilities), area, agreement))
        return PhotoResult(
            photo_id=photo.photo_id,
            sha256=photo.image.sha256,
            size=photo.image.original_size,
            quality=quality,
            findings=tuple(detected),
            duplicate_of_claim=photo.duplicate_of_claim,
            part=photo.part,
        )

    def _stage(
        self,
        stage: str,
        timing: str,
        run: Callable[[], T] | None,
        empty: T,
        photo: str | None,
        timings: dict[str, float],
        failures: list[Reason],
        failed: list[str],
    ) -> T:
        """Run one model stage, timed; a missing or failing model is recorded and gives ``empty``."""
        if run is None:
            self._fail(stage, None, failures, failed, photo)
            return empty
        t0 = time.perf_counter()
        try:
            return run()
        except Exception as exc:
            self._fail(stage, exc, failures, failed, photo)
            return empty
        finally:
            timings[timing] = timings.get(timing, 0.0) + (time.perf_counter() - t0) * 1e3

    def _detect(
        self, photo: PhotoInput, timings: dict[str, float], failures: list[Reason], failed: list[str]
    ) -> list[Detection]:
        detector, image = self.detector, photo.image.image
        run = None if detector is None else (lambda: detector.detect(image))
        return self._stage("detector", "detect", run, [], photo.photo_id, timings, failures, failed)

    def _grade(
        self,
        photo: PhotoInput,
        crops: list[Image.Image],
        timings: dict[str, float],
        failures: list[Reason],
        failed: list[str],
    ) -> list[SeverityGrade]:
        """A grade for each detection's crop (and the whole photo, if the model uses it), in one severity run;
        none when the model cannot grade them."""
        if not crops:
            return []
        severity, image = self.severity, photo.image.image
        run = None if severity is None else (lambda: severity.grade_many(crops, photo=image))
        return self._stage("severity model", "grade", run, [], photo.photo_id, timings, failures, failed)

    def _second_opinion(
        self,
        photo: PhotoInput,
        detections: list[Detection],
        crops: list[Image.Image],
        timings: dict[str, float],
        failures: list[Reason],
        failed: list[str],
    ) -> list[float | None]:
        """The part verifier's agreement with each detection, from the crops already cut for severity; None
        for each when no verifier is in service (a policy that requires one then sends the claim to a person)."""
        verifier = self.verifier
        if verifier is None or not crops:
            return [None] * len(crops)
        parts = [d.label for d in detections]
        none: list[float] = []
        found: list[float | None] = list(self._stage(
            "part verifier", "verify", lambda: verifier.agreement(crops, parts), none, photo.photo_id, timings,
            failures, failed))
        return found if len(found) == len(crops) else [None] * len(crops)

    def _price(
        self,
        findings: list[Finding],
        context: ClaimContext,
        timings: dict[str, float],
        failures: list[Reason],
        failed: list[str],
    ) -> PriceEstimate | None:
        if not findings:
            return None
        pricer = self.pricer
        run = None if pricer is None else (lambda: pricer.price(findings, context))
        return self._stage("pricer", "price", run, None, None, timings, failures, failed)


def build_pipeline(
    config: PipelineConfig | None = None,
    detector_path: Path | None = None,
    severity_path: Path | None = None,
    threads: int | None = None,
    verifier_path: Path | None = None,
) -> Pipeline:
    """Load the shipped (or given) models and catalogue; what fails is recorded, never raised.

    The part verifier is optional: the shipped one is loaded when it is there (or ``verifier_path``).
    """
    import model

    problems: list[str] = []
    detector: DetectorLike | None = None
    severity: SeverityLike | None = None
    pricer: Pricer | None = None
    catalogue: CatalogueLike | None = None
    try:
        detector = model.load_detector(detector_path, threads=threads)
    except (ModelError, ImportError, OSError) as exc:
        problems.append(f"detector: {exc}")
    try:
        severity = model.load_severity(severity_path, threads=threads)
    except (ModelError, ImportError, OSError) as exc:
        problems.append(f"severity: {exc}")
    verifier: VerifierLike | None = None
    verifier_file = verifier_path or get_kind("verifier").shipped
    if verifier_path is not None or verifier_file.is_file():
        try:
            verifier = get_kind("verifier").load(verifier_file, threads=threads)
        except (ModelError, ImportError, OSError) as exc:
            problems.append(f"verifier: {exc}")
    try:
        from model.pricing import load_catalogue, load_pricer

        catalogue = load_catalogue()
        pricer = load_pricer(catalogue)
    except (AutoquoteError, ImportError, OSError) as exc:
        problems.append(f"pricing: {exc}")
    if detector is not None and catalogue is not None:
        priced = {part.casefold() for part in catalogue.parts}
        unpriced = [c for c in detector.manifest.classes if c.casefold() not in priced]
        if unpriced:
            # A part the detector finds but the catalogue cannot price would fail every such quote.
            problems.append(f"pricing: catalogue {catalogue.version} has no entry for detector classes {unpriced}")
            pricer = None
    for problem in problems:
        log.warning("not in service: %s", problem)
    return Pipeline(detector, severity, pricer, catalogue, config, problems, verifier)

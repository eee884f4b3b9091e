"""Which models the service runs: the active-model pointer, promotion without losing requests, shadow mode.

The pointer ``<data_dir>/active_models.json`` (:mod:`model.store`) names the detector and severity model
in service; it wins over ``AUTOQUOTE_DETECTOR_PATH`` / ``AUTOQUOTE_SEVERITY_PATH`` at start-up, so a
promotion survives a restart.
A promotion builds the new pipeline first and then swaps one reference under a lock: requests already
running keep the pipeline they were handed and finish on it. A shadow candidate runs after the main
response on live claims; its quotes are stored, never shown, and its failures never reach the customer.
Only ONNX files under the registry folder (or the shipped ``model/weights``) may be promoted or shadowed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from model.errors import InvalidModelChoice, ModelError
from model.findings import ClaimContext
from model.manifest import WEIGHTS_DIR, load_manifest
from model.pipeline import PhotoInput, Pipeline, Quote
from model.store import TASK_OF_KIND, ModelChoice, read_pointer, write_pointer
from serve.db.rows import ShadowQuoteRow, utcnow
from serve.settings import Settings
from serve.storage import PhotoStore

log = logging.getLogger(__name__)
PipelineFactory = Callable[[Settings], Pipeline]


def with_models(settings: Settings, choice: ModelChoice) -> Settings:
    """The settings with the chosen models' paths."""
    return settings.model_copy(update={"detector_path": choice.detector, "severity_path": choice.severity})


def checked_model(path: Path | str, kind: str, settings: Settings) -> Path:
    """An ONNX file inside the registry (or the shipped weights) whose manifest is valid and of this kind."""
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = settings.models_dir / candidate
    candidate = candidate.resolve()
    roots = [settings.models_dir.resolve(), WEIGHTS_DIR.resolve()]
    if not any(candidate.is_relative_to(root) for root in roots):
        raise InvalidModelChoice(
            f"{path} is outside the model registry {settings.models_dir}; "
            "add it with 'autoquote-train registry add' and promote the registry copy"
        )
    try:
        manifest = load_manifest(candidate)
    except ModelError as exc:
        raise InvalidModelChoice(f"{kind} {path}: {exc.message}") from exc
    if manifest.task != TASK_OF_KIND[kind]:
        raise InvalidModelChoice(f"{path} is a {manifest.task} model, not a {kind}")
    return candidate


class ModelService:
    """The pipeline in service and the shadow candidate; promotions and shadow changes are serialised."""

    def __init__(self, settings: Settings, factory: PipelineFactory) -> None:
        self.settings = settings
        self.factory = factory
        self._lock = threading.Lock()
        pointer = read_pointer(settings.data_dir)
        self.active = pointer or ModelChoice(detector=settings.detector_path, severity=settings.severity_path)
        self.pipeline: Pipeline | None = None
        self.shadow: Pipeline | None = None
        self.shadow_choice: ModelChoice | None = None

    def start(self) -> Pipeline:
        """Build the pipeline in service (and the shadow one the settings name); called in the lifespan."""
        self.pipeline = self.factory(with_models(self.settings, self.active))
        if self.settings.shadow_detector_path or self.settings.shadow_severity_path:
            try:
                self.start_shadow(
                    self.settings.shadow_detector_path, self.settings.shadow_severity_path, None
                )
            except InvalidModelChoice:
                log.exception("shadow candidate not started")
        return self.pipeline

    def current(self) -> Pipeline:
        """The pipeline a new request gets (the reference is read once per request)."""
        assert self.pipeline is not None, "ModelService.start() runs in the lifespan"
        return self.pipeline

    def _build(
        self, detector: Path | None, severity: Path | None, by: str | None
    ) -> tuple[ModelChoice, Pipeline]:
        choice = ModelChoice(
            detector=checked_model(detector, "detector", self.settings) if detector else self.active.detector,
            severity=checked_model(severity, "severity", self.settings) if severity else self.active.severity,
            chosen_at=utcnow(),
            chosen_by=by,
        )
        pipeline = self.factory(with_models(self.settings, choice))
        if not pipeline.ready:
            raise InvalidModelChoice("the models did not load: " + "; ".join(pipeline.problems))
        return choice, pipeline

    def promote(
        self, detector: Path | None, severity: Path | None, by: str
    ) -> tuple[dict[str, str], Pipeline]:
        """Build the chosen models, then swap them in; returns the old versions and the new pipeline."""
        with self._lock:
            choice, pipeline = self._build(detector, severity, by)
            old = self.current().versions()
            self.pipeline = pipeline  # one reference assignment: requests see the old or the new, never half
            self.active = choice
            write_pointer(self.settings.data_dir, choice)
        return old, pipeline

    def start_shadow(self, detector: Path | None, severity: Path | None, by: str | None) -> Pipeline:
        """Run a candidate beside the service on live claims."""
        with self._lock:
            choice, pipeline = self._build(detector, severity, by)
            self.shadow, self.shadow_choice = pipeline, choice
        return pipeline

    def stop_shadow(self) -> None:
        with self._lock:
            self.shadow, self.shadow_choice = None, None


def shadow_row(claim_id: str, main_quote_id: str | None, quote: Quote) -> ShadowQuoteRow:
    """A candidate's quote as a row (findings and line items as JSON: nothing else reads them)."""
    est = quote.estimate
    return ShadowQuoteRow(
        claim_id=claim_id,
        main_quote_id=main_quote_id,
        decision=quote.decision.outcome,
        total=est.total if est else None,
        low=est.low if est else None,
        high=est.high if est else None,
        currency=quote.currency,
        versions=dict(quote.versions),
        reasons=[{"code": r.code, "message": r.message} for r in quote.decision.reasons],
        findings=[
            {
                "photo_id": p.photo_id,
                "part": f.part,
                "box": list(f.box),
                "score": f.score,
                "severity": dict(f.severity),
                "area_fraction": f.area_fraction,
            }
            for p in quote.photos
            for f in p.findings
        ],
        line_items=[
            {"part": li.part, "operation": li.operation, "total": li.total}
            for li in (est.line_items if est else ())
        ],
    )


def run_shadow(
    shadow: Pipeline,
    sessions: sessionmaker[Session],
    store: PhotoStore,
    claim_id: str,
    main_quote_id: str | None,
    photos: Sequence[tuple[str, str, str | None]],
    context: ClaimContext,
    jurisdiction: str,
    on_failure: Callable[[], None] = lambda: None,
) -> None:
    """Quote a claim with the candidate and store it; runs after the response and never raises."""
    try:
        inputs = [PhotoInput(pid, shadow.decode(store.get(sha)), dup) for pid, sha, dup in photos]
        quote = shadow.quote(inputs, context, jurisdiction)
        with sessions() as session:
            session.add(shadow_row(claim_id, main_quote_id, quote))
            session.commit()
    except Exception:
        log.exception("shadow quote of claim %s failed (the customer's quote is not affected)", claim_id)
        on_failure()


def describe(choice: ModelChoice | None) -> dict[str, str | None]:
    """A model choice for JSON answers and audit events."""
    if choice is None:
        return {}
    data = json.loads(choice.model_dump_json())
    return {k: (str(v) if v is not None else None) for k, v in data.items()}

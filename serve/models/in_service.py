"""Which models the service runs: the pipeline in service, promotion without losing requests, the shadow.

The pointer ``<data_dir>/active_models.json`` (:mod:`model.store`) names the detector and severity model
in service; it wins over ``AUTOQUOTE_DETECTOR_PATH`` / ``AUTOQUOTE_SEVERITY_PATH`` at start-up, so a
promotion survives a restart.
A promotion builds the new pipeline first and then swaps one reference under a lock: requests already
running keep the pipeline they were handed and finish on it. A shadow candidate runs after the main
response on live claims (``serve.models.shadow``). What may be promoted or shadowed is checked by
``serve.models.choice``.

With several replicas the database is the record: a promotion is a row of ``model_promotions`` (paths
relative to the model store folder, which every replica mounts), committed before the replica that made it
switches. Every replica checks for a newer row every ``AUTOQUOTE_MODEL_POLL_SECONDS`` and switches the
same way, so all of them run the promoted models within that interval plus the time to load them. At
start-up the latest row wins over the pointer file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from model.pipeline import Pipeline, build_pipeline
from model.store import ModelChoice, read_pointer, write_pointer
from serve.db.promotions import latest_promotion, latest_promotion_id, record_promotion
from serve.db.rows import ModelPromotionRow, utcnow
from serve.errors import InvalidModelChoice
from serve.models.choice import checked_model, with_models
from serve.settings import Settings

log = logging.getLogger(__name__)
PipelineFactory = Callable[[Settings], Pipeline]


def load_pipeline(settings: Settings) -> Pipeline:
    """The shipped (or configured) models, catalogue and policies."""
    return build_pipeline(
        settings.pipeline_config(), settings.detector_path, settings.severity_path, settings.ort_threads
    )


class ModelsInService:
    """The pipeline in service and the shadow candidate; promotions and shadow changes are serialised."""

    def __init__(
        self, settings: Settings, factory: PipelineFactory, sessions: sessionmaker[Session] | None = None
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.sessions = sessions
        self._lock = threading.Lock()
        pointer = read_pointer(settings.data_dir)
        self.active = pointer or ModelChoice(detector=settings.detector_path, severity=settings.severity_path)
        self.pipeline: Pipeline | None = None
        self.shadow: Pipeline | None = None
        self.shadow_choice: ModelChoice | None = None
        self.generation = 0  # the id of the promotion in service (0: none recorded in the database)
        self._unloadable = 0  # a promotion that failed to load on this replica: not retried every poll

    def start(self) -> Pipeline:
        """Build the pipeline in service (and the shadow one the settings name); called in the lifespan."""
        self.resolve()
        self.pipeline = self.factory(with_models(self.settings, self.active))
        if self.settings.shadow_detector_path or self.settings.shadow_severity_path:
            try:
                self.start_shadow(
                    self.settings.shadow_detector_path, self.settings.shadow_severity_path, None
                )
            except InvalidModelChoice:
                log.exception("shadow candidate not started")
        return self.pipeline

    def resolve(self) -> ModelChoice:
        """The models in service without loading them: the latest promotion, else the pointer, else settings."""
        row = self._latest()
        if row is not None:
            self.active, self.generation = self._choice_of(row), row.id
        return self.active

    def _latest(self) -> ModelPromotionRow | None:
        if self.sessions is None:
            return None
        try:
            with self.sessions() as session:
                return latest_promotion(session)
        except SQLAlchemyError:
            log.exception("could not read the latest promotion; starting on the pointer file's models")
            return None

    def _stored_path(self, path: Path | None) -> str | None:
        """A model path as recorded: relative to the model store folder when inside it (replicas mount it anywhere)."""
        if path is None:
            return None
        try:
            return path.resolve().relative_to(self.settings.models_dir.resolve()).as_posix()
        except ValueError:
            return str(path)

    def _choice_of(self, row: ModelPromotionRow) -> ModelChoice:
        def local(value: str | None) -> Path | None:
            if value is None:
                return None
            path = Path(value)
            return path if path.is_absolute() else self.settings.models_dir / path

        return ModelChoice(
            detector=local(row.detector), severity=local(row.severity), chosen_at=row.chosen_at,
            chosen_by=row.chosen_by,
        )

    @property
    def lagging(self) -> str | None:
        """Why this replica does not run the latest promotion, or None when it does."""
        if self._unloadable > self.generation:
            return (
                f"promotion {self._unloadable} cannot be loaded on this replica (see its log); "
                f"it still runs promotion {self.generation}: make the registry entry reachable here"
            )
        return None

    def sync(self) -> bool:
        """Switch to a promotion another replica recorded since; True when this replica switched."""
        if self.sessions is None:
            return False
        with self.sessions() as session:
            latest = latest_promotion_id(session)
            if latest <= self.generation or latest == self._unloadable:
                return False
            row = latest_promotion(session)
        if row is None:
            return False
        with self._lock:
            if row.id <= self.generation:
                return False
            choice = self._choice_of(row)
            try:
                for kind, path in (("detector", choice.detector), ("severity", choice.severity)):
                    if path is not None:
                        checked_model(path, kind, self.settings)
                pipeline = self.factory(with_models(self.settings, choice))
                recorded = {k: row.versions.get(k) for k in ("detector", "severity")}
                loaded = {k: pipeline.versions().get(k) for k in recorded}
                problem = "; ".join(pipeline.problems) if not pipeline.ready else None
                if problem is None and all(recorded.values()) and recorded != loaded:
                    problem = f"loaded {loaded}, the promotion recorded {recorded}"
            except Exception as exc:
                problem = getattr(exc, "message", None) or repr(exc)
            if problem is not None:
                self._unloadable = row.id
                log.error(
                    "promotion %d cannot run on this replica (%s); still serving %s",
                    row.id, problem, self.current().versions(),
                )
                return False
            self.pipeline, self.active, self.generation = pipeline, choice, row.id
        log.info("switched to promotion %d: %s", row.id, pipeline.versions())
        return True

    def watch(
        self, interval: float, on_switch: Callable[[Pipeline], None] = lambda _p: None
    ) -> Callable[[], None]:
        """Check for promotions every ``interval`` seconds in a thread; returns the function that stops it."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    if self.sync():
                        on_switch(self.current())
                except Exception:
                    log.exception("checking for a promotion failed; trying again in %.1f s", interval)

        thread = threading.Thread(target=loop, name="model-promotions", daemon=True)
        thread.start()

        def stop_watching() -> None:
            stop.set()
            thread.join(timeout=60)

        return stop_watching

    def current(self) -> Pipeline:
        """The pipeline a new request gets (the reference is read once per request)."""
        assert self.pipeline is not None, "ModelsInService.start() runs in the lifespan"
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
            if self.sessions is not None:  # recorded first: no replica runs models the database does not name
                with self.sessions() as session:
                    row = record_promotion(
                        session, self._stored_path(choice.detector), self._stored_path(choice.severity),
                        pipeline.versions(), by,
                    )
                    session.commit()
                    self.generation = row.id
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

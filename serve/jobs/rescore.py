"""Re-scoring the claims backlog with a candidate model on Ray: shadow quotes that ``compare`` reads.

The driver reads the claims (since a date) from the database and hands batches to Ray actors; each actor
loads the candidate pipeline once, reads the photos from the photo store itself and quotes the claims; the
driver writes each result as a shadow quote beside the quote the service gave. Claims this candidate
already scored are skipped, so an interrupted run resumes. Ray runs locally by default (one actor per
worker, on 127.0.0.1) or on a cluster with ``address``; every node needs autoquote with the ``scale``
extra and must reach the photo store (S3 across machines) and, for the driver only, the database.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from model.declared import parse_declared, parse_declared_part
from model.errors import ConfigError
from model.findings import ClaimContext
from model.kinds import DETECTOR, SEVERITY
from model.manifest import load_manifest
from model.pipeline import PhotoInput, Pipeline
from serve.db.quotes import shadow_row
from serve.db.rows import ClaimRow, ShadowQuoteRow
from serve.models.choice import checked_model
from serve.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimJob:
    """What an actor needs to quote one claim again (no database access on the workers)."""

    claim_id: str
    main_quote_id: str | None
    photos: tuple[tuple[str, str, str | None], ...]  # (photo id, sha256, duplicate of claim)
    segment: str
    region: str
    jurisdiction: str
    declared: tuple[str, ...] = ()  # the declared parts' text forms (Door:left)
    tags: tuple[tuple[str, str], ...] = ()  # (photo id, the declared part it is a close-up of)


@dataclass
class RescoreReport:
    """What a run did and how fast."""

    versions: dict[str, str] = field(default_factory=dict)
    claims: int = 0
    photos: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0
    actor_pids: list[int] = field(default_factory=list)  # one model load each

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.seconds if self.seconds > 0 else 0.0


def candidate_versions(settings: Settings) -> dict[str, str]:
    """The detector and severity labels (name@version) the candidate's quotes will carry."""
    out = {}
    for kind, path, shipped in (
        (DETECTOR.name, settings.detector_path, DETECTOR.shipped),
        (SEVERITY.name, settings.severity_path, SEVERITY.shipped),
    ):
        manifest = load_manifest(path or shipped, verify=False)
        out[kind] = f"{manifest.name}@{manifest.version}"
    return out


def backlog(
    session: Session, since: datetime, until: datetime | None, versions: dict[str, str]
) -> tuple[list[ClaimJob], int]:
    """The claims created in [since, until) with photos, less those this candidate already scored."""
    stmt = (
        select(ClaimRow)
        .where(ClaimRow.created_at >= since)
        .options(selectinload(ClaimRow.photos), selectinload(ClaimRow.quotes))
        .order_by(ClaimRow.created_at, ClaimRow.id)
    )
    if until is not None:
        stmt = stmt.where(ClaimRow.created_at < until)
    done: set[str] = set()
    for claim_id, shadow_versions in session.execute(select(ShadowQuoteRow.claim_id, ShadowQuoteRow.versions)):
        if all(shadow_versions.get(k) == v for k, v in versions.items()):
            done.add(claim_id)
    jobs, skipped = [], 0
    for claim in session.scalars(stmt):
        photos = list(claim.photos)  # withdrawn photos are not in it
        if not photos:
            continue
        if claim.id in done:
            skipped += 1
            continue
        model_quotes = [q for q in claim.quotes if q.source == "model"]
        jobs.append(
            ClaimJob(
                claim_id=claim.id,
                main_quote_id=model_quotes[-1].id if model_quotes else None,
                photos=tuple((p.id, p.sha256, p.duplicate_of_claim_id) for p in photos),
                segment=claim.segment,
                region=claim.region,
                jurisdiction=claim.jurisdiction,
                declared=tuple(claim.declared_parts),
                tags=tuple((p.id, p.part) for p in photos if p.part),
            )
        )
    return jobs, skipped


def quote_jobs(pipeline: Pipeline, store: Any, jobs: Sequence[ClaimJob]) -> list[dict[str, Any]]:
    """Quote claims with the candidate; a claim that fails becomes ``{"claim_id", "error"}``, never an abort."""
    out: list[dict[str, Any]] = []
    for job in jobs:
        try:
            tags = {pid: parse_declared_part(text, pipeline.parts) for pid, text in job.tags}
            inputs = [
                PhotoInput(pid, pipeline.decode(store.get(sha)), dup, tags.get(pid)) for pid, sha, dup in job.photos
            ]
            context = ClaimContext(segment=job.segment, region=job.region)
            declared = parse_declared(job.declared, pipeline.parts)
            quote = pipeline.quote(inputs, context, job.jurisdiction, declared)
            row = shadow_row(job.claim_id, job.main_quote_id, quote)
            out.append({c.key: getattr(row, c.key) for c in ShadowQuoteRow.__table__.columns if c.key != "id"})
        except Exception as exc:
            log.exception("re-scoring claim %s failed", job.claim_id)
            out.append({"claim_id": job.claim_id, "error": getattr(exc, "message", None) or repr(exc)})
    return out


class Rescorer:
    """One Ray actor: the candidate pipeline and the photo store, built once, then many batches."""

    def __init__(self, settings: Settings) -> None:
        from model.image_io import configure_pillow
        from model.offline import configure_offline
        from serve.models.in_service import load_pipeline
        from serve.photos.factory import make_photo_store

        configure_offline()
        configure_pillow(settings.max_pixels)
        self.pipeline = load_pipeline(settings)
        if not self.pipeline.ready:
            raise ConfigError("the candidate did not load: " + "; ".join(self.pipeline.problems))
        self.store = make_photo_store(settings)

    def score(self, jobs: Sequence[ClaimJob]) -> list[dict[str, Any]]:
        return quote_jobs(self.pipeline, self.store, jobs)

    def pid(self) -> int:
        return os.getpid()


def _batches(jobs: Sequence[ClaimJob], size: int) -> Iterator[list[ClaimJob]]:
    for start in range(0, len(jobs), size):
        yield list(jobs[start : start + size])


def start_ray(address: str | None, workers: int) -> tuple[Any, bool]:
    """Connect to a cluster at ``address``, or start a local instance with ``workers`` CPUs on loopback.

    Returns the ``ray`` module and whether this call started it (then the caller shuts it down).
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never report usage anywhere
    host = (address or "127.0.0.1").rsplit(":", 1)[0]
    if host in ("127.0.0.1", "localhost", "[::1]"):
        # A single-node instance: Ray then binds and advertises 127.0.0.1 instead of the host's address,
        # which it would otherwise put in place of a loopback address (read when ray is first imported).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("re-scoring needs Ray: install the scale extra (pip install 'autoquote[scale]')") from exc
    if ray.is_initialized():
        return ray, False
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(
            address="local",  # a new instance, never one left running on this machine
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    return ray, True


def rescore(
    settings: Settings,
    session: Session,
    detector: Path | None,
    severity: Path | None,
    since: datetime,
    until: datetime | None = None,
    workers: int = 2,
    address: str | None = None,
    batch_size: int = 4,
) -> RescoreReport:
    """Quote the backlog with the candidate on Ray actors and store shadow quotes (see the module doc)."""
    candidate = settings.model_copy(
        update={
            "detector_path": checked_model(detector, "detector", settings) if detector else settings.detector_path,
            "severity_path": checked_model(severity, "severity", settings) if severity else settings.severity_path,
            "ort_threads": 1,  # one core per actor: the actors are the parallelism
        }
    )
    report = RescoreReport(versions=candidate_versions(candidate), workers=workers)
    jobs, report.skipped = backlog(session, since, until, report.versions)
    session.rollback()
    if not jobs:
        return report
    ray, started = start_ray(address, workers)
    try:
        from ray.util import ActorPool

        actor_class = ray.remote(num_cpus=1)(Rescorer)
        actors = [actor_class.remote(candidate) for _ in range(workers)]
        report.actor_pids = ray.get([a.pid.remote() for a in actors])  # models loaded before the clock starts
        photos_of = {job.claim_id: len(job.photos) for job in jobs}
        pool = ActorPool(actors)
        start = time.perf_counter()
        batches = list(_batches(jobs, batch_size))
        for results in pool.map_unordered(lambda actor, batch: actor.score.remote(batch), batches):
            for result in results:
                if "error" in result:
                    report.failed.append(f"{result['claim_id']}: {result['error']}")
                    continue
                session.add(ShadowQuoteRow(**result))
                report.claims += 1
                report.photos += photos_of[result["claim_id"]]
            session.commit()
        report.seconds = time.perf_counter() - start
        for actor in actors:
            ray.kill(actor)
    finally:
        if started:
            ray.shutdown()
    return report

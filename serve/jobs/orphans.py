"""The orphan collector: photos in the store that no claim references, older than a grace period.

A photo is written to the store before the database commit that records it; when that commit fails (a
refused request, a crash, a lost database connection) the photo stays behind, referenced by nothing.
Claims are never deleted, so a referenced photo stays referenced. The grace period protects uploads whose
commit is still in flight: storing the same bytes again renews a photo's time, and each candidate is
checked against the database and the store again just before it is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session

from serve.db.rows import PhotoRow, utcnow
from serve.photos.store import CollectablePhotoStore

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class OrphanReport:
    """What one pass of the collector saw and did."""

    scanned: int = 0
    referenced: int = 0
    too_recent: int = 0
    orphans: list[str] = field(default_factory=list)
    deleted: int = 0


def _batches(items: Iterable[tuple[str, datetime]], size: int) -> Iterator[list[tuple[str, datetime]]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _referenced(session: Session, names: Iterable[str]) -> set[str]:
    return set(session.scalars(select(PhotoRow.sha256).where(PhotoRow.sha256.in_(list(names)))).all())


def collect_orphans(
    session: Session, store: CollectablePhotoStore, older_than: timedelta, delete: bool = False
) -> OrphanReport:
    """Find (and with ``delete``, remove) stored photos no claim references, untouched for ``older_than``."""
    report = OrphanReport()
    cutoff = utcnow() - older_than
    for batch in _batches(store.stored(), BATCH):
        report.scanned += len(batch)
        referenced = _referenced(session, (name for name, _ in batch))
        report.referenced += len(referenced)
        for name, written in batch:
            if name in referenced:
                continue
            if written > cutoff:
                report.too_recent += 1
                continue
            report.orphans.append(name)
    if delete:
        for chunk in range(0, len(report.orphans), BATCH):
            names = report.orphans[chunk : chunk + BATCH]
            session.rollback()  # a fresh snapshot: see rows committed since the scan
            still_orphans = set(names) - _referenced(session, names)
            for name in sorted(still_orphans):
                last = store.written_at(name)
                if last is None or last > cutoff:
                    continue
                store.delete(name)
                report.deleted += 1
                log.info("deleted orphan photo %s", name)
    return report

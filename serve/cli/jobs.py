"""Offline jobs from the terminal: ``autoquote export-reviewed``, ``collect-orphans`` and ``rescore``."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from serve.cli.database import database


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The offline jobs' commands."""
    export = sub.add_parser(
        "export-reviewed", help="write reviewed claims as training data (YOLO labels, ledger CSV, shadow quotes)"
    )
    export.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    export.add_argument(
        "--classes-from", type=Path, default=None,
        help="detector ONNX whose manifest gives the class names (default: the detector in service)",
    )
    export.set_defaults(run=cmd_export_reviewed)

    orphans = sub.add_parser(
        "collect-orphans", help="find (and with --delete remove) stored photos that no claim references"
    )
    orphans.add_argument("--older-than-hours", type=float, default=24.0,
                         help="spare photos stored more recently than this (uploads still committing)")
    orphans.add_argument("--delete", action="store_true", help="delete them (default: only list them)")
    orphans.set_defaults(run=cmd_collect_orphans)

    rescore = sub.add_parser(
        "rescore", help="quote the claims backlog again with a candidate on Ray; writes shadow quotes"
    )
    rescore.add_argument("--since", required=True, type=_date, help="claims created on or after (YYYY-MM-DD)")
    rescore.add_argument("--until", type=_date, help="claims created before (YYYY-MM-DD)")
    rescore.add_argument("--detector", help="candidate detector ONNX in the registry (default: the one in service)")
    rescore.add_argument("--severity", help="candidate severity ONNX in the registry (default: the one in service)")
    rescore.add_argument("--workers", type=int, default=2, help="Ray actors, one model load and one CPU each")
    rescore.add_argument("--address", help="a Ray cluster (e.g. 10.0.0.5:6379); default: a local instance")
    rescore.add_argument("--batch-size", type=int, default=4, help="claims per task sent to an actor")
    rescore.set_defaults(run=cmd_rescore)


def cmd_export_reviewed(args: argparse.Namespace) -> int:
    """Export reviewed claims from the configured database and photo store."""
    from model.kinds import DETECTOR
    from model.manifest import load_manifest
    from model.store import read_pointer
    from serve.jobs.export import export_reviewed
    from serve.photos.factory import make_photo_store
    from serve.settings import get_settings

    settings = get_settings()
    pointer = read_pointer(settings.data_dir)
    detector = args.classes_from or (pointer.detector if pointer else None) or settings.detector_path
    classes = load_manifest(detector or DETECTOR.shipped, verify=False).classes
    with database(settings) as sessions, sessions() as session:
        report = export_reviewed(session, make_photo_store(settings), args.out, classes)
    print(
        f"exported {report.claims} reviewed claim(s) ({report.approved} approved) to {args.out}: "
        f"{report.images} image(s) with {report.boxes} box(es) ({report.corrected_photos} corrected), "
        f"{report.ledger_rows} ledger row(s), {report.shadow_quotes} shadow quote(s)"
    )
    for line in report.skipped:
        print(f"  skipped: {line}")
    return 0


def cmd_collect_orphans(args: argparse.Namespace) -> int:
    """List or delete photos in the configured store that no claim references."""
    from datetime import timedelta

    from serve.jobs.orphans import collect_orphans
    from serve.photos.factory import make_photo_store
    from serve.settings import get_settings

    settings = get_settings()
    with database(settings) as sessions, sessions() as session:
        report = collect_orphans(
            session, make_photo_store(settings), timedelta(hours=args.older_than_hours), args.delete
        )
    for name in report.orphans:
        print(name)
    done = f"deleted {report.deleted}" if args.delete else "listed (add --delete to remove them)"
    print(
        f"{report.scanned} photo(s) scanned: {report.referenced} referenced, {report.too_recent} too recent "
        f"to judge, {len(report.orphans)} orphan(s) {done}",
        file=sys.stderr,
    )
    return 0


def _date(value: str) -> datetime:
    """A day on the command line, as the start of that day in UTC."""
    from datetime import UTC

    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)


def cmd_rescore(args: argparse.Namespace) -> int:
    """Re-score the backlog with a candidate on Ray and store shadow quotes for ``compare``."""
    from serve.jobs.rescore import rescore
    from serve.models.choice import with_models
    from serve.models.in_service import ModelsInService, load_pipeline
    from serve.settings import get_settings

    settings = get_settings()
    with database(settings) as sessions:
        settings = with_models(settings, ModelsInService(settings, load_pipeline, sessions).resolve())
        with sessions() as session:
            report = rescore(
                settings, session, Path(args.detector) if args.detector else None,
                Path(args.severity) if args.severity else None, args.since, args.until,
                workers=args.workers, address=args.address, batch_size=args.batch_size,
            )
    print(
        f"re-scored {report.claims} claim(s), {report.photos} photo(s) with {report.versions} on "
        f"{report.workers} worker(s) ({len(set(report.actor_pids))} model load(s)) in {report.seconds:.1f} s "
        f"({report.photos_per_second:.2f} photos/s); "
        f"{report.skipped} already scored by this candidate, {len(report.failed)} failed"
    )
    for line in report.failed:
        print(f"  failed: {line}")
    print(
        "compare them: autoquote export-reviewed --out DIR, "
        "then autoquote-train compare --shadow DIR/shadow_quotes.jsonl"
    )
    return 1 if report.failed else 0

"""``autoquote``: serve, migrate, manage API keys, and quote photos from the terminal."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from model.vocabulary import ROLES, SEGMENTS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from model.pipeline import Quote
    from serve.settings import Settings


def get_args_parser() -> argparse.ArgumentParser:
    """The command line of ``autoquote``."""
    parser = argparse.ArgumentParser(prog="autoquote", description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, help="service data folder (AUTOQUOTE_DATA_DIR, default ./data)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")

    sub.add_parser("migrate", help="bring the database to the latest schema")

    keys = sub.add_parser("keys", help="create, revoke and list API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, type=key_name, help="who holds it: 1-100 printable characters")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    keys_sub.add_parser("list", help="list keys (never the keys themselves)")

    quote = sub.add_parser("quote", help="quote photos in-process and print the quote")
    quote.add_argument("photos", nargs="+", type=Path)
    quote.add_argument("--region", default="CN")
    quote.add_argument("--segment", default="mid", choices=SEGMENTS)
    quote.add_argument("--jurisdiction", default=None, help="decision policy (default: the region)")
    quote.add_argument("--json", action="store_true", help="print JSON instead of text")

    export = sub.add_parser(
        "export-reviewed", help="write reviewed claims as training data (YOLO labels, ledger CSV, shadow quotes)"
    )
    export.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    export.add_argument(
        "--classes-from", type=Path, default=None,
        help="detector ONNX whose manifest gives the class names (default: the detector in service)",
    )

    orphans = sub.add_parser(
        "collect-orphans", help="find (and with --delete remove) stored photos that no claim references"
    )
    orphans.add_argument("--older-than-hours", type=float, default=24.0,
                         help="spare photos stored more recently than this (uploads still committing)")
    orphans.add_argument("--delete", action="store_true", help="delete them (default: only list them)")

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

    promote = sub.add_parser("promote", help="switch the service to models from the registry (audited)")
    promote.add_argument("--detector", help="detector ONNX in the registry (path, or relative to it)")
    promote.add_argument("--severity", help="severity ONNX in the registry (path, or relative to it)")
    promote.add_argument(
        "--url", help="a running service to switch live (e.g. http://127.0.0.1:8000); "
        "without it the choice is recorded and used at the next start"
    )
    promote.add_argument("--key", default=os.environ.get("AUTOQUOTE_ADMIN_KEY"),
                         help="admin API key for --url (default: AUTOQUOTE_ADMIN_KEY)")
    return parser


def key_name(value: str) -> str:
    """A key's name as argparse validates it: 1-100 printable characters, not only spaces."""
    name = value.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a usable name: give 1-100 printable characters, e.g. --name 'claims app'"
        )
    return name


def self_command() -> str:
    """How to run this program again from the user's shell: 'autoquote' only when that is what PATH finds."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "autoquote":
        found = shutil.which("autoquote")
        if found and Path(found).resolve() == argv0.resolve():
            return "autoquote"
        return str(argv0)
    return f"{sys.executable} -m serve.cli"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``autoquote`` command; every failure is one line on stderr that says what to do."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: Exception) -> str:
    from pydantic import ValidationError

    from model.errors import AutoquoteError

    if isinstance(exc, AutoquoteError):
        return f"[{exc.code}] {exc.message}"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = "_".join(str(p) for p in first.get("loc", ())).upper()
        variable = f"AUTOQUOTE_{where}" if where else "an AUTOQUOTE_* variable"
        return f"[config_invalid] {variable}: {first.get('msg')}; fix the environment variable and run again"
    if isinstance(exc, FileNotFoundError):
        return f"[file_not_found] no such file: {exc.filename}; check the path"
    if isinstance(exc, IsADirectoryError):
        return f"[file_not_found] {exc.filename} is a folder, not a photo; name the photo files"
    if isinstance(exc, PermissionError):
        return f"[permission_denied] cannot read {exc.filename}; check its permissions"
    if isinstance(exc, OSError):
        return f"[os_error] {exc.strerror or exc} ({exc.filename or ''}); check the path and the disk"
    return f"[internal_error] {type(exc).__name__}: {exc}; this is a bug, please report it with the command"


def _run(argv: Sequence[str] | None) -> int:
    from model.offline import configure_offline

    configure_offline()
    args = get_args_parser().parse_args(argv)
    if args.data_dir is not None:
        os.environ["AUTOQUOTE_DATA_DIR"] = str(args.data_dir)
    from model.errors import AutoquoteError

    try:
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "migrate":
            return cmd_migrate()
        if args.command == "keys":
            return cmd_keys(args)
        if args.command == "export-reviewed":
            return cmd_export_reviewed(args)
        if args.command == "promote":
            return cmd_promote(args)
        if args.command == "rescore":
            return cmd_rescore(args)
        if args.command == "collect-orphans":
            return cmd_collect_orphans(args)
        return cmd_quote(args)
    except AutoquoteError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 2


@contextmanager
def _database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the configured database, migrated first; its connections are closed afterwards."""
    from serve.db.session import make_engine, make_sessionmaker, run_migrations

    run_migrations(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


def cmd_migrate() -> int:
    """Migrate the configured database."""
    from serve.db.session import run_migrations
    from serve.settings import get_settings

    settings = get_settings()
    run_migrations(settings.db_url)
    print(f"database at {_redact(settings.db_url)} is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Migrate, say how to get a key if there is none, then run uvicorn."""
    import uvicorn

    from serve.db.keys import count_active
    from serve.settings import get_settings

    settings = get_settings()
    with _database(settings) as sessions, sessions() as session:
        active = count_active(session)
    if active == 0:
        print(
            "no API keys yet: create one in another terminal with\n"
            f"    {self_command()} keys create --role admin --name me\n"
            "(it is printed once; send it as 'Authorization: Bearer <key>')",
            flush=True,
        )
    os.environ["AUTOQUOTE_MIGRATE_ON_START"] = "false"  # done above, once, not per worker
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import shutil

        shared = settings.data_dir / "prometheus"
        shutil.rmtree(shared, ignore_errors=True)  # counts of an earlier run must not add up with these
        shared.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)  # set before uvicorn spawns the workers
    print(f"autoquote serving on http://{args.host}:{args.port} (API docs at /docs)", flush=True)
    uvicorn.run(
        "serve.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """Create, revoke or list API keys."""
    from serve.db import keys
    from serve.settings import get_settings

    with _database(get_settings()) as sessions, sessions() as session:
        if args.keys_command == "create":
            row, key = keys.create_key(session, args.name, args.role)
            session.commit()
            print(f"created {row.role} key {row.id} for {row.name}; it is shown only now:\n{key}")
        elif args.keys_command == "revoke":
            row = keys.revoke_key(session, args.key_id)
            session.commit()
            print(f"revoked key {row.id} ({row.name})")
        else:
            for row in keys.list_keys(session):
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                print(f"{row.id}  {row.role:<9} {row.prefix}…  {state:<18} {row.name}")
    return 0


def cmd_export_reviewed(args: argparse.Namespace) -> int:
    """Export reviewed claims from the configured database and photo store."""
    from model.manifest import WEIGHTS_DIR, load_manifest
    from model.store import read_pointer
    from serve.jobs.export import export_reviewed
    from serve.photos.factory import make_photo_store
    from serve.settings import get_settings

    settings = get_settings()
    pointer = read_pointer(settings.data_dir)
    detector = args.classes_from or (pointer.detector if pointer else None) or settings.detector_path
    classes = load_manifest(detector or WEIGHTS_DIR / "detector.onnx", verify=False).classes
    with _database(settings) as sessions, sessions() as session:
        report = export_reviewed(session, make_photo_store(settings), args.out, classes)
    print(
        f"exported {report.claims} reviewed claim(s) ({report.approved} approved) to {args.out}: "
        f"{report.images} image(s) with {report.boxes} box(es) ({report.corrected_photos} corrected), "
        f"{report.ledger_rows} ledger row(s), {report.shadow_quotes} shadow quote(s)"
    )
    for line in report.skipped:
        print(f"  skipped: {line}")
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
    with _database(settings) as sessions:
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


def cmd_collect_orphans(args: argparse.Namespace) -> int:
    """List or delete photos in the configured store that no claim references."""
    from datetime import timedelta

    from serve.jobs.orphans import collect_orphans
    from serve.photos.factory import make_photo_store
    from serve.settings import get_settings

    settings = get_settings()
    with _database(settings) as sessions, sessions() as session:
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


def cmd_promote(args: argparse.Namespace) -> int:
    """Promote through a running service (--url), or record the choice for the next start (audited)."""
    import json
    import urllib.error
    import urllib.request

    if not args.detector and not args.severity:
        print("name --detector, --severity or both", file=sys.stderr)
        return 2
    body = {k: v for k, v in (("detector", args.detector), ("severity", args.severity)) if v}
    if args.url:
        if not args.key:
            print("--url needs an admin key: --key or AUTOQUOTE_ADMIN_KEY", file=sys.stderr)
            return 2
        request = urllib.request.Request(
            args.url.rstrip("/") + "/v1/admin/models/promote",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                state = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            print(f"refused ({exc.code}): {exc.read().decode(errors='replace')}", file=sys.stderr)
            return 2
        print(f"promoted: {state['previous_versions']} -> {state['versions']}")
        return 0
    from serve.db import audit
    from serve.models.choice import describe
    from serve.models.in_service import ModelsInService, load_pipeline
    from serve.settings import get_settings

    settings = get_settings()
    with _database(settings) as sessions:
        models = ModelsInService(settings, load_pipeline, sessions)
        models.start()
        previous, pipeline = models.promote(
            Path(args.detector) if args.detector else None,
            Path(args.severity) if args.severity else None,
            "cli",
        )
        with sessions() as session:
            audit.model_promoted(
                session, None, previous, pipeline.versions(), describe(models.active), "cli", models.generation
            )
            session.commit()
    print(f"promoted: {previous} -> {pipeline.versions()}\n"
          f"recorded in the database; running replicas switch within {settings.model_poll_seconds:g} s "
          "(AUTOQUOTE_MODEL_POLL_SECONDS) plus the time to load the models")
    return 0


def cmd_quote(args: argparse.Namespace) -> int:
    """Quote photos with the same pipeline the service runs, and print the result."""
    from model.findings import ClaimContext
    from model.image_io import configure_pillow
    from model.pipeline import PhotoInput
    from serve.models.in_service import load_pipeline
    from serve.settings import get_settings

    settings = get_settings()
    configure_pillow(settings.max_pixels)
    pipeline = load_pipeline(settings)
    inputs = [PhotoInput(path.name, pipeline.decode(path.read_bytes())) for path in args.photos]
    quote = pipeline.quote(
        inputs, ClaimContext(segment=args.segment, region=args.region.upper()), args.jurisdiction
    )
    if args.json:
        from serve.http.schemas import unsaved_quote_out

        print(unsaved_quote_out(quote).model_dump_json(indent=2))
        return 0
    print(format_quote(quote))
    return 0


def format_quote(quote: Quote) -> str:
    """A quote as text for a terminal."""
    lines = [f"decision: {quote.decision.outcome}  (policy {quote.decision.policy})"]
    for reason in quote.decision.reasons:
        where = f" [{reason.photo_id}]" if reason.photo_id else ""
        lines.append(f"  - {reason.code}{where}: {reason.message}")
    for photo in quote.photos:
        lines.append(
            f"photo {photo.photo_id}: {photo.size[0]}x{photo.size[1]}, {len(photo.findings)} finding(s)"
        )
        for issue in photo.quality.issues:
            lines.append(f"  ! {issue.code}: {issue.message}")
        for f in photo.findings:
            sev = " ".join(f"{k}={v:.2f}" for k, v in f.severity.items())
            box = ",".join(f"{v:.0f}" for v in f.box)
            lines.append(f"  {f.part:<11} score={f.score:.2f}  box=({box})  {sev}")
    est = quote.estimate
    if est is not None:
        lines.append("line items:")
        for item in est.line_items:
            total = f"{item.total:>10,.2f} {est.currency}"
            lines.append(f"  {item.part:<11} {item.operation:<8} {total}  {item.description}")
        lines.append(
            f"total: {est.total:,.2f} {est.currency}  "
            f"({est.level:.0%} interval {est.low:,.2f} - {est.high:,.2f})"
        )
    lines.append("versions: " + ", ".join(f"{k}={v}" for k, v in quote.versions.items()))
    return "\n".join(lines)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""The models from the terminal: ``autoquote quote`` (photos in, quote out, in-process) and ``promote``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from model.vocabulary import SEGMENTS
from serve.cli.database import database

if TYPE_CHECKING:
    from model.pipeline import Quote


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands on models."""
    quote = sub.add_parser("quote", help="quote photos in-process and print the quote")
    quote.add_argument("photos", nargs="+", type=Path)
    quote.add_argument("--region", default="CN")
    quote.add_argument("--segment", default="mid", choices=SEGMENTS)
    quote.add_argument("--jurisdiction", default=None, help="decision policy (default: the region)")
    quote.add_argument(
        "--declared", action="append", default=[], metavar="PART",
        help="a part the customer says is damaged (Door, Door:left); repeat for more; the photos are wide shots",
    )
    quote.add_argument("--json", action="store_true", help="print JSON instead of text")
    quote.set_defaults(run=cmd_quote)

    promote = sub.add_parser("promote", help="switch the service to models from the registry (audited)")
    promote.add_argument("--detector", help="detector ONNX in the registry (path, or relative to it)")
    promote.add_argument("--severity", help="severity ONNX in the registry (path, or relative to it)")
    promote.add_argument(
        "--url", help="a running service to switch live (e.g. http://127.0.0.1:8000); "
        "without it the choice is recorded and used at the next start"
    )
    promote.add_argument("--key", default=os.environ.get("AUTOQUOTE_ADMIN_KEY"),
                         help="admin API key for --url (default: AUTOQUOTE_ADMIN_KEY)")
    promote.set_defaults(run=cmd_promote)


def cmd_quote(args: argparse.Namespace) -> int:
    """Quote photos with the same pipeline the service runs, and print the result."""
    from model.declared import parse_declared
    from model.findings import ClaimContext
    from model.image_io import configure_pillow
    from model.pipeline import PhotoInput
    from serve.models.in_service import load_pipeline
    from serve.settings import get_settings

    settings = get_settings()
    configure_pillow(settings.max_pixels)
    pipeline = load_pipeline(settings)
    declared = parse_declared(args.declared, pipeline.parts)
    inputs = [PhotoInput(path.name, pipeline.decode(path.read_bytes())) for path in args.photos]
    context = ClaimContext(segment=args.segment, region=args.region.upper())
    quote = pipeline.quote(inputs, context, args.jurisdiction, declared)
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
    if quote.verification is not None:
        lines.append(f"declared (at detector score {quote.verification.threshold:g}):")
        for check in quote.verification.parts:
            seen = f" on photo {check.photo_id}" if check.finding is not None else ""
            lines.append(f"  {check.declared!s:<16} {check.status}{seen}")
        for part in quote.verification.undeclared_parts:
            lines.append(f"  {part:<16} found, not declared (not priced)")
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
    with database(settings) as sessions:
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

"""Running the service: ``autoquote serve``, ``migrate`` and ``keys`` (create, revoke, list API keys)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from model.vocabulary import ROLES
from serve.cli.database import database, redact


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The operators' commands."""
    serve = sub.add_parser("serve", help="run the HTTP service (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=cmd_serve)

    migrate = sub.add_parser("migrate", help="bring the database to the latest schema")
    migrate.set_defaults(run=cmd_migrate)

    keys = sub.add_parser("keys", help="create, revoke and list API keys")
    keys.set_defaults(run=cmd_keys)
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, type=key_name, help="who holds it: 1-100 printable characters")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    keys_sub.add_parser("list", help="list keys (never the keys themselves)")

    autonomy = sub.add_parser("autonomy", help="earned autonomy: what each policy's steps have proven")
    autonomy_sub = autonomy.add_subparsers(dest="autonomy_command", required=True)
    status = autonomy_sub.add_parser("status", help="per policy and step: state, evidence, bound, more needed")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    autonomy.set_defaults(run=cmd_autonomy)


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


def cmd_migrate(args: argparse.Namespace) -> int:
    """Migrate the configured database."""
    from serve.db.session import run_migrations
    from serve.settings import get_settings

    settings = get_settings()
    run_migrations(settings.db_url)
    print(f"database at {redact(settings.db_url)} is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Migrate, say how to get a key if there is none, then run uvicorn."""
    import uvicorn

    from serve.db.keys import count_active
    from serve.settings import get_settings

    settings = get_settings()
    with database(settings) as sessions, sessions() as session:
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

    with database(get_settings()) as sessions, sessions() as session:
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


def cmd_autonomy(args: argparse.Namespace) -> int:
    """Print each policy's steps for the models in service, from the gradings in the database."""
    import json

    from model.decision import available_policies
    from serve.claims.autonomy import report
    from serve.models.in_service import load_pipeline
    from serve.settings import get_settings

    settings = get_settings()
    pipeline = load_pipeline(settings)
    policies = [pipeline.policy(name) for name in available_policies(pipeline.config.policies_dir)]
    with database(settings) as sessions, sessions() as session:
        found = report(session, policies, pipeline.versions())
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print(format_autonomy(found))
    return 0


def format_autonomy(found: dict[str, object]) -> str:
    """The autonomy report as text: one block per policy, one line per step."""
    lines: list[str] = []
    for policy in found["policies"]:  # type: ignore[attr-defined]
        lines.append(
            f"{policy['policy']}  autonomy {policy['autonomy']}, target {policy['target']:.0%} at "
            f"{policy['confidence']:.0%}, audits {policy['audit_rate']:.0%}, blind reviews "
            f"{policy['blind_review_rate']:.0%}  (models {policy['models']})"
        )
        if not policy["steps"]:
            lines.append("  no threshold path: the policy's own decision stands")
        for label, steps in (("", policy["steps"]), ("partial ", policy["partial_release"] or [])):
            for s in steps:
                more = "proven" if s["more_needed"] == 0 else (
                    "not reachable at this error rate" if s["more_needed"] is None
                    else f"{s['more_needed']} more agreeing blind reviews"
                    + ("" if s["testable"] else ", tested once the stricter step is proven")
                )
                lines.append(
                    f"  {label}{s['step']:<12} {s['state']:<21} graded {s['graded']}, would settle "
                    f"{s['would_settle']}, wrong {s['wrong']} (overpay {s['overpay']} / underpay {s['underpay']}), "
                    f"bound {s['bound']:.1%}; {more}"
                )
    return "\n".join(lines)

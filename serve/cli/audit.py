"""``autoquote audit verify``: walk the audit log's hash chains and name the first broken link."""

from __future__ import annotations

import argparse
import json
import re

from serve.cli.database import database, redact

ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The audit log's commands."""
    audit = sub.add_parser("audit", help="check that the audit log was not edited, deleted from or reordered")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="walk both hash chains; exit 0 with the head when intact, 1 naming the first broken link"
    )
    verify.add_argument("--json", action="store_true", help="print JSON instead of text")
    verify.add_argument(
        "--expect", type=anchor, metavar="COUNT:HASH",
        help="a head printed by an earlier run and kept outside the database: the COUNT-th event must have HASH",
    )
    audit.set_defaults(run=cmd_audit)


def anchor(value: str) -> tuple[int, str]:
    """``COUNT:HASH`` as argparse validates it."""
    found = ANCHOR.match(value.strip().lower())
    if found is None or int(found.group(1)) < 1:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not COUNT:HASH; give the events count and the 64-hex head hash an earlier "
            "'autoquote audit verify' printed, e.g. --expect 1200:3f9a…"
        )
    return int(found.group(1)), found.group(2)


def cmd_audit(args: argparse.Namespace) -> int:
    """Verify the configured database's audit log from its first event."""
    from serve.db.audit_chain import Break, Verdict, verify, verify_anchor
    from serve.settings import get_settings

    settings = get_settings()
    with database(settings) as sessions, sessions() as session:
        verdict: Verdict = verify(session)
        if verdict.broken is None and args.expect is not None:
            broken: Break | None = verify_anchor(session, *args.expect)
            verdict = Verdict(verdict.head, broken, True)
    if args.json:
        print(json.dumps({"database": redact(settings.db_url), **verdict.as_dict()}, indent=2))
    elif verdict.broken is None:
        print(f"audit log intact: {verdict.head.events} events, head {verdict.head.hash} "
              f"(event {verdict.head.last_id})")
    else:
        b = verdict.broken
        where = f"event {b.event_id}" if b.event_id is not None else "the log's end"
        print(f"audit log broken at {where}: {b.problem}: {b.why}; the {verdict.head.events} events before it "
              f"verify (head {verdict.head.hash})")
    return 0 if verdict.broken is None else 1

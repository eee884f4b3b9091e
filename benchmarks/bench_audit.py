"""What the audit log's hash chain costs: per committed event, chained against the same row inserted plainly; and
how fast ``verify`` walks a log (the CLI's full walk and /readyz's 5,000-event slice).

Each run commits ``--events`` transactions of one event each (claims cycling over ``--claims`` ids, so the claim
link is looked up too); the figure is the median of ``--runs`` runs. A temporary SQLite file by default, or the
PostgreSQL database at ``--postgres-url`` (its audit tables are emptied first: use a scratch database).

    .venv/bin/python benchmarks/bench_audit.py --events 300 --runs 5
    .venv/bin/python benchmarks/bench_audit.py --postgres-url postgresql+psycopg://user@127.0.0.1:5432/scratch
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, insert, text  # noqa: E402

from serve.db import audit  # noqa: E402
from serve.db.audit_chain import AuditWatch, verify  # noqa: E402
from serve.db.rows import AuditEventRow, utcnow  # noqa: E402
from serve.db.session import make_engine, make_sessionmaker, run_migrations  # noqa: E402

DETAIL = {"status": {"from": "submitted", "to": "assessed"}, "quote_id": "q" * 32, "amount": 8580.0}


def chained(engine: Engine, n: int, claims: int) -> float:
    """Seconds per event written by the service's writer (head lock, claim link, hash)."""
    sessions = make_sessionmaker(engine)
    start = time.perf_counter()
    for i in range(n):
        with sessions() as session:
            audit.claim_transition(session, None, f"claim{i % claims}", "claim.settled", DETAIL)
            session.commit()
    return (time.perf_counter() - start) / n


def plain(engine: Engine, n: int, claims: int) -> float:
    """Seconds per event inserted as before the chain: the same row in a session, no lock, lookups or hashing."""
    sessions = make_sessionmaker(engine)
    start = time.perf_counter()
    for i in range(n):
        with sessions() as session:
            session.execute(
                insert(AuditEventRow),
                {"at": utcnow(), "actor_role": "system", "action": "claim.settled", "claim_id": f"claim{i % claims}",
                 "detail": DETAIL, "prev_hash": "p" * 64, "hash": "h" * 64},
            )
            session.commit()
    return (time.perf_counter() - start) / n


def empty(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("DELETE FROM audit_events"))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
            conn.execute(text("DELETE FROM audit_events"))
            conn.execute(text("CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
                              "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"))
        conn.execute(text("INSERT INTO audit_head (id, events, hash) VALUES (1, 0, :h)"), {"h": "0" * 64})


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres_url or f"sqlite:///{tmp}/bench.db"
        run_migrations(url)
        engine = make_engine(url)
        try:
            per_plain, per_chained = [], []
            for _ in range(args.runs):
                empty(engine)
                per_plain.append(plain(engine, args.events, args.claims))
                empty(engine)
                per_chained.append(chained(engine, args.events, args.claims))
            p, c = statistics.median(per_plain), statistics.median(per_chained)
            print(f"{engine.dialect.name}: per committed event, median of {args.runs} runs of {args.events}: "
                  f"plain {p * 1e3:.2f} ms, chained {c * 1e3:.2f} ms (+{(c - p) * 1e3:.2f} ms, {c / p - 1:+.0%})")
            while args.walk > args.events:  # grow the log for the walk (chained writes, batched)
                with make_sessionmaker(engine)() as session:
                    for i in range(min(1000, args.walk - args.events)):
                        audit.claim_transition(session, None, f"claim{i % args.claims}", "claim.settled", DETAIL)
                    session.commit()
                args.events += 1000
            sessions = make_sessionmaker(engine)
            with sessions() as session:
                start = time.perf_counter()
                verdict = verify(session)
                walk = time.perf_counter() - start
            assert verdict.broken is None, verdict.broken
            watch, slices = AuditWatch(), []
            while True:  # /readyz after a start: a slice per call until it has caught up, then one more
                with sessions() as session:
                    start = time.perf_counter()
                    found = watch.check(session)
                    slices.append(time.perf_counter() - start)
                if found is None or found.complete:
                    break
            with sessions() as session:
                start = time.perf_counter()
                watch.check(session)
                caught_up = time.perf_counter() - start
            print(f"verify: {verdict.head.events} events in {walk:.2f} s ({verdict.head.events / walk:,.0f}/s); "
                  f"/readyz: {len(slices)} calls of at most {watch.budget} events to catch up, median "
                  f"{statistics.median(slices) * 1e3:.0f} ms; caught up, a call takes {caught_up * 1e3:.1f} ms")
        finally:
            engine.dispose()


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300, help="committed events per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--claims", type=int, default=50, help="claim ids the events cycle over")
    parser.add_argument("--walk", type=int, default=20000, help="events in the log the walk is timed on")
    parser.add_argument("--postgres-url", help="a scratch PostgreSQL database (emptied) instead of SQLite")
    return parser


if __name__ == "__main__":
    main(get_args_parser().parse_args())

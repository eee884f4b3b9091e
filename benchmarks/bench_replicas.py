"""One replica against two behind nginx: throughput and p95 under a closed-loop Locust load, and how long a
promotion takes to reach every replica while the load runs.

Starts the stand of ``deploy/up.sh`` (a private PostgreSQL unless ``--database-url``, the S3 stand-in, two
replicas, nginx; all on 127.0.0.1), runs Locust headless for ``--seconds`` with ``--users`` through nginx
to replica 1 alone, then to both with a promotion sent a third of the way in, and prints a table.

    .venv/bin/python benchmarks/bench_replicas.py --users 4 --seconds 60
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "deploy")]

import stand as S  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a private cluster)")
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="AUTOQUOTE_MODEL_POLL_SECONDS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "stand"
        stand = S.up(run, args.database_url, args.poll_seconds)
        try:
            customer, admin = S.make_key(stand, "customer"), S.make_key(stand, "admin")
            candidate = S.add_candidate(stand, "0.0.0-canary")
            one = S.load(stand.nginx_one, customer, args.users, args.seconds, run / "one")
            watch = S.PromotionWatch(candidate, "0.0.0-canary", after_seconds=args.seconds / 3)
            thread = S.promote_during(stand, admin, watch)
            two = S.load(stand.nginx, customer, args.users, args.seconds, run / "two")
            thread.join(timeout=300)
        finally:
            S.down(run)
    print(f"{args.users} users, closed loop, {args.seconds} s each, through nginx; cores: {os.cpu_count()}")
    print("| replicas | requests | failures | req/s | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    for n, r in ((1, one), (2, two)):
        print(f"| {n} | {r.requests} | {r.failures} | {r.rps:.1f} | {r.p50_ms:.0f} | {r.p95_ms:.0f} |")
    seen = ", ".join(f"{url}: {s:.1f} s" for url, s in sorted(watch.seen_s.items()))
    print(
        f"promotion: answered in {watch.answered_s:.1f} s; seen on every replica after "
        f"{watch.all_replicas_s or float('nan'):.1f} s ({seen}); error: {watch.error}"
    )


if __name__ == "__main__":
    main()

"""What an assessment pays to know each step's state: replaying every grading against reading the last state.

A fresh SQLite database (migrated) gets ``N`` gradings of one evidence key under the shipped CN policy, written
as the service writes them (``grade_decision``'s rows, with the states ``sync_states`` records); then, for each
``N``, the median over ``--runs`` of replaying the gradings (``path_status``, what assessment did) and of
reading the last recorded states (``recorded_states``, what it does now), and whether both agree. The last
line is one JSON object.

    .venv/bin/python benchmarks/bench_autonomy_states.py --runs 20
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402

from model.autonomy import AdjusterDecision, Proposal, grade  # noqa: E402
from model.decision import load_policy  # noqa: E402
from serve.claims.autonomy import path_status, recorded_states, sync_states  # noqa: E402
from serve.db import gradings  # noqa: E402
from serve.db.gradings import EvidenceKey  # noqa: E402
from serve.db.session import make_engine, make_sessionmaker, run_migrations  # noqa: E402

VERSIONS = {
    "detector": "bench-detector@1", "severity": "bench-severity@1", "pricer": "bench-pricer@1", "catalogue": "1"
}


def fill(url: str, n: int, seed: int) -> None:
    """``n`` gradings of one key; each step would settle a claim with probability 0.6, wrong 1 % of the time."""
    policy = load_policy("CN").model_copy(update={"autonomy": "automatic"})
    key = EvidenceKey.of(VERSIONS, policy.label)
    rng = random.Random(seed)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        session.execute(text("PRAGMA foreign_keys = OFF"))  # gradings of claims this bench never made
        for i in range(n):
            amount = 800.0
            final = AdjusterDecision("approve", {"bumper": amount * (0.5 if rng.random() < 0.01 else 1.0)}, 0.0)
            final = AdjusterDecision(final.action, final.items, sum(final.items.values()))
            g = grade(Proposal({"bumper": amount}, amount, policy.currency), final, policy, blind=rng.random() < 0.5)
            would = [rng.random() < 0.6 for _ in policy.threshold_path]
            gradings.add_grading(
                session, key, VERSIONS, claim_id=f"c{i}", review_id=f"r{i}", quote_id=f"q{i}", headline=g,
                steps=[g if w else None for w in would], would_settle=would, autonomous=False, audit_drawn=False,
            )
            sync_states(session, policy, key, None)
        session.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    policy = load_policy("CN").model_copy(update={"autonomy": "automatic"})
    key = EvidenceKey.of(VERSIONS, policy.label)
    out: dict[str, object] = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            run_migrations(url)
            fill(url, n, seed=n)
            engine = make_engine(url)
            with make_sessionmaker(engine)() as session:
                replay, read = [], []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    replayed = path_status(session, policy, key).states
                    replay.append(1000 * (time.perf_counter() - t))
                    t = time.perf_counter()
                    recorded = recorded_states(session, policy, key)
                    read.append(1000 * (time.perf_counter() - t))
                assert replayed == recorded, (replayed, recorded)
            engine.dispose()
        figures = {"replay_ms": round(statistics.median(replay), 2), "recorded_ms": round(statistics.median(read), 2),
                   "agree": replayed == recorded, "states": sorted(set(recorded.values()))}
        print(f"{n} gradings: replay {figures['replay_ms']} ms, last recorded {figures['recorded_ms']} ms "
              f"(median of {args.runs}); states agree: {figures['agree']} {figures['states']}")
        out[str(n)] = figures
    print(json.dumps({"runs": args.runs, "by_gradings": out}))


if __name__ == "__main__":
    main()

"""Backlog re-scoring throughput on Ray: photos per second with 1 and 2 workers, and the per-worker figure.

Makes a backlog of synthetic claims (640x480 JPEGs, 1-2 photos each) in a temporary SQLite file and
photo folder, then runs ``serve.jobs.rescore.rescore`` with the shipped models on a local Ray instance on
127.0.0.1 (one actor per worker, one model load each; loading is not timed).

    .venv/bin/python benchmarks/bench_rescore.py --claims 40 --workers 1 2
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a single-node instance on 127.0.0.1

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from serve.db import claims, keys  # noqa: E402
from serve.db.keys import Principal  # noqa: E402
from serve.db.rows import ShadowQuoteRow  # noqa: E402
from serve.db.session import make_engine, make_sessionmaker, run_migrations  # noqa: E402
from serve.jobs.rescore import rescore  # noqa: E402
from serve.photos.local import LocalPhotoStore  # noqa: E402
from serve.settings import Settings  # noqa: E402


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.normal(128, 40, size=(480, 640, 3)).clip(0, 255).astype(np.uint8)
    arr[100:380, 120:520] = rng.integers(0, 255, size=3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def make_backlog(settings: Settings, n: int) -> int:
    run_migrations(settings.db_url)
    engine = make_engine(settings.db_url)
    store = LocalPhotoStore(settings.photos_dir)
    photos = 0
    with make_sessionmaker(engine)() as session:
        row, _ = keys.create_key(session, "bench", "customer")
        session.flush()
        who = Principal(key_id=row.id, name=row.name, role="customer")
        for i in range(n):
            claim = claims.create_claim(session, who, claims.NewClaim(region="CN", jurisdiction="CN", segment="mid"))
            batch = []
            for j in range(1 + i % 2):
                data = photo(1000 * i + j)
                batch.append(
                    claims.StoredPhoto(
                        sha256=store.put(data),
                        content_type="image/jpeg",
                        byte_size=len(data),
                        width=640,
                        height=480,
                        filename=f"{i}-{j}.jpg",
                    )
                )
            claims.add_photos(session, who, claim, batch, 12)
            photos += len(batch)
        session.commit()
    engine.dispose()
    return photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(environment="test", data_dir=Path(tmp) / "data")
        photos = make_backlog(settings, args.claims)
        engine = make_engine(settings.db_url)
        print(f"backlog: {args.claims} claims, {photos} photos (640x480 JPEG); cores: {os.cpu_count()}")
        print("| workers | photos | seconds | photos/s | photos/s per worker |")
        print("|---|---|---|---|---|")
        for workers in args.workers:
            with make_sessionmaker(engine)() as session:
                session.query(ShadowQuoteRow).delete()
                session.commit()
                report = rescore(settings, session, None, None, datetime(2000, 1, 1, tzinfo=UTC), workers=workers)
            assert not report.failed, report.failed
            rate = report.photos_per_second
            print(f"| {workers} | {report.photos} | {report.seconds:.1f} | {rate:.1f} | {rate / workers:.1f} |")
        engine.dispose()


if __name__ == "__main__":
    main()

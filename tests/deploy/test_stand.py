"""The multi-replica stand in CI: nginx, two replicas, PostgreSQL and the S3 stand-in on 127.0.0.1.

A bounded Locust run (fixed users and duration) through nginx to one replica, then to both with a
promotion sent halfway that every replica picks up; no request may fail. The figures go to
``$AUTOQUOTE_TEST_ARTIFACTS/stand.json`` and the test's output.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy"))

pytestmark = [pytest.mark.scale, pytest.mark.slow, pytest.mark.postgres]
USERS = 2
SECONDS = 20


def _missing() -> str | None:
    for module in ("boto3", "moto", "locust"):  # found, not imported: Locust patches the process it is imported in
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: pip install -e '.[scale]'"
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        return "nginx is not installed (apt-get install nginx)"
    if not os.environ.get("AUTOQUOTE_TEST_POSTGRES_URL"):
        return "set AUTOQUOTE_TEST_POSTGRES_URL to run the stand on PostgreSQL"
    return None


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    import psycopg
    import stand as stand_mod
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["AUTOQUOTE_TEST_POSTGRES_URL"])
    name = "autoquote_stand_" + uuid.uuid4().hex[:8]
    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    run = tmp_path_factory.mktemp("stand")
    try:
        yield stand_mod.up(run, url.set(database=name).render_as_string(hide_password=False))
    finally:
        stand_mod.down(run)
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_load_through_nginx_one_then_two_replicas_with_a_promotion_no_request_fails(stand) -> None:  # type: ignore[no-untyped-def]
    import stand as S

    customer, admin = S.make_key(stand, "customer"), S.make_key(stand, "admin")
    candidate = S.add_candidate(stand, "0.0.0-canary")
    one = S.load(stand.nginx_one, customer, USERS, SECONDS, stand.run / "load-one")
    watch = S.PromotionWatch(candidate, "0.0.0-canary", after_seconds=SECONDS / 3)
    thread = S.promote_during(stand, admin, watch)
    two = S.load(stand.nginx, customer, USERS, SECONDS, stand.run / "load-two")
    thread.join(timeout=180)

    figures = {
        "users": USERS,
        "seconds": SECONDS,
        "one_replica": vars(one),
        "two_replicas": vars(two),
        "promotion": {**vars(watch), "all_replicas_s": watch.all_replicas_s},
    }
    print("\n" + json.dumps(figures, indent=2))
    artifacts = Path(os.environ.get("AUTOQUOTE_TEST_ARTIFACTS", stand.run))
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "stand.json").write_text(json.dumps(figures, indent=2))

    assert one.requests > 0 and two.requests > 0
    assert one.failures == 0 and two.failures == 0, figures
    assert watch.error is None, watch.error
    assert set(watch.seen_s) == set(stand.replicas)
    models = [S.get_json(f"{url}/v1/models") for url in stand.replicas]
    assert models[0] == models[1] and str(models[0]["versions"]["detector"]).endswith("@0.0.0-canary")


def test_the_replicas_share_claims_photos_and_idempotency(stand) -> None:  # type: ignore[no-untyped-def]
    import httpx
    import stand as S

    customer = {"Authorization": f"Bearer {S.make_key(stand, 'customer')}"}
    first, second = stand.replicas
    answers: list[httpx.Response] = []

    def create(url: str) -> None:
        answers.append(
            httpx.post(
                f"{url}/v1/claims", json={"region": "CN"}, headers=customer | {"Idempotency-Key": "one"}, timeout=120
            )
        )

    threads = [threading.Thread(target=create, args=(u,)) for u in (first, second, first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.json()["id"] for r in answers}) == 1
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]

    claim_id = answers[0].json()["id"]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
    from tests.fakes import photo_bytes

    added = httpx.post(
        f"{first}/v1/claims/{claim_id}/photos",
        files=[("files", ("a.jpg", photo_bytes(seed=77), "image/jpeg"))],
        headers=customer,
        timeout=120,
    )
    assert added.status_code == 201, added.text
    assessed = httpx.post(f"{second}/v1/claims/{claim_id}/assess", headers=customer, timeout=120)
    assert assessed.status_code == 200 and assessed.json()["quote"] is not None, assessed.text  # photo read from S3

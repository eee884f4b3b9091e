"""kill -9 while adjusters decide claims, on SQLite and on PostgreSQL: after a restart every acknowledged
decision has its grading, every decided claim has exactly one (a decision and its grading commit together), a
retried decision is refused rather than graded twice, and the database itself refuses a second grading of one
review.

Three adjusters approve (blind, at the model's amount) or reject claims from a shared pile while the server is
killed at a random moment, several times; a decision whose answer was lost is retried after the restart, as a
client would.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from serve.db.rows import AutonomyStateRow, ClaimReviewRow, ClaimRow, GradingRow
from serve.db.session import make_engine, make_sessionmaker
from tests.fakes import photo_bytes
from tests.serve.live import POSTGRES_URL, LiveServer, make_keys, reset_postgres
from tests.serve.test_autonomy import SECRET, autonomy_policies

pytestmark = pytest.mark.slow
KILLS = int(os.environ.get("AUTOQUOTE_FAULT_KILLS", "3"))
CLAIMS = 36 + 12 * KILLS


class Pile:
    """Claims in review, taken by one adjuster at a time; a claim whose decision got no answer goes back."""

    def __init__(self, claims: dict[str, float]) -> None:
        self.todo = list(claims)
        self.totals = claims
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}  # claim -> the outcome the service acknowledged
        self.refused: dict[str, int] = {}  # claim -> the status a retry got (the decision had been committed)

    def take(self) -> str | None:
        with self.lock:
            return self.todo.pop(0) if self.todo else None

    def give_back(self, claim: str) -> None:
        with self.lock:
            self.todo.append(claim)


def _adjuster(base: str, key: str, pile: Pile, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        while not stop.is_set():
            claim = pile.take()
            if claim is None:
                return
            reject = rng.random() < 0.2
            try:
                if reject:
                    r = http.post(f"/v1/claims/{claim}/reject", json={"comment": "not covered"})
                else:
                    r = http.post(f"/v1/claims/{claim}/approve", json={"amount": pile.totals[claim]})
            except httpx.TransportError:
                pile.give_back(claim)  # no answer: the client tries again later
                time.sleep(0.05)
                continue
            if r.status_code == 200:
                pile.acked[claim] = "rejected" if reject else "approved"
            elif r.status_code == 409:
                pile.refused[claim] = r.status_code  # decided before the kill cut the answer off
            else:
                raise AssertionError((claim, r.status_code, r.text))


def _open_claims(base: str, customer: str, n: int) -> dict[str, float]:
    """``n`` claims assessed into review (shadow: nothing is proven yet), with the model's totals."""
    out: dict[str, float] = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {customer}"}, timeout=60) as http:
        for seed in range(n):
            claim = http.post("/v1/claims", json={"region": "CN"}).json()["id"]
            files = [("files", (f"p{seed}.jpg", photo_bytes(seed=seed + 1), "image/jpeg"))]
            assert http.post(f"/v1/claims/{claim}/photos", files=files).status_code == 201
            assessed = http.post(f"/v1/claims/{claim}/assess").json()
            assert assessed["status"] == "in_review", assessed
            out[claim] = assessed["quote"]["total"]
    return out


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_during_grading_loses_no_grading_and_counts_none_twice(tmp_path: Path, backend: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if backend == "postgres":
        if not POSTGRES_URL:
            pytest.skip("set AUTOQUOTE_TEST_POSTGRES_URL (postgresql+psycopg://...) to run PostgreSQL tests")
        reset_postgres(POSTGRES_URL)
        db = POSTGRES_URL
    else:
        db = f"sqlite:///{(data / 'autoquote.db').as_posix()}"
    keys = make_keys(db)
    # A fast target so that the step switches on during the run: its state rows are written under the kills too.
    env = {
        "AUTOQUOTE_TEST_POLICIES_DIR": str(autonomy_policies(tmp_path / "policies", audit_rate=1.0)),
        "AUTOQUOTE_AUTONOMY_SECRET": SECRET,
    }
    server = LiveServer(data, db, env=env).start()
    try:
        pile = Pile(_open_claims(server.base, keys["customer"], CLAIMS))
    finally:
        server.stop()
    rng = random.Random(11)
    for kill in range(KILLS + 1):
        server = LiveServer(data, db, env=env).start()
        stop = threading.Event()
        workers = [
            threading.Thread(target=_adjuster, args=(server.base, keys["adjuster"], pile, stop, kill * 10 + i))
            for i in range(3)
        ]
        for w in workers:
            w.start()
        if kill < KILLS:  # kill once decisions are being acknowledged, at a random moment
            before = len(pile.acked)
            deadline = time.monotonic() + 120
            while len(pile.acked) < before + 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.random() * 1.0)
            server.kill()
            stop.set()
        for w in workers:
            w.join(120)
        if kill == KILLS:
            status = httpx.get(
                f"{server.base}/v1/admin/autonomy", headers={"Authorization": f"Bearer {keys['admin']}"}, timeout=30
            ).json()["policies"][0]["steps"][0]
            server.stop()
    assert not pile.todo, "every claim was decided once the last server ran undisturbed"

    engine = make_engine(db)
    try:
        with make_sessionmaker(engine)() as session:
            decided = {c: str(s) for c, s in session.execute(select(ClaimRow.id, ClaimRow.status)).all()}
            graded: dict[str, int] = dict(
                session.execute(
                    select(GradingRow.claim_id, func.count()).where(GradingRow.kind == "settle").group_by(
                        GradingRow.claim_id
                    )
                ).all()
            )
            reviews: dict[str, int] = dict(
                session.execute(select(ClaimReviewRow.claim_id, func.count()).group_by(ClaimReviewRow.claim_id))
                .all()
            )
            lost = [c for c in pile.acked if graded.get(c) != 1]
            assert not lost, f"acknowledged decisions without exactly one grading: {lost[:5]}"
            assert {c: decided[c] for c in pile.acked} == pile.acked
            assert set(decided.values()) == {"approved", "rejected"}
            assert graded == dict.fromkeys(decided, 1), "a decided claim with no grading or more than one"
            assert reviews == dict.fromkeys(decided, 1), "a claim decided twice"
            # The evidence the service reports is the gradings, each counted once.
            assert status["graded"] == len(decided) and status["state"] == "autonomous", status
            # Each state change is recorded once, however many decisions raced to make it.
            changes = session.scalars(
                select(AutonomyStateRow.state).where(AutonomyStateRow.event == "state").order_by(AutonomyStateRow.id)
            ).all()
            assert list(changes) == list(dict.fromkeys(changes)), f"a state change recorded twice: {changes}"
            # The database itself refuses a second grading of one review.
            row = session.scalars(select(GradingRow).limit(1)).one()
            copy = {c.key: getattr(row, c.key) for c in GradingRow.__table__.columns if c.key != "id"}
            session.add(GradingRow(**copy))
            with pytest.raises(IntegrityError):
                session.flush()
            session.rollback()
    finally:
        engine.dispose()
    print(
        f"{backend}: {KILLS} kills, {len(decided)} claims decided, {len(pile.acked)} acknowledged, "
        f"{len(pile.refused)} retries refused as already decided, {sum(graded.values())} gradings, 0 lost, 0 twice"
    )

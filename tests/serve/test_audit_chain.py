"""The audit log is tamper-evident: after real HTTP traffic ``autoquote audit verify`` (the command, run as a
process) says it is intact; with the append-only trigger dropped, an edited, deleted, reordered or inserted
row is caught and named, on each backend. /readyz reports the last verified head; appends from racing
replicas never fork the chain; the migration hashes an existing log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from serve.app import create_app
from serve.db import keys
from serve.db.audit_chain import GENESIS, AuditWatch, event_hash, verify
from serve.db.rows import AuditEventRow
from serve.db.session import make_engine, make_sessionmaker
from serve.settings import Settings
from tests.fakes import fake_pipeline, photo_bytes
from tests.serve.live import REPO, in_thread


def audit_verify(database_url: str, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """``autoquote audit verify --json`` on the database, as a separate process: its exit code and its JSON."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AUTOQUOTE_DATABASE_URL": database_url,
        "AUTOQUOTE_DATA_DIR": str(tmp_path / "cli-data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "serve.cli", "audit", "verify", "--json", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def app_settings(database_url: str, tmp_path: Path, name: str = "data") -> Settings:
    return Settings(environment="test", data_dir=tmp_path / name, database_url=database_url, min_side=200)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The app under uvicorn on the database (fake models): its base URL and a customer's headers."""
    app = create_app(app_settings(database_url, tmp_path), pipeline_factory=lambda _s: fake_pipeline())
    with in_thread(app) as base:
        with app.state.sessionmaker() as session:
            _row, key = keys.create_key(session, "customer", "customer")
            session.commit()
        yield base, {"Authorization": f"Bearer {key}"}


def traffic(base: str, headers: dict[str, str], claims: int = 3) -> None:
    """Claims opened, photographed and assessed over HTTP: events of several claims, interleaved."""
    ids = [httpx.post(f"{base}/v1/claims", json={"region": "CN"}, headers=headers).json()["id"] for _ in range(claims)]
    for i, claim_id in enumerate(ids):
        files = [("files", (f"p{i}.jpg", photo_bytes(seed=40 + i), "image/jpeg"))]
        assert httpx.post(f"{base}/v1/claims/{claim_id}/photos", files=files, headers=headers).status_code == 201
    for claim_id in ids:
        assert httpx.post(f"{base}/v1/claims/{claim_id}/assess", headers=headers, timeout=60).status_code == 200


def events(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(AuditEventRow.__table__).order_by(AuditEventRow.id)).mappings())


def tamper(engine: Engine, *statements: str) -> None:
    """Run SQL as someone holding the database would: the append-only triggers dropped first."""
    on = " ON audit_events" if engine.dialect.name == "postgresql" else ""
    with engine.begin() as conn:
        for verb in ("update", "delete"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}{on}"))
        for statement in statements:
            conn.execute(text(statement))


def test_an_intact_log_verifies_after_http_traffic_and_readyz_reports_its_head(
    service: tuple[str, dict[str, str]], database_url: str, engine: Engine, tmp_path: Path
) -> None:
    base, headers = service
    traffic(base, headers)
    rows = events(engine)
    assert len(rows) >= 10 and len({r["claim_id"] for r in rows if r["claim_id"]}) == 3
    code, verdict = audit_verify(database_url, tmp_path)
    assert code == 0 and verdict["intact"] and verdict["broken"] is None
    assert (verdict["events"], verdict["hash"], verdict["last_id"]) == (len(rows), rows[-1]["hash"], rows[-1]["id"])
    # Each claim's events are chained too: a claim's first event starts from the genesis hash.
    firsts = {}
    for r in rows:
        if r["claim_id"] and r["claim_id"] not in firsts:
            firsts[r["claim_id"]] = r["claim_prev_hash"]
    assert set(firsts.values()) == {GENESIS}
    ready = httpx.get(f"{base}/readyz").json()["audit"]
    assert ready["intact"] and ready["complete"] and (ready["events"], ready["hash"]) == (len(rows), rows[-1]["hash"])
    # The head moves on with the log.
    httpx.post(f"{base}/v1/claims", json={"region": "CN"}, headers=headers)
    again = httpx.get(f"{base}/readyz").json()["audit"]
    assert again["events"] == len(rows) + 1 and again["hash"] == events(engine)[-1]["hash"]
    assert again["verified_at"] >= ready["verified_at"]


def _middle(rows: list[Any]) -> Any:
    return rows[len(rows) // 2]


@pytest.mark.parametrize("problem", ["edited", "deleted", "reordered", "inserted", "inserted_then_appended"])
def test_tampering_is_caught_and_named_by_the_command(
    service: tuple[str, dict[str, str]], database_url: str, engine: Engine, tmp_path: Path, problem: str
) -> None:
    base, headers = service
    traffic(base, headers, claims=2)
    rows = events(engine)
    target = _middle(rows)
    n = target["id"]
    verified = len([r for r in rows if r["id"] < n])  # the events before the break verify
    if problem == "edited":
        tamper(engine, f"UPDATE audit_events SET actor_role = 'admin' WHERE id = {n}")
        expected = n
    elif problem == "deleted":
        tamper(engine, f"DELETE FROM audit_events WHERE id = {n}")
        expected = next(r["id"] for r in rows if r["id"] > n)  # where the gap shows
    elif problem == "reordered":
        after = next(r["id"] for r in rows if r["id"] > n)
        tamper(
            engine,
            f"UPDATE audit_events SET id = -1 WHERE id = {n}",
            f"UPDATE audit_events SET id = {n} WHERE id = {after}",
            f"UPDATE audit_events SET id = {after} WHERE id = -1",
        )
        expected = n
    else:
        # A forged approval copied from a real event, linked after the last one, with a made-up hash.
        last = rows[-1]
        forged = "f" * 64
        tamper(
            engine,
            "INSERT INTO audit_events (at, actor_key_id, actor_role, action, claim_id, detail, prev_hash, "
            "claim_prev_hash, hash) SELECT at, actor_key_id, 'adjuster', 'claim.approved', claim_id, detail, "
            f"'{last['hash']}', claim_prev_hash, '{forged}' FROM audit_events WHERE id = {n}",
        )
        expected, verified = events(engine)[-1]["id"], len(rows)
        if problem == "inserted_then_appended":  # the service goes on writing after the forged row
            assert httpx.post(f"{base}/v1/claims", json={"region": "CN"}, headers=headers).status_code == 201
            assert events(engine)[-1]["prev_hash"] == last["hash"]  # appended after the head, not the forgery
    code, verdict = audit_verify(database_url, tmp_path)
    assert code == 1 and not verdict["intact"], verdict
    assert verdict["broken"]["event_id"] == expected, verdict
    assert verdict["broken"]["problem"] == problem.split("_")[0], verdict
    assert verdict["events"] == verified, verdict


def test_deleting_the_last_events_is_caught_by_the_head(
    service: tuple[str, dict[str, str]], database_url: str, engine: Engine, tmp_path: Path
) -> None:
    base, headers = service
    traffic(base, headers, claims=1)
    rows = events(engine)
    tamper(engine, f"DELETE FROM audit_events WHERE id >= {rows[-2]['id']}")
    code, verdict = audit_verify(database_url, tmp_path)
    assert code == 1 and verdict["broken"]["problem"] == "deleted" and verdict["broken"]["event_id"] == rows[-3]["id"]
    assert "2 event(s)" in verdict["broken"]["why"]


def test_a_rewritten_history_is_caught_against_a_head_kept_elsewhere(
    service: tuple[str, dict[str, str]], database_url: str, engine: Engine, tmp_path: Path
) -> None:
    # Whoever holds the database can rehash every event after an edit; the head an operator kept catches it.
    base, headers = service
    traffic(base, headers, claims=1)
    code, kept = audit_verify(database_url, tmp_path)
    assert code == 0
    rows = events(engine)
    n = _middle(rows)["id"]
    prev, statements, claims = GENESIS, [], dict[str, str]()
    for r in rows:
        role = "admin" if r["id"] == n else r["actor_role"]
        claim_prev = None if r["claim_id"] is None else claims.get(r["claim_id"], GENESIS)
        h = event_hash(r["at"], r["actor_key_id"], role, r["action"], r["claim_id"], r["detail"], prev, claim_prev)
        link = "NULL" if claim_prev is None else f"'{claim_prev}'"
        statements.append(f"UPDATE audit_events SET actor_role = '{role}', prev_hash = '{prev}', hash = '{h}', "
                          f"claim_prev_hash = {link} WHERE id = {r['id']}")
        if r["claim_id"] is not None:
            claims[r["claim_id"]] = h
        prev = h
    tamper(engine, *statements, f"UPDATE audit_head SET hash = '{prev}'")
    assert audit_verify(database_url, tmp_path)[0] == 0  # the chains alone hold: they were rebuilt
    code, verdict = audit_verify(database_url, tmp_path, "--expect", f"{kept['events']}:{kept['hash']}")
    assert code == 1 and verdict["broken"]["problem"] == "edited" and verdict["broken"]["event_id"] == rows[-1]["id"]


def test_readyz_reports_a_break_after_the_verified_head(
    service: tuple[str, dict[str, str]], engine: Engine
) -> None:
    base, headers = service
    traffic(base, headers, claims=1)
    assert httpx.get(f"{base}/readyz").json()["audit"]["intact"]
    last = events(engine)[-1]
    tamper(engine, f"UPDATE audit_events SET detail = '{{}}' WHERE id = {last['id']}")
    r = httpx.get(f"{base}/readyz")
    assert r.status_code == 200  # reported, not a reason to leave the load balancer
    audit = r.json()["audit"]
    assert not audit["intact"] and audit["broken"]["event_id"] == last["id"]
    assert audit["broken"]["problem"] == "edited" and audit["events"] == len(events(engine))


def test_the_watch_verifies_a_long_log_a_slice_at_a_time(
    service: tuple[str, dict[str, str]], engine: Engine
) -> None:
    base, headers = service
    traffic(base, headers, claims=3)
    total = len(events(engine))
    watch = AuditWatch(budget=4)
    sessions = make_sessionmaker(engine)
    seen, complete = [], False
    for _ in range(total):
        with sessions() as session:
            verdict = watch.check(session)
        assert verdict is not None and verdict.broken is None
        seen.append(verdict.head.events)
        complete = verdict.complete
        if complete:
            break
    assert seen[:2] == [4, 8] and seen[-1] == total and complete


def test_racing_replicas_never_fork_the_chain(database_url: str, engine: Engine, tmp_path: Path) -> None:
    with ExitStack() as stack:
        apps = [create_app(app_settings(database_url, tmp_path, name), pipeline_factory=lambda _s: fake_pipeline())
                for name in ("replica-a", "replica-b")]
        bases = [stack.enter_context(in_thread(app)) for app in apps]
        with apps[0].state.sessionmaker() as session:
            _row, key = keys.create_key(session, "racer", "customer")
            session.commit()
        headers = {"Authorization": f"Bearer {key}"}

        def open_claim(i: int) -> int:
            # 24 writers queue on one lock: on a loaded machine the last may wait past httpx's 5 s default
            return httpx.post(f"{bases[i % 2]}/v1/claims", json={"region": "CN"}, headers=headers,
                              timeout=60).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(open_claim, range(24)))
    assert codes == [201] * 24
    rows = events(engine)
    assert len(rows) == 25 and len({r["prev_hash"] for r in rows}) == 25  # one successor per event: no fork
    with make_sessionmaker(engine)() as session:
        verdict = verify(session)
        assert verdict.broken is None and verdict.head.events == 25
        assert session.scalar(select(func.count()).select_from(AuditEventRow)) == 25


def test_the_migration_hashes_an_existing_log(database_url: str, engine: Engine, tmp_path: Path) -> None:
    from alembic import command

    from serve.db import audit
    from serve.db.session import alembic_config, run_migrations

    command.downgrade(alembic_config(database_url), "0008")
    with engine.begin() as conn:  # a log written before the chain: no hashes
        for i in range(7):
            conn.execute(
                text("INSERT INTO audit_events (at, actor_key_id, actor_role, action, claim_id, detail) "
                     "VALUES (:at, NULL, 'system', 'claim.created', :claim, :detail)"),
                {"at": f"2026-0{1 + i % 3}-0{1 + i} 10:00:00.12345{i}", "claim": f"c{i % 3}",
                 "detail": json.dumps({"n": i, "amount": 1.5 * i, "tags": ["a", i]})},
            )
    run_migrations(database_url)
    code, verdict = audit_verify(database_url, tmp_path)
    assert code == 0 and verdict["events"] == 7, verdict
    rows = events(engine)
    assert [r["claim_prev_hash"] for r in rows[:4]] == [GENESIS, GENESIS, GENESIS, rows[0]["hash"]]
    with make_sessionmaker(engine)() as session:  # the service's writer continues the backfilled chain
        audit.claim_transition(session, None, "c1", "claim.withdrawn", {"why": "after the upgrade"})
        session.commit()
    code, verdict = audit_verify(database_url, tmp_path)
    assert code == 0 and verdict["events"] == 8 and events(engine)[-1]["claim_prev_hash"] == rows[4]["hash"]
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:  # still append-only
        conn.execute(text("UPDATE audit_events SET action = 'x'"))


def test_events_of_one_transaction_chain_in_order_without_autoflush(engine: Engine) -> None:
    from serve.db import audit

    with make_sessionmaker(engine)(autoflush=False) as session:
        for i in range(3):
            audit.claim_transition(session, None, "c1", "claim.withdrawn", {"n": i})
        session.commit()
        verdict = verify(session)
    assert verdict.broken is None and verdict.head.events == 3, verdict


@pytest.mark.parametrize("argv", [["audit"], ["audit", "check"], ["audit", "verify", "--expect", "12:abc"]])
def test_wrong_arguments_get_a_clear_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from serve.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: autoquote audit") and ("verify" in err or "COUNT:HASH" in err), err

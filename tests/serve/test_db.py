"""Repositories on each database backend: keys, claims, photos, quotes, and the append-only audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from model.findings import ClaimContext
from model.pipeline import PhotoInput
from serve.app import create_app
from serve.claims import states as claim_states
from serve.db import audit, claims, keys, quotes
from serve.db.rows import ApiKeyRow, AuditEventRow, ClaimRow, QuoteRow
from serve.errors import ApiKeyNotFound, ClaimNotFound, ClaimStateConflict, IdempotencyConflict, TooManyPhotos
from serve.settings import Settings
from tests.fakes import fake_pipeline, photo_bytes
from tests.serve.conftest import database_session
from tests.serve.factories import make_claim, make_key, make_stored_photo, principal_of


def test_keys_are_stored_hashed_and_can_be_revoked(db_session: Session) -> None:
    row, key = make_key(db_session, "adjuster")
    assert key.startswith("aq_") and len(key) > 40 and key not in (row.key_hash, row.prefix)
    found = keys.principal_for(db_session, key)
    assert found is not None and found.role == "adjuster"
    keys.revoke_key(db_session, row.id)
    assert keys.principal_for(db_session, key) is None
    with pytest.raises(ApiKeyNotFound):
        keys.revoke_key(db_session, "missing")
    assert [e.action for e in db_session.query(AuditEventRow).order_by(AuditEventRow.id)][-2:] == [
        "key.created",
        "key.revoked",
    ]


def test_customers_see_only_their_claims(db_session: Session) -> None:
    alice, _ = make_key(db_session)
    bob, _ = make_key(db_session)
    adjuster, _ = make_key(db_session, "adjuster")
    claim = make_claim(db_session, alice)
    assert claims.get_claim(db_session, principal_of(alice), claim.id).id == claim.id
    with pytest.raises(ClaimNotFound):
        claims.get_claim(db_session, principal_of(bob), claim.id)
    assert claims.list_claims(db_session, principal_of(bob), None, 10, 0) == []
    assert [c.id for c in claims.list_claims(db_session, principal_of(adjuster), "submitted", 10, 0)] == [
        claim.id
    ]


def test_idempotency_key_with_another_body_conflicts(db_session: Session) -> None:
    alice, _ = make_key(db_session)
    new = claims.NewClaim("CN", "CN", "mid")
    claims.create_claim(db_session, principal_of(alice), new, "k1", "hash-a")
    assert claims.find_idempotent(db_session, principal_of(alice), "k1", "hash-a") is not None
    with pytest.raises(IdempotencyConflict):
        claims.find_idempotent(db_session, principal_of(alice), "k1", "hash-b")


def test_photos_duplicates_and_limits(db_session: Session) -> None:
    alice, _ = make_key(db_session)
    first, second = make_claim(db_session, alice), make_claim(db_session, alice)
    who = principal_of(alice)
    claims.add_photos(db_session, who, first, [make_stored_photo(1)], max_photos=3)
    [dup] = claims.add_photos(db_session, who, second, [make_stored_photo(1)], max_photos=3)
    assert dup.duplicate_of_claim_id == first.id
    with pytest.raises(TooManyPhotos):
        claims.add_photos(db_session, who, second, [make_stored_photo(i) for i in (2, 3, 4)], max_photos=3)


def test_quote_is_saved_with_versions_and_moves_nothing(db_session: Session) -> None:
    alice, _ = make_key(db_session)
    claim = make_claim(db_session, alice)
    who = principal_of(alice)
    [photo] = claims.add_photos(db_session, who, claim, [make_stored_photo(7)], max_photos=3)
    pipe = fake_pipeline()
    quote = pipe.quote([PhotoInput(photo.id, pipe.decode(photo_bytes()))], ClaimContext("mid", "CN"))
    row = quotes.save_quote(db_session, claim, quote)
    db_session.flush()
    stored = db_session.get(QuoteRow, row.id)
    assert (
        stored is not None
        and stored.detector_version == "fake-detector@0.1"
        and stored.policy_version == "CN@2025.2"
    )
    assert (
        len(stored.findings) == 1 and len(stored.line_items) == 1 and stored.findings[0].photo_id == photo.id
    )
    # Row code never moves a claim or writes its events: serve.claims.states does, called by the claim service.
    assert claim.status == "submitted"
    events = [e.action for e in audit.events_for_claim(db_session, claim.id)]
    assert events == ["claim.created"]
    claim_states.apply(db_session, None, claim, claim_states.Action.SETTLE, {"quote_id": row.id})
    assert claim.status == "assessed"
    events = [e.action for e in audit.events_for_claim(db_session, claim.id)]
    assert events == ["claim.created", "claim.settled"]
    with pytest.raises(ClaimStateConflict):
        claim_states.check(claim, who, claim_states.Action.ADD_PHOTOS)


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"])
def test_audit_log_is_append_only_in_the_database(db_session: Session, statement: str) -> None:
    alice, _ = make_key(db_session)
    make_claim(db_session, alice)
    db_session.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        with db_session.begin_nested():
            db_session.execute(text(statement))
    assert db_session.query(AuditEventRow).count() >= 2


def test_what_one_test_writes_the_next_one_never_sees(database_url: str) -> None:
    # The promise of the db_session fixture, kept whatever ran before: one test writes and commits, the next
    # test's session on the same database finds nothing of it.
    with database_session(database_url) as first:
        alice, _ = make_key(first)
        make_claim(first, alice)
        first.commit()  # a savepoint inside the test's transaction: a test's own commits do not escape either
        assert first.query(ClaimRow).count() == 1 and first.query(AuditEventRow).count() == 2
    with database_session(database_url) as second:
        assert second.query(ClaimRow).count() == 0
        assert second.query(ApiKeyRow).count() == 0 and second.query(AuditEventRow).count() == 0


def test_the_api_on_each_backend(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        environment="test", data_dir=tmp_path / "data", database_url=database_url, min_side=200
    )
    app = create_app(settings, pipeline_factory=lambda _s: fake_pipeline())
    with TestClient(app) as client:
        with app.state.sessionmaker() as session:
            _row, key = keys.create_key(session, "pg", "customer")
            session.commit()
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "same"}
        claim = client.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
        assert client.post("/v1/claims", json={"region": "CN"}, headers=headers).json()["id"] == claim["id"]
        files = [("files", ("a.jpg", photo_bytes(seed=1), "image/jpeg"))]
        assert (
            client.post(f"/v1/claims/{claim['id']}/photos", files=files, headers=headers).status_code == 201
        )
        body = client.post(f"/v1/claims/{claim['id']}/assess", headers=headers).json()
        assert body["quote"]["decision"] == "auto_settle" and body["quote"]["created_at"].endswith("Z")
        assert client.get("/readyz").json()["checks"]["database"] is True

"""The claim state machine: its table, and each path a claim takes through the HTTP API on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model.pipeline import Pipeline
from serve.app import create_app
from serve.claims import diagram
from serve.claims import states as claim_states
from serve.claims.states import ENDS, TRANSITIONS, ClaimStatus
from serve.db import keys
from serve.settings import Settings
from tests.fakes import FakeDetector, FakePricer, fake_pipeline, photo_bytes

REPO = Path(__file__).resolve().parents[2]
BUMPER = (("Bumper", (0.2, 0.3, 0.7, 0.8), 0.9),)


# The table itself.


def test_readme_diagram_is_generated_from_the_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert diagram.render(readme) == readme, "run `make claim-states`"
    assert "in_review --> approved: approve (adjuster, admin)" in readme


def test_every_status_reaches_an_end_and_ends_stay_ended() -> None:
    edges = {(s, t.target_from(s)) for t in TRANSITIONS.values() for s in t.sources}
    for status in ClaimStatus:
        seen, todo = {status}, [status]
        while todo:
            here = todo.pop()
            for source, target in edges:
                if source == here and target not in seen:
                    seen.add(target)
                    todo.append(target)
        assert seen & ENDS, f"{status} never reaches an end"
    for status in (ClaimStatus.APPROVED, ClaimStatus.REJECTED, ClaimStatus.WITHDRAWN):
        assert claim_states.allowed(status, {"customer", "adjuster", "admin", "system"}) == []
    # Every model decision has a transition of the system's; nothing else is the system's to make.
    assert {t.action for t in TRANSITIONS.values() if "system" in t.actors} == set(claim_states.OUTCOME_ACTION.values())
    assert len({t.event for t in TRANSITIONS.values()}) == len(TRANSITIONS)


# Through the HTTP API.


@dataclass
class Api:
    client: TestClient
    detector: FakeDetector
    pricer: FakePricer

    def key(self, role: str) -> str:
        with self.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            _row, key = keys.create_key(session, f"test-{role}", role)
            session.commit()
        return key


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app on each backend, with a detector and a pricer the test can change between requests."""
    detector, pricer = FakeDetector(parts=BUMPER), FakePricer(per_finding=500.0)
    pipeline: Pipeline = fake_pipeline(detector=detector, pricer=pricer)
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        max_photos_per_claim=4,
        min_side=200,
    )
    app = create_app(settings, pipeline_factory=lambda _s: pipeline)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, detector, pricer)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def photo(seed: int, side: int = 640) -> tuple[str, bytes, str]:
    return (f"p{seed}.jpg", photo_bytes(width=side, height=side * 3 // 4, seed=seed), "image/jpeg")


def open_claim(api: Api, key: str, *photos: tuple[str, bytes, str], region: str = "CN") -> str:
    claim = api.client.post("/v1/claims", json={"region": region}, headers=auth(key)).json()
    files = [("files", p) for p in photos]
    r = api.client.post(f"/v1/claims/{claim['id']}/photos", files=files, headers=auth(key))
    assert r.status_code == 201, r.text
    return str(claim["id"])


def assess(api: Api, key: str, claim_id: str) -> dict[str, Any]:
    r = api.client.post(f"/v1/claims/{claim_id}/assess", headers=auth(key))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def replace(api: Api, key: str, claim_id: str, photo_id: str, new: tuple[str, bytes, str]) -> dict[str, Any]:
    r = api.client.put(f"/v1/claims/{claim_id}/photos/{photo_id}", files={"file": new}, headers=auth(key))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def actions(api: Api, key: str, claim_id: str) -> list[str]:
    events = api.client.get(f"/v1/claims/{claim_id}/audit", headers=auth(key)).json()
    return [e["action"] for e in events]


@pytest.mark.parametrize(
    ("price", "status", "decision", "event", "allowed"),
    [
        (500.0, "assessed", "auto_settle", "claim.settled", ["request_review"]),
        (2500.0, "in_review", "human_review", "claim.routed_to_review", ["withdraw"]),
    ],
)
def test_a_retake_replaces_the_named_photo_and_the_claim_settles_or_reaches_review(
    api: Api, price: float, status: str, decision: str, event: str, allowed: list[str]
) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    api.pricer.per_finding = price / 2  # two photos, one bumper each
    claim_id = open_claim(api, customer, photo(1), photo(2, side=150))
    body = assess(api, customer, claim_id)
    small = body["photos"][1]["id"]
    assert body["status"] == "retake_requested" and body["retake_rounds"] == 1
    # The retake names the photo it is about.
    reasons = body["quote"]["reasons"]
    assert [r["photo_id"] for r in reasons if r["code"] == "poor_photo"] == [small]
    after = replace(api, customer, claim_id, small, photo(3))
    assert after["status"] == "submitted"
    assert [p["filename"] for p in after["photos"]] == ["p1.jpg", "p3.jpg"]
    body = assess(api, customer, claim_id)
    assert body["status"] == status and body["quote"]["decision"] == decision
    # The replaced photo stays stored (adjusters can still see it) and in the audit trail.
    old = api.client.get(f"/v1/claims/{claim_id}/photos/{small}", headers=auth(adjuster))
    assert old.status_code == 200 and old.content == photo(2, side=150)[1]
    trail = api.client.get(f"/v1/claims/{claim_id}/audit", headers=auth(adjuster)).json()
    replaced = [e for e in trail if e["action"] == "photo.replaced"]
    assert replaced[0]["detail"]["replaces"] == small and replaced[0]["actor_role"] == "customer"
    assert [e["action"] for e in trail] == [
        "claim.created",
        "photo.added",
        "quote.decided",
        "claim.retake_requested",
        "photo.replaced",
        "quote.decided",
        event,
    ]
    assert trail[3]["actor_role"] == "system" and trail[3]["detail"]["status"] == {
        "from": "submitted",
        "to": "retake_requested",
    }
    # A settled or routed claim is not assessed again; the refusal says what the key may do instead.
    again = api.client.post(f"/v1/claims/{claim_id}/assess", headers=auth(customer))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "claim_state_conflict"
    assert again.json()["error"]["allowed"] == allowed


def test_a_retake_can_withdraw_a_photo_and_the_claim_reaches_review(api: Api) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    api.pricer.per_finding = 2500.0  # over the CN limit: an adjuster looks
    claim_id = open_claim(api, customer, photo(1), photo(2, side=150))
    body = assess(api, customer, claim_id)
    small = body["photos"][1]["id"]
    r = api.client.delete(f"/v1/claims/{claim_id}/photos/{small}", headers=auth(customer))
    assert r.status_code == 200 and [p["filename"] for p in r.json()["photos"]] == ["p1.jpg"]
    body = assess(api, customer, claim_id)
    assert body["status"] == "in_review"
    assert [r["code"] for r in body["quote"]["reasons"]] == ["over_limit"]
    assert "photo.withdrawn" in actions(api, adjuster, claim_id)
    queue = api.client.get("/v1/review/queue", headers=auth(adjuster)).json()
    assert [c["id"] for c in queue["items"]] == [claim_id]
    # A withdrawn photo is not sent again to the same claim.
    gone = api.client.post(f"/v1/claims/{claim_id}/photos", files=[("files", photo(2, 150))], headers=auth(customer))
    assert gone.status_code == 409


def test_the_retake_limit_routes_the_claim_to_a_human(api: Api) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    api.detector.parts = ()  # no damage found, and the CN policy asks for a retake
    claim_id = open_claim(api, customer, photo(1))
    seed = 10
    for round_ in (1, 2):
        body = assess(api, customer, claim_id)
        assert body["status"] == "retake_requested" and body["retake_rounds"] == round_
        first = body["photos"][0]["id"]
        seed += 1
        replace(api, customer, claim_id, first, photo(seed))
    body = assess(api, customer, claim_id)
    assert body["status"] == "in_review" and body["quote"]["decision"] == "human_review"
    assert [r["code"] for r in body["quote"]["reasons"]] == ["no_damage_found", "retake_limit"]
    assert actions(api, adjuster, claim_id)[-1] == "claim.routed_to_review"
    queue = api.client.get("/v1/review/queue?reason=retake_limit", headers=auth(adjuster)).json()
    assert [c["id"] for c in queue["items"]] == [claim_id]


def test_no_damage_goes_straight_to_a_human_where_the_policy_says_so(api: Api) -> None:
    customer = api.key("customer")
    api.detector.parts = ()
    claim_id = open_claim(api, customer, photo(1), region="US")  # US: no_damage_action human_review
    body = assess(api, customer, claim_id)
    assert body["status"] == "in_review" and body["retake_rounds"] == 0


def test_with_an_adjuster_the_customer_cannot_reassess_and_the_edit_stands(api: Api) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    api.pricer.per_finding = 2500.0
    claim_id = open_claim(api, customer, photo(1))
    assess(api, customer, claim_id)
    refused = api.client.post(f"/v1/claims/{claim_id}/assess", headers=auth(customer))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "claim_state_conflict"
    assert refused.json()["error"]["allowed"] == ["withdraw"]
    assert "in_review" in refused.json()["error"]["message"]
    lines = {"line_items": [{"part": "Bumper", "operation": "repair", "total": 1900}]}
    r = api.client.put(f"/v1/claims/{claim_id}/line-items", json=lines, headers=auth(adjuster))
    assert r.status_code == 200, r.text
    for attempt in (
        api.client.post(f"/v1/claims/{claim_id}/assess", headers=auth(customer)),
        api.client.post(f"/v1/claims/{claim_id}/photos", files=[("files", photo(5))], headers=auth(customer)),
    ):
        assert attempt.status_code == 409
    seen = api.client.get(f"/v1/claims/{claim_id}", headers=auth(customer)).json()
    assert seen["status"] == "in_review" and seen["quote"]["source"] == "model"  # until an adjuster decides
    edited = api.client.get(f"/v1/claims/{claim_id}", headers=auth(adjuster)).json()["quote"]
    assert edited["source"] == "adjuster" and edited["total"] == 1900


def test_nobody_approves_a_claim_they_opened(api: Api) -> None:
    adjuster, other = api.key("adjuster"), api.key("adjuster")
    api.pricer.per_finding = 2500.0
    claim_id = open_claim(api, adjuster, photo(1))
    assert assess(api, adjuster, claim_id)["status"] == "in_review"
    own = api.client.post(f"/v1/claims/{claim_id}/approve", json={"amount": 2500}, headers=auth(adjuster))
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_claim_decision_forbidden"
    r = api.client.post(f"/v1/claims/{claim_id}/approve", json={"amount": 2500}, headers=auth(other))
    assert r.status_code == 200 and r.json()["status"] == "approved"


def test_only_claims_in_review_are_approved_and_far_amounts_need_a_comment(api: Api) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    settled = open_claim(api, customer, photo(1))
    assert assess(api, customer, settled)["status"] == "assessed"
    r = api.client.post(f"/v1/claims/{settled}/approve", json={"amount": 500}, headers=auth(adjuster))
    assert r.status_code == 409 and r.json()["error"]["allowed"] == ["correct_boxes"]
    # The customer does not accept the settlement: now an adjuster decides.
    r = api.client.post(f"/v1/claims/{settled}/request-review", headers=auth(customer))
    assert r.status_code == 200 and r.json()["status"] == "in_review"
    far = api.client.post(f"/v1/claims/{settled}/approve", json={"amount": 99_999_999}, headers=auth(adjuster))
    assert far.status_code == 422 and far.json()["error"]["code"] == "approval_comment_required"
    low = api.client.post(f"/v1/claims/{settled}/approve", json={"amount": 100}, headers=auth(adjuster))
    assert low.status_code == 422
    near = api.client.post(f"/v1/claims/{settled}/approve", json={"amount": 600}, headers=auth(adjuster))
    assert near.status_code == 200 and near.json()["review"]["amount"] == 600
    trail = actions(api, adjuster, settled)
    assert trail[-3:] == ["claim.settled", "claim.review_requested", "claim.approved"]


def test_a_far_amount_with_a_comment_is_approved(api: Api) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    api.pricer.per_finding = 2500.0
    claim_id = open_claim(api, customer, photo(1))
    assess(api, customer, claim_id)
    body = {"amount": 9000, "comment": "teardown found a cracked bumper bracket"}
    r = api.client.post(f"/v1/claims/{claim_id}/approve", json=body, headers=auth(adjuster))
    assert r.status_code == 200 and r.json()["review"]["comment"] == body["comment"]


def test_the_customer_withdraws_a_claim_and_it_ends(api: Api) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    claim_id = open_claim(api, customer, photo(1, side=150))
    assert assess(api, customer, claim_id)["status"] == "retake_requested"
    r = api.client.post(f"/v1/claims/{claim_id}/withdraw", headers=auth(customer))
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    for attempt in (
        api.client.post(f"/v1/claims/{claim_id}/withdraw", headers=auth(customer)),
        api.client.post(f"/v1/claims/{claim_id}/reject", json={"comment": "x"}, headers=auth(adjuster)),
    ):
        assert attempt.status_code == 409 and attempt.json()["error"]["allowed"] == []
    assert actions(api, adjuster, claim_id)[-1] == "claim.withdrawn"
    # Another customer's claim stays invisible, whatever the action.
    stranger = api.key("customer")
    assert api.client.post(f"/v1/claims/{claim_id}/withdraw", headers=auth(stranger)).status_code == 404


def test_the_migration_gives_photos_sharing_a_position_their_own(database_url: str) -> None:
    """Claims raced past the limit before the state machine hold photos at one position; upgrading fixes them."""
    from alembic import command
    from sqlalchemy import text

    from serve.db.session import alembic_config, make_engine, run_migrations

    command.downgrade(alembic_config(database_url), "0002")
    engine = make_engine(database_url)
    at = "2026-11-01 10:00:00+00:00"
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO api_keys (id, name, role, key_hash, prefix, created_at) "
                    "VALUES ('k', 'k', 'customer', :h, 'aq_', :at)"
                ),
                {"h": "0" * 64, "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO claims (id, owner_key_id, status, region, jurisdiction, segment, description, "
                    "created_at, updated_at) VALUES ('c', 'k', 'submitted', 'CN', 'CN', 'mid', '', :at, :at)"
                ),
                {"at": at},
            )
            for i in range(3):
                conn.execute(
                    text(
                        "INSERT INTO photos (id, claim_id, position, sha256, content_type, byte_size, width, "
                        "height, filename, uploaded_by, created_at) "
                        "VALUES (:id, 'c', 0, :sha, 'image/jpeg', 1, 1, 1, '', 'k', :at)"
                    ),
                    {"id": f"p{i}", "sha": f"{i:064x}", "at": at},
                )
        run_migrations(database_url)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT p.id, p.position, c.retake_rounds FROM photos p JOIN claims c ON c.id = p.claim_id")
            )
            assert sorted((r[0], r[1], r[2]) for r in rows) == [("p0", 0, 0), ("p1", 1, 0), ("p2", 2, 0)]
    finally:
        engine.dispose()

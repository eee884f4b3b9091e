"""The adjuster's API: queue, line-item edits, box corrections, approve and reject, photo bytes, audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model.pipeline import Pipeline
from tests.fakes import CLASSES, FakeDetector, FakePricer, fake_pipeline, photo_bytes

Keys = Callable[[str], str]
def review_pipeline(per_finding: float = 2500.0) -> Pipeline:
    """Over the CN limit of 2,000: every assessed claim goes to an adjuster (reason over_limit)."""
    return fake_pipeline(
        detector=FakeDetector(), pricer=FakePricer(per_finding=per_finding)
    )


@pytest.fixture
def pipeline() -> Pipeline:
    return review_pipeline()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def routed_claim(client: TestClient, key: str, seed: int = 1, description: str = "") -> dict[str, Any]:
    """A claim assessed into the review queue."""
    claim = client.post(
        "/v1/claims", json={"region": "CN", "description": description}, headers=auth(key)
    ).json()
    files = [("files", (f"p{seed}.jpg", photo_bytes(seed=seed), "image/jpeg"))]
    assert client.post(f"/v1/claims/{claim['id']}/photos", files=files, headers=auth(key)).status_code == 201
    body = client.post(f"/v1/claims/{claim['id']}/assess", headers=auth(key)).json()
    assert body["status"] == "in_review", body
    return body  # type: ignore[no-any-return]


def test_queue_is_oldest_first_filterable_and_adjusters_only(client: TestClient, new_key: Keys) -> None:
    customer, adjuster = new_key("customer"), new_key("adjuster")
    first, second = routed_claim(client, customer, 1), routed_claim(client, customer, 2)
    r = client.get("/v1/review/queue", headers=auth(adjuster))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["count"] == 2 and [i["id"] for i in page["items"]] == [first["id"], second["id"]]
    assert page["items"][0]["reasons"] == ["over_limit"] and page["items"][0]["total"] == 2500.0
    assert client.get("/v1/review/queue?reason=severe_damage", headers=auth(adjuster)).json()["count"] == 0
    assert (
        client.get("/v1/review/queue?reason=over_limit&min_total=2000", headers=auth(adjuster)).json()[
            "count"
        ]
        == 2
    )
    assert client.get("/v1/review/queue?max_total=1000", headers=auth(adjuster)).json()["count"] == 0
    assert (
        client.get("/v1/review/queue?limit=1&offset=1", headers=auth(adjuster)).json()["items"][0]["id"]
        == second["id"]
    )
    denied = client.get("/v1/review/queue", headers=auth(customer))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"


def test_line_item_edit_is_a_new_adjuster_quote_with_an_audit_entry(
    client: TestClient, new_key: Keys
) -> None:
    customer, adjuster = new_key("customer"), new_key("adjuster")
    claim = routed_claim(client, customer)
    model_quote = claim["quote"]
    lines = [
        {"part": "Bumper", "operation": "replace", "total": 1200.0},
        {"part": "Fender", "operation": "repair", "total": 350.5},
    ]
    r = client.put(f"/v1/claims/{claim['id']}/line-items", json={"line_items": lines}, headers=auth(adjuster))
    assert r.status_code == 200, r.text
    view = r.json()
    quote = view["claim"]["quote"]
    assert quote["source"] == "adjuster" and quote["total"] == 1550.5 and quote["id"] != model_quote["id"]
    assert [(li["part"], li["operation"]) for li in quote["line_items"]] == [
        ("Bumper", "replace"),
        ("Fender", "repair"),
    ]
    assert view["model_quote"]["id"] == model_quote["id"] and view["model_quote"]["total"] == 2500.0
    assert quote["versions"] == model_quote["versions"]  # the edit keeps the versions it started from
    edit = [e for e in view["audit"] if e["action"] == "quote.edited"]
    assert len(edit) == 1 and edit[0]["actor_role"] == "adjuster" and edit[0]["actor_key_id"]
    assert (
        edit[0]["detail"]["total"] == {"from": 2500.0, "to": 1550.5}
        and edit[0]["detail"]["supersedes_id"] == model_quote["id"]
    )
    # The customer sees the models' quote until an adjuster decides (tests/serve/test_customer_view.py).
    assert client.get(f"/v1/claims/{claim['id']}", headers=auth(customer)).json()["quote"]["total"] == 2500.0
    bad = client.put(
        f"/v1/claims/{claim['id']}/line-items",
        json={"line_items": [{"part": "Wing", "operation": "repair", "total": 1}]},
        headers=auth(adjuster),
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_part"
    negative = client.put(
        f"/v1/claims/{claim['id']}/line-items",
        json={"line_items": [{"part": "Door", "operation": "repair", "total": -5}]},
        headers=auth(adjuster),
    )
    assert negative.status_code == 422
    customer_edit = client.put(
        f"/v1/claims/{claim['id']}/line-items", json={"line_items": lines}, headers=auth(customer)
    )
    assert customer_edit.status_code == 403


def test_box_corrections_relabel_delete_and_draw(client: TestClient, new_key: Keys) -> None:
    customer, adjuster = new_key("customer"), new_key("adjuster")
    claim = routed_claim(client, customer)
    photo = claim["photos"][0]
    view = client.get(f"/v1/review/claims/{claim['id']}", headers=auth(adjuster)).json()
    assert view["parts"] == CLASSES
    (boxes,) = view["boxes"]
    assert (
        boxes["corrected"] is False
        and boxes["boxes"][0]["part"] == "Bumper"
        and boxes["boxes"][0]["score"] == 0.9
    )
    url = f"/v1/claims/{claim['id']}/photos/{photo['id']}/boxes"
    new = {
        "boxes": [
            {"part": "Door", "box": [10, 20, 200, 220]},
            {"part": "Fender", "box": [300, 100, 600, 400]},
        ]
    }
    r = client.put(url, json=new, headers=auth(adjuster))
    assert r.status_code == 200, r.text
    (after,) = r.json()["boxes"]
    assert after["corrected"] is True and [b["part"] for b in after["boxes"]] == ["Door", "Fender"]
    assert after["boxes"][0]["box"] == [10, 20, 200, 220] and after["boxes"][0]["score"] is None
    event = [e for e in r.json()["audit"] if e["action"] == "boxes.corrected"][0]
    assert event["detail"]["before"][0]["part"] == "Bumper" and len(event["detail"]["after"]) == 2
    outside = client.put(
        url, json={"boxes": [{"part": "Door", "box": [10, 10, 700, 100]}]}, headers=auth(adjuster)
    )
    assert outside.status_code == 422 and outside.json()["error"]["code"] == "box_invalid"
    empty = client.put(
        url, json={"boxes": [{"part": "Door", "box": [50, 50, 50, 90]}]}, headers=auth(adjuster)
    )
    assert empty.status_code == 422
    unknown = client.put(f"/v1/claims/{claim['id']}/photos/nope/boxes", json=new, headers=auth(adjuster))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "photo_not_found"
    # Deleting every box is a correction too.
    cleared = client.put(url, json={"boxes": []}, headers=auth(adjuster)).json()["boxes"][0]
    assert cleared == {"photo_id": photo["id"], "corrected": True, "boxes": []}


def test_approve_closes_the_claim_and_the_customer_sees_the_amount(client: TestClient, new_key: Keys) -> None:
    customer, adjuster = new_key("customer"), new_key("adjuster")
    claim = routed_claim(client, customer)
    r = client.post(
        f"/v1/claims/{claim['id']}/approve", json={"amount": 2300, "comment": "ok"}, headers=auth(adjuster)
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    seen = client.get(f"/v1/claims/{claim['id']}", headers=auth(customer)).json()
    assert (
        seen["status"] == "approved"
        and seen["review"]["amount"] == 2300
        and seen["review"]["currency"] == "CNY"
    )
    events = client.get(f"/v1/claims/{claim['id']}/audit", headers=auth(adjuster)).json()
    approved = [e for e in events if e["action"] == "claim.approved"]
    assert approved and approved[0]["actor_role"] == "adjuster" and approved[0]["detail"]["amount"] == 2300
    assert approved[0]["detail"]["quoted_total"] == 2500.0 and approved[0]["at"]
    assert client.get("/v1/review/queue", headers=auth(adjuster)).json()["count"] == 0
    again = client.post(f"/v1/claims/{claim['id']}/reject", json={"comment": "x"}, headers=auth(adjuster))
    assert again.status_code == 409 and again.json()["error"]["code"] == "claim_state_conflict"
    edit = client.put(f"/v1/claims/{claim['id']}/line-items", json={"line_items": []}, headers=auth(adjuster))
    assert edit.status_code == 409
    zero = client.post(
        f"/v1/claims/{routed_claim(client, customer, 5)['id']}/approve",
        json={"amount": 0},
        headers=auth(adjuster),
    )
    assert zero.status_code == 422


def test_reject_needs_a_comment_and_tells_the_customer(client: TestClient, new_key: Keys) -> None:
    customer, adjuster = new_key("customer"), new_key("adjuster")
    claim = routed_claim(client, customer)
    blank = client.post(f"/v1/claims/{claim['id']}/reject", json={"comment": "   "}, headers=auth(adjuster))
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "request_invalid"
    r = client.post(
        f"/v1/claims/{claim['id']}/reject",
        json={"comment": "damage predates the policy"},
        headers=auth(adjuster),
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    seen = client.get(f"/v1/claims/{claim['id']}", headers=auth(customer)).json()
    assert seen["review"]["outcome"] == "rejected" and seen["review"]["amount"] is None
    assert seen["review"]["comment"] == "damage predates the policy"
    own = client.post(f"/v1/claims/{claim['id']}/approve", json={"amount": 5}, headers=auth(customer))
    assert own.status_code == 403


def test_photo_bytes_for_the_owner_and_adjusters_only(client: TestClient, new_key: Keys) -> None:
    alice, bob, adjuster = new_key("customer"), new_key("customer"), new_key("adjuster")
    claim = routed_claim(client, alice, 3)
    url = f"/v1/claims/{claim['id']}/photos/{claim['photos'][0]['id']}"
    mine = client.get(url, headers=auth(alice))
    assert mine.status_code == 200 and mine.content == photo_bytes(seed=3)
    assert (
        mine.headers["content-type"] == "image/jpeg" and mine.headers["x-content-type-options"] == "nosniff"
    )
    assert client.get(url, headers=auth(adjuster)).status_code == 200
    assert client.get(url, headers=auth(bob)).status_code == 404
    assert client.get(url).status_code == 401


def test_review_of_a_claim_without_a_quote_is_a_conflict(client: TestClient, new_key: Keys) -> None:
    customer, adjuster = new_key("customer"), new_key("adjuster")
    claim = client.post("/v1/claims", json={"region": "CN"}, headers=auth(customer)).json()
    r = client.post(f"/v1/claims/{claim['id']}/approve", json={"amount": 10}, headers=auth(adjuster))
    assert r.status_code == 409 and "assess" in r.json()["error"]["message"]

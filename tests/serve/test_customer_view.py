"""What the customer sees, over real HTTP on each backend: the models' quote until an adjuster decides (interim
edits stay hidden), then the decision, the final amount and the adjuster's comment; a summary of one sentence on
what happens next and at most three plain reasons (the adjuster keeps them all); a claim list that says more than
an id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serve.http.locale import messages
from tests.fakes import FakeDetector, FakePricer, FakeSeverity, fake_pipeline, photo_bytes
from tests.serve.test_declared_parts import Api, auth, jpeg, ok, serving

SHAKY = FakeDetector(parts=[("Bumper", (0.1, 0.3, 0.45, 0.8), 0.3), ("Fender", (0.5, 0.3, 0.9, 0.8), 0.3)])
DEEP = FakeSeverity(probabilities={"minor": 0.2, "moderate": 0.2, "severe": 0.6})


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """Two unsure, possibly severe findings a photo, 1,250 CNY each: every claim goes to an adjuster."""
    pipeline = fake_pipeline(detector=SHAKY, severity=DEEP, pricer=FakePricer(per_finding=1250.0))
    with serving(database_url, tmp_path, pipeline) as running:
        yield running


def routed(api: Api, customer: str, photos: int = 2) -> str:
    claim = ok(api.http.post("/v1/claims", json={"region": "CN"}, headers=auth(customer)), 201)
    files = [jpeg(f"car{i}.jpg", photo_bytes(seed=40 + i)) for i in range(photos)]
    ok(api.http.post(f"/v1/claims/{claim['id']}/photos", files=files, headers=auth(customer)), 201)
    assert ok(api.http.post(f"/v1/claims/{claim['id']}/assess", headers=auth(customer)))["status"] == "in_review"
    return str(claim["id"])


def test_the_customer_sees_the_models_quote_until_an_adjuster_decides_then_the_decision(api: Api) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    claim_id = routed(api, customer)
    model_total = ok(api.http.get(f"/v1/claims/{claim_id}", headers=auth(customer)))["quote"]["total"]
    line = {"part": "Bumper", "operation": "repair", "parts_cost": 1500, "labour_cost": 100}
    ok(api.http.put(f"/v1/claims/{claim_id}/line-items", json={"line_items": [line]}, headers=auth(adjuster)))

    seen = ok(api.http.get(f"/v1/claims/{claim_id}", headers=auth(customer)))
    assert seen["status"] == "in_review" and seen["review"] is None
    assert seen["quote"]["source"] == "model" and seen["quote"]["total"] == model_total
    mine = ok(api.http.get("/v1/claims", headers=auth(customer)))["items"][0]
    assert mine["total"] == model_total and mine["parts"] == ["Bumper", "Fender"]
    # the adjuster still works on the edit
    assert ok(api.http.get(f"/v1/claims/{claim_id}", headers=auth(adjuster)))["quote"]["total"] == 1600.0

    comment = "Bumper repaired, the fender needs nothing; paid at the garage's price"
    ok(api.http.post(f"/v1/claims/{claim_id}/approve", json={"amount": 1650, "comment": comment},
                     headers=auth(adjuster)))
    decided = ok(api.http.get(f"/v1/claims/{claim_id}", headers=auth(customer, "zh-CN")))
    assert decided["status"] == "approved"
    assert decided["review"]["outcome"] == "approved" and decided["review"]["amount"] == 1650.0
    assert decided["review"]["comment"] == comment
    assert decided["quote"]["source"] == "adjuster" and decided["quote"]["total"] == 1600.0
    assert decided["summary"] == {"next": messages("zh-CN")["result.approved.next"], "reasons": []}
    assert ok(api.http.get("/v1/claims", headers=auth(customer)))["items"][0]["total"] == 1650.0


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_summary_says_what_happens_next_and_at_most_three_plain_reasons(api: Api, lang: str) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    claim_id = routed(api, customer)
    full = ok(api.http.get(f"/v1/claims/{claim_id}", headers=auth(adjuster, lang)))["quote"]["reasons"]
    assert len(full) >= 9  # two parts on two photos, each unsure and possibly severe, and over the limit

    said = ok(api.http.get(f"/v1/claims/{claim_id}", headers=auth(customer, lang)))["summary"]
    cat = messages(lang)
    assert said["next"] == cat["result.review.next"]
    assert 1 <= len(said["reasons"]) <= 3 and len(set(said["reasons"])) == len(said["reasons"])
    fender, bumper = cat["part.Fender"], cat["part.Bumper"]
    for sentence in said["reasons"]:
        assert sentence.count(fender) <= 1 and sentence.count(bumper) <= 1
    both = cat["summary.parts.separator"].join([bumper, fender])
    assert cat["reason.customer.severe_damage"].format(parts=both) in said["reasons"]  # both parts, both photos, once
    for jargon in ("policy", "confidence", "p=", "Policy", "置信度", "模型"):
        assert not any(jargon in s for s in said["reasons"]), (jargon, said["reasons"])


def test_the_claim_list_says_when_what_and_how_much_and_a_claim_without_photos_waits_for_them(api: Api) -> None:
    customer = api.key("customer")
    empty = ok(api.http.post("/v1/claims", json={"region": "CN", "declared_parts": [{"part": "Door"}]},
                             headers=auth(customer)), 201)
    item = ok(api.http.get("/v1/claims", headers=auth(customer)))["items"][0]
    assert item["id"] == empty["id"] and item["photo_count"] == 0 and item["parts"] == ["Door"]
    assert item["total"] is None and item["created_at"]
    summary = ok(api.http.get(f"/v1/claims/{empty['id']}", headers=auth(customer)))["summary"]
    assert summary["next"] == messages("en")["result.nophotos.next"]

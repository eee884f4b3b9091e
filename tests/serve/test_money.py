"""Money consistent by construction, over real HTTP on each backend: a line's total is its costs' sum (derived when
left out, refused with ``line_total_mismatch`` when it contradicts them), the claim's total the sum of its lines,
and one money format per locale in the API's sentences."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import photo_bytes
from tests.serve.test_declared_parts import Api, auth, jpeg, ok, refused, serving
from tests.serve.test_review import review_pipeline


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app on fake models that send every claim to an adjuster (2,500 CNY a finding, over the CN limit)."""
    with serving(database_url, tmp_path, review_pipeline()) as running:
        yield running


def routed(api: Api, customer: str) -> str:
    claim = ok(api.http.post("/v1/claims", json={"region": "CN"}, headers=auth(customer)), 201)
    ok(api.http.post(f"/v1/claims/{claim['id']}/photos", files=[jpeg("car.jpg", photo_bytes(seed=3))],
                     headers=auth(customer)), 201)
    assessed = ok(api.http.post(f"/v1/claims/{claim['id']}/assess", headers=auth(customer)))
    assert assessed["status"] == "in_review", assessed
    return str(claim["id"])


def test_a_total_that_contradicts_its_costs_is_refused_and_changes_nothing(api: Api) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    claim_id = routed(api, customer)
    line = {"part": "Bumper", "operation": "repair", "parts_cost": 1500, "labour_cost": 100, "total": 99999}
    r = api.http.put(f"/v1/claims/{claim_id}/line-items", json={"line_items": [line]}, headers=auth(adjuster))
    message = refused(r, 422, "line_total_mismatch")
    assert "1,600.00" in message and "99,999.00" in message
    view = ok(api.http.get(f"/v1/review/claims/{claim_id}", headers=auth(adjuster)))
    assert view["claim"]["quote"]["source"] == "model" and view["claim"]["quote"]["total"] == 2500.0
    assert not [e for e in view["audit"] if e["action"] == "quote.edited"]


def test_a_line_total_is_derived_from_its_costs_and_the_claim_total_from_its_lines(api: Api) -> None:
    customer, adjuster = api.key("customer"), api.key("adjuster")
    claim_id = routed(api, customer)
    lines = [
        {"part": "Bumper", "operation": "repair", "parts_cost": 1500, "labour_cost": 100},  # no total: derived
        {"part": "Door", "operation": "replace", "parts_cost": 800.25, "labour_hours": 2, "labour_cost": 150,
         "refinish_hours": 1.5, "refinish_cost": 90.5, "materials_cost": 40, "total": 1080.75},  # agrees
        {"part": "Fender", "operation": "repair", "total": 320},  # a lump sum without its breakdown
    ]
    view = ok(api.http.put(f"/v1/claims/{claim_id}/line-items", json={"line_items": lines}, headers=auth(adjuster)))
    quote = view["claim"]["quote"]
    assert [li["total"] for li in quote["line_items"]] == [1600.0, 1080.75, 320.0]
    assert quote["total"] == 3000.75 == sum(li["total"] for li in quote["line_items"])
    door = quote["line_items"][1]
    assert (door["labour_hours"], door["refinish_hours"], door["materials_cost"]) == (2, 1.5, 40)
    # within a cent the line is accepted, its total then the costs' sum
    cent = [{"part": "Door", "operation": "repair", "parts_cost": 100.1, "labour_cost": 50.2, "total": 150.31}]
    quote = ok(api.http.put(f"/v1/claims/{claim_id}/line-items", json={"line_items": cent},
                            headers=auth(adjuster)))["claim"]["quote"]
    assert quote["line_items"][0]["total"] == 150.3 and quote["total"] == 150.3


@pytest.mark.parametrize(("lang", "written"), [("en", "2,500 CNY"), ("zh-CN", "2,500 元")])
def test_one_money_format_per_locale_in_the_api(api: Api, lang: str, written: str) -> None:
    customer = api.key("customer")
    claim_id = routed(api, customer)
    quote = ok(api.http.get(f"/v1/claims/{claim_id}", headers=auth(customer, lang)))["quote"]
    over = next(r for r in quote["reasons"] if r["code"] == "over_limit")
    assert written in over["message"]

"""The HTTP API through the TestClient: claims, photos, assessment, one-shot quotes, keys and roles."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from model.pipeline import Pipeline
from tests.fakes import FakeDetector, FakePricer, FakeSeverity, FakeVerifier, fake_pipeline, photo_bytes

Keys = Callable[[str], str]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def jpeg(seed: int = 0, **kw: object) -> tuple[str, bytes, str]:
    return (f"photo-{seed}.jpg", photo_bytes(seed=seed, **kw), "image/jpeg")  # type: ignore[arg-type]


def open_claim(client: TestClient, key: str, **body: object) -> dict[str, object]:
    r = client.post("/v1/claims", json=body or {"region": "CN"}, headers=auth(key))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_full_claim_flow_settles_and_records_versions(client: TestClient, new_key: Keys) -> None:
    key = new_key("customer")
    claim = open_claim(client, key, region="CN", segment="mid")
    assert claim["status"] == "submitted" and claim["quote"] is None
    r = client.post(
        f"/v1/claims/{claim['id']}/photos", files=[("files", jpeg(1)), ("files", jpeg(2))], headers=auth(key)
    )
    assert r.status_code == 201, r.text
    assert [p["duplicate"] for p in r.json()["photos"]] == [None, None]  # never told to customers
    r = client.post(f"/v1/claims/{claim['id']}/assess", headers=auth(key))
    assert r.status_code == 200, r.text
    body = r.json()
    quote = body["quote"]
    assert body["status"] == "assessed" and quote["decision"] == "auto_settle"
    assert quote["total"] == 1000.0 and quote["currency"] == "CNY" and quote["low"] < 1000 < quote["high"]
    assert len(quote["line_items"]) == 2 and quote["reasons"] == []
    assert quote["versions"] == {
        "detector": "fake-detector@0.1",
        "severity": "fake-severity@0.1",
        "pricer": "fake-pricer@0.1",
        "catalogue": "fake-catalogue-1",
        "policy": "CN@2025.2",
    }
    finding = quote["photos"][0]["findings"][0]
    assert finding["part"] == "Bumper" and set(finding["severity"]) == {"minor", "moderate", "severe"}
    assert finding["box"] == pytest.approx([128, 144, 448, 384], abs=2)  # 640x480 photo, fake box fractions
    # Reading it back gives the stored quote.
    again = client.get(f"/v1/claims/{claim['id']}", headers={"X-API-Key": key}).json()
    assert again["quote"] == quote
    listed = client.get("/v1/claims", headers=auth(key)).json()["items"]
    assert [c["id"] for c in listed] == [claim["id"]] and listed[0]["decision"] == "auto_settle"


@pytest.mark.parametrize("pipeline", [fake_pipeline(verifier=FakeVerifier(0.83))])
def test_a_stored_quote_keeps_the_part_verifiers_agreement(client: TestClient, new_key: Keys) -> None:
    key = new_key("customer")
    claim = open_claim(client, key)
    r = client.post(f"/v1/claims/{claim['id']}/photos", files=[("files", jpeg(1))], headers=auth(key))
    assert r.status_code == 201, r.text
    quote = client.post(f"/v1/claims/{claim['id']}/assess", headers=auth(key)).json()["quote"]
    assert [f["agreement"] for f in quote["photos"][0]["findings"]] == [0.83]
    again = client.get(f"/v1/claims/{claim['id']}", headers=auth(key)).json()
    assert again["quote"] == quote  # the second opinion the decision used is read back, not lost on the way


@pytest.mark.parametrize(
    "pipeline,decision,code",
    [
        (fake_pipeline(pricer=FakePricer(per_finding=2500)), "human_review", "over_limit"),
        (
            fake_pipeline(severity=FakeSeverity({"minor": 0.2, "moderate": 0.2, "severe": 0.6})),
            "human_review",
            "severe_damage",
        ),
        (
            fake_pipeline(detector=FakeDetector(parts=[("Door", (0.1, 0.1, 0.5, 0.5), 0.2)])),
            "human_review",
            "low_confidence",
        ),
        (fake_pipeline(pricer=FakePricer(interval=(0.1, 1.9))), "human_review", "wide_interval"),
        (fake_pipeline(detector=FakeDetector(parts=[])), "retake_photos", "no_damage_found"),
        (fake_pipeline(detector=FakeDetector(fail=RuntimeError("boom"))), "human_review", "pipeline_error"),
        (fake_pipeline(missing=True), "human_review", "model_unavailable"),
    ],
)
def test_assessment_reasons(
    client: TestClient, new_key: Keys, pipeline: Pipeline, decision: str, code: str
) -> None:
    key = new_key("customer")
    claim = open_claim(client, key)
    client.post(f"/v1/claims/{claim['id']}/photos", files=[("files", jpeg(3))], headers=auth(key))
    body = client.post(f"/v1/claims/{claim['id']}/assess", headers=auth(key)).json()
    assert body["quote"]["decision"] == decision
    reason = next(r for r in body["quote"]["reasons"] if r["code"] == code)
    assert reason["message"]
    assert body["status"] == {"human_review": "in_review", "retake_photos": "retake_requested"}[decision]


def test_poor_photo_asks_for_retake(client: TestClient, new_key: Keys) -> None:
    key = new_key("customer")
    claim = open_claim(client, key)
    client.post(
        f"/v1/claims/{claim['id']}/photos",
        files=[("files", jpeg(4, brightness=8, noise=4))],
        headers=auth(key),
    )
    quote = client.post(f"/v1/claims/{claim['id']}/assess", headers=auth(key)).json()["quote"]
    assert quote["decision"] == "retake_photos"
    assert quote["reasons"][0]["code"] == "poor_photo" and "dark" in quote["reasons"][0]["message"]
    assert {i["code"] for i in quote["photos"][0]["quality_issues"]} >= {"too_dark"}


def test_duplicate_photo_in_another_claim_is_flagged(client: TestClient, new_key: Keys) -> None:
    alice, bob, adjuster = new_key("customer"), new_key("customer"), new_key("adjuster")
    first, second = open_claim(client, alice), open_claim(client, bob)
    same = jpeg(5)
    client.post(f"/v1/claims/{first['id']}/photos", files=[("files", same)], headers=auth(alice))
    r = client.post(f"/v1/claims/{second['id']}/photos", files=[("files", same)], headers=auth(bob))
    assert r.json()["photos"][0]["duplicate"] is None  # bob may not learn about alice's claim
    quote = client.post(f"/v1/claims/{second['id']}/assess", headers=auth(bob)).json()["quote"]
    assert quote["decision"] == "human_review" and "duplicate_photo" not in {r["code"] for r in quote["reasons"]}
    seen = client.get(f"/v1/claims/{second['id']}", headers=auth(adjuster)).json()
    assert seen["photos"][0]["duplicate_of_claim_id"] == first["id"]
    assert "duplicate_photo" in {r["code"] for r in seen["quote"]["reasons"]}
    # The one-shot quote compares nothing with stored claims.
    r = client.post("/v1/quote", files=[("files", same)], headers=auth(bob))
    assert "duplicate_photo" not in {x["code"] for x in r.json()["reasons"]}


def test_idempotent_claim_creation(client: TestClient, new_key: Keys) -> None:
    key = new_key("customer")
    headers = {**auth(key), "Idempotency-Key": "c2f0-retry-1"}
    first = client.post("/v1/claims", json={"region": "CN", "segment": "mid"}, headers=headers)
    again = client.post("/v1/claims", json={"region": "CN", "segment": "mid"}, headers=headers)
    assert first.status_code == 201 and again.status_code == 200 and first.json()["id"] == again.json()["id"]
    clash = client.post("/v1/claims", json={"region": "CN", "segment": "premium"}, headers=headers)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "idempotency_conflict"
    # Another caller may use the same key for its own claim.
    other = client.post(
        "/v1/claims",
        json={"region": "CN"},
        headers={**auth(new_key("customer")), "Idempotency-Key": "c2f0-retry-1"},
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert len(client.get("/v1/claims", headers=auth(key)).json()["items"]) == 1


def test_keys_and_roles(client: TestClient, new_key: Keys) -> None:
    alice, bob, adjuster = new_key("customer"), new_key("customer"), new_key("adjuster")
    claim = open_claim(client, alice)
    assert client.get("/v1/claims").status_code == 401
    r = client.get("/v1/claims", headers=auth("aq_not-a-key"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "auth_invalid"
    assert client.get("/v1/claims").json()["error"]["code"] == "auth_required"
    # Another customer's claim does not exist for bob.
    r = client.get(f"/v1/claims/{claim['id']}", headers=auth(bob))
    assert r.status_code == 404 and r.json()["error"]["code"] == "claim_not_found"
    assert client.get("/v1/claims", headers=auth(bob)).json()["items"] == []
    # Adjusters see every claim and its audit trail; customers may not read the trail.
    assert client.get(f"/v1/claims/{claim['id']}", headers=auth(adjuster)).status_code == 200
    r = client.get(f"/v1/claims/{claim['id']}/audit", headers=auth(alice))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    trail = client.get(f"/v1/claims/{claim['id']}/audit", headers=auth(adjuster)).json()
    assert [e["action"] for e in trail] == ["claim.created"]


def test_revoked_key_is_refused(client: TestClient, new_key: Keys) -> None:
    from serve.db import keys

    key = new_key("customer")
    assert client.get("/v1/claims", headers=auth(key)).status_code == 200
    with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        row = next(k for k in keys.list_keys(session) if k.name == "test-customer")
        keys.revoke_key(session, row.id)
        session.commit()
    assert client.get("/v1/claims", headers=auth(key)).status_code == 401


def test_one_shot_quote(client: TestClient, new_key: Keys) -> None:
    key = new_key("customer")
    r = client.post(
        "/v1/quote",
        files=[("files", jpeg(6))],
        data={"region": "US", "segment": "premium"},
        headers=auth(key),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] is None and body["currency"] == "USD" and body["versions"]["policy"] == "US@2025.2"
    assert body["photos"][0]["photo_id"] == "1" and body["photos"][0]["findings"]
    r = client.post(
        "/v1/quote",
        files=[("files", jpeg(6))],
        data={"region": "CN", "jurisdiction": "US"},
        headers=auth(key),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_jurisdiction"


def test_claim_limits_and_states(client: TestClient, new_key: Keys) -> None:
    key = new_key("customer")
    claim = open_claim(client, key)
    r = client.post(f"/v1/claims/{claim['id']}/assess", headers=auth(key))
    assert r.status_code == 422 and r.json()["error"]["code"] == "claim_has_no_photos"
    files = [("files", jpeg(10 + i)) for i in range(5)]
    r = client.post(f"/v1/claims/{claim['id']}/photos", files=files, headers=auth(key))
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_photos"
    assert client.get(f"/v1/claims/{claim['id']}", headers=auth(key)).json()["photos"] == []
    # The same photo twice in one request is refused whole: the customer meant two photos.
    r = client.post(
        f"/v1/claims/{claim['id']}/photos",
        files=[("files", jpeg(20)), ("files", jpeg(20))],
        headers=auth(key),
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "photo_already_in_claim"
    assert client.get(f"/v1/claims/{claim['id']}", headers=auth(key)).json()["photos"] == []
    r = client.post("/v1/claims", json={"region": "CN", "jurisdiction": "Atlantis"}, headers=auth(key))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_jurisdiction"
    r = client.post("/v1/claims", json={"region": "CN", "colour": "red"}, headers=auth(key))
    assert r.status_code == 422 and r.json()["error"]["code"] == "request_invalid"


def test_health_ready_models_metrics_and_docs(client: TestClient, new_key: Keys) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"models": True, "database": True, "promotion": True}
    models = client.get("/v1/models").json()
    assert models["versions"]["detector"] == "fake-detector@0.1"
    assert {p["jurisdiction"]: p["small_claim_limit"] for p in models["policies"]}[
        "CN-single-vehicle"
    ] == 5000
    key = new_key("customer")
    claim = open_claim(client, key)
    client.post(f"/v1/claims/{claim['id']}/photos", files=[("files", jpeg(7))], headers=auth(key))
    client.post(f"/v1/claims/{claim['id']}/assess", headers=auth(key))
    client.get("/v1/claims/nope", headers=auth(key))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth(key)).status_code == 403
    text = client.get("/metrics", headers=auth(new_key("admin"))).text
    assert 'autoquote_decisions_total{decision="auto_settle",endpoint="claim"} 1.0' in text
    assert (
        "autoquote_http_request_duration_seconds_count"
        '{method="POST",route="/v1/claims/{claim_id}/assess",status="200"}' in text
    )
    assert 'autoquote_errors_total{code="claim_not_found"} 1.0' in text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/claims", "/v1/claims/{claim_id}/photos", "/v1/claims/{claim_id}/assess", "/v1/quote"} <= set(
        paths
    )
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("pipeline", [fake_pipeline(missing=True)])
def test_not_ready_without_models_but_still_serving(
    client: TestClient, new_key: Keys, pipeline: Pipeline
) -> None:
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["models"] is False and r.json()["problems"]
    assert client.get("/healthz").status_code == 200
    text = client.get("/metrics", headers=auth(new_key("admin"))).text
    key = new_key("customer")
    r = client.post("/v1/quote", files=[("files", jpeg(8))], headers=auth(key))
    assert r.json()["decision"] == "human_review"
    assert "autoquote_models_ready 0.0" in text
    scraped = client.get("/metrics", headers=auth(new_key("admin"))).text
    assert 'autoquote_model_errors_total{stage="detector"} 1.0' in scraped


def test_serving_never_imports_torch_or_ultralytics() -> None:
    import subprocess

    code = (
        "import sys; import serve.app, serve.cli.main, model.pipeline; "
        "from serve.app import create_app; from serve.settings import Settings; "
        "bad = [m for m in ('torch', 'ultralytics') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

"""Earned autonomy through the service: gradings at each decision, switch-on, settling alone, audits, revocation.

The policy here has one threshold step, ``autonomy: automatic`` and a target of 45 % (reached after 6 agreeing
blind reviews, revoked after about 8 wrong audits) so that the whole life of a step fits in a test; the
shipped policies need 63 agreeing blind reviews at 5 %.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from model.autonomy import audit_draw
from model.pipeline import Pipeline, PipelineConfig
from model.quality import QualityThresholds
from serve.app import create_app
from serve.cli.main import main as cli_main
from serve.db import keys
from serve.db.rows import AuditEventRow
from serve.settings import Settings
from tests.conftest import TEST_POLICIES_DIR
from tests.fakes import FakeCatalogue, FakeDetector, FakePricer, FakeSeverity, photo_bytes
from tests.serve.live import in_thread

SECRET = "autonomy-test-secret-0123456789"
AUDIT_RATE = 0.5
UNPROVEN = {
    "models": {"detector": "d@1"}, "proven": False, "target": 0.05, "confidence": 0.95, "settle_share": 0.0,
    "n_photos": 239, "n_settled": 0, "n_wrong": 0, "split": "val", "method": "test", "wrong_means": "test",
    "calibrated_at": "2026-01-01",
}


def autonomy_policies(folder: Path, **changes: Any) -> Path:
    """The test CN policy with a lab calibration that proved nothing, one threshold step and a fast target."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load((TEST_POLICIES_DIR / "CN.yaml").read_text(encoding="utf-8"))
    raw.update(
        dict(
            version="2026.12-autonomy-test",
            calibration=UNPROVEN,
            threshold_path=[{"name": "loose", "min_detection_score": 0.5}],
            grade_tolerance_amount=200.0,
            blind_review_rate=1.0,
            audit_rate=AUDIT_RATE,
            autonomy="automatic",
            autonomy_target=0.45,
        ),
        **changes,
    )
    (folder / "CN.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return folder


def autonomy_pipeline(policies: Path, detector: FakeDetector | None = None) -> Pipeline:
    config = PipelineConfig(quality=QualityThresholds(min_side=200), policies_dir=policies)
    return Pipeline(detector or FakeDetector(), FakeSeverity(), FakePricer(), FakeCatalogue(), config)


class Service:
    """The service on a live port with one key per role."""

    def __init__(self, http: httpx.Client, app: Any) -> None:
        self.http, self.app = http, app
        with app.state.sessionmaker() as session:
            self.keys = {r: keys.create_key(session, f"t-{r}", r)[1] for r in ("customer", "adjuster", "admin")}
            session.commit()

    def call(self, method: str, path: str, role: str, **kw: Any) -> dict[str, Any]:
        r = self.http.request(method, path, headers={"Authorization": f"Bearer {self.keys[role]}"}, **kw)
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json()  # type: ignore[no-any-return]

    def open_claim(self) -> str:
        return str(self.call("POST", "/v1/claims", "customer", json={"region": "CN"})["id"])

    def assess(self, claim_id: str, seed: int) -> dict[str, Any]:
        files = [("files", (f"p{seed}.jpg", photo_bytes(seed=seed), "image/jpeg"))]
        self.call("POST", f"/v1/claims/{claim_id}/photos", "customer", files=files)
        return self.call("POST", f"/v1/claims/{claim_id}/assess", "customer")

    def events(self, claim_id: str, role: str = "adjuster") -> list[dict[str, Any]]:
        """The claim's audit trail as ``role`` sees it."""
        return cast(list[dict[str, Any]], self.call("GET", f"/v1/claims/{claim_id}/audit", role))

    def status(self) -> dict[str, Any]:
        return self.call("GET", "/v1/admin/autonomy", "admin")["policies"][0]["steps"][0]  # type: ignore[no-any-return]


@contextmanager
def running(tmp_path: Path, pipeline: Pipeline) -> Iterator[Service]:
    settings = Settings(
        environment="test", data_dir=tmp_path / "data", min_side=200, autonomy_secret=SecretStr(SECRET)
    )
    app = create_app(settings, pipeline_factory=lambda _s: pipeline)
    with in_thread(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        yield Service(http, app)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with running(tmp_path, autonomy_pipeline(autonomy_policies(tmp_path / "policies"))) as s:
        yield s


def drawn(claim_id: str) -> bool:
    return audit_draw(claim_id, SECRET.encode(), AUDIT_RATE).drawn


def test_a_step_earns_autonomy_settles_alone_and_is_revoked_by_audits(service: Service) -> None:
    assert service.status()["state"] == "shadow" and service.status()["graded"] == 0
    # In shadow every claim goes to an adjuster (the lab calibration proved nothing), who agrees with the model.
    seed, agreed = 0, 0
    while service.status()["state"] != "autonomous":
        seed += 1
        claim = service.assess(service.open_claim(), seed)
        assert claim["status"] == "in_review", claim
        assert "policy_not_calibrated" in {r["code"] for r in claim["quote"]["reasons"]}
        total = claim["quote"]["total"]
        view = service.call("GET", f"/v1/review/claims/{claim['id']}", "adjuster")  # blind: photos only
        assert view["blind"] and view["model_quote"] is None and view["claim"]["quote"] is None
        assert all(not b["boxes"] for b in view["boxes"]) and len(view["boxes"]) == 1
        service.call("POST", f"/v1/claims/{claim['id']}/approve", "adjuster", json={"amount": total})
        agreed += 1
        assert agreed <= 10, service.status()
    status = service.status()
    assert (agreed, status["graded"], status["would_settle"], status["wrong"]) == (6, 6, 6, 0)
    assert status["bound"] <= 0.45
    # The next claim the audit draw does not pick settles alone, with its reasons and versions.
    claim_id = service.open_claim()
    while drawn(claim_id):
        claim_id = service.open_claim()
    seed += 1
    settled = service.assess(claim_id, seed)
    assert settled["status"] == "assessed", settled
    assert settled["quote"]["decision"] == "auto_settle"
    events = service.events(claim_id)
    settle = next(e for e in events if e["action"] == "claim.settled")
    assert settle["detail"]["autonomy"]["action"] == "auto_settle" and settle["detail"]["autonomy"]["step"] == "loose"
    assert settle["detail"]["versions"]["policy"] == "CN@2026.12-autonomy-test"
    assert settle["detail"]["versions"]["detector"]
    # Audited claims go to an adjuster with the normal wording; adjusters pay half: autonomy is revoked.
    audits = 0
    while service.status()["state"] == "autonomous":
        claim_id = service.open_claim()
        if not drawn(claim_id):
            continue
        seed += 1
        claim = service.assess(claim_id, seed)
        assert claim["status"] == "in_review", claim
        half = round(claim["quote"]["total"] / 2, 2)
        body = {"amount": half, "comment": "one panel was already damaged"}
        service.call("POST", f"/v1/claims/{claim_id}/approve", "adjuster", json=body)
        audits += 1
        assert audits <= 15, service.status()
    status = service.status()
    assert status["state"] == "revoked" and status["wrong"] == audits and status["underpay"] == 0
    assert status["overpay"] == audits
    admin_log = service.http.get(
        "/metrics", headers={"Authorization": f"Bearer {service.keys['admin']}"}
    ).text
    assert 'autoquote_autonomy_changes_total{policy="CN@2026.12-autonomy-test",state="revoked",step="loose"} 1.0' in (
        admin_log
    )
    # After the revocation a claim the step would settle goes to an adjuster again, audit draw or not.
    claim_id = service.open_claim()
    while drawn(claim_id):
        claim_id = service.open_claim()
    seed += 1
    assert service.assess(claim_id, seed)["status"] == "in_review"
    # The evidence is append-only at the database.
    with service.app.state.sessionmaker() as session, pytest.raises(DBAPIError, match="append-only"):
        session.execute(text("UPDATE gradings SET wrong = false"))
    print(json.dumps({"agreeing_reviews_to_autonomy": agreed, "wrong_audits_to_revoke": audits}))


def test_status_on_a_fresh_database_has_every_step_in_shadow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTOQUOTE_DATA_DIR", str(tmp_path / "data"))
    assert cli_main(["autonomy", "status", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    steps = [s for p in found["policies"] for s in p["steps"]]
    assert {p["policy"].split("@")[0] for p in found["policies"]} >= {"CN", "US"}
    assert steps and {s["state"] for s in steps} == {"shadow"}
    assert all(s["graded"] == 0 and s["wrong"] == 0 and s["bound"] == 1.0 for s in steps)
    assert cli_main(["autonomy", "status"]) == 0
    assert "63 more agreeing blind reviews" in capsys.readouterr().out


def test_a_blind_review_shows_staff_nothing_the_model_proposed(service: Service) -> None:
    claim = service.assess(service.open_claim(), 1)
    claim_id, total = claim["id"], claim["quote"]["total"]
    assert claim["status"] == "in_review" and total
    parts = {li["part"] for li in claim["quote"]["line_items"]}
    amounts = {f"{total:,.2f}", f"{total:.2f}", f"{total:g}", json.dumps(total)}

    def leaks(body: Any) -> set[str]:
        text = json.dumps(body)
        return {a for a in amounts if a in text} | {p for p in parts if f'"{p}"' in text}

    queue = service.call("GET", "/v1/review/queue", "adjuster")
    item = next(i for i in queue["items"] if i["id"] == claim_id)
    assert item["total"] is None and not leaks(item)
    listed = service.call("GET", "/v1/claims", "adjuster")
    assert not leaks(next(i for i in listed["items"] if i["id"] == claim_id))
    detail = service.call("GET", f"/v1/claims/{claim_id}", "adjuster")
    assert detail["quote"] is None and not leaks(detail)
    events = service.events(claim_id)
    assert events and not leaks(events) and {e["actor_role"] for e in events} == {"customer"}
    view = service.call("GET", f"/v1/review/claims/{claim_id}", "adjuster")
    assert view["blind"] and not leaks({k: v for k, v in view.items() if k != "parts"})
    # The adjuster's own lines, saved before deciding: the view still shows nothing the model proposed.
    own = next(p for p in ("Bonnet", "Door", "Fender", "Bumper") if p not in parts)
    edited = service.call("PUT", f"/v1/claims/{claim_id}/line-items", "adjuster", json={"line_items": [
        {"part": own, "operation": "replace", "parts_cost": 91.0, "labour_cost": 0.0}]})
    assert edited["blind"] and edited["claim"]["quote"]["total"] == 91.0
    view = service.call("GET", f"/v1/review/claims/{claim_id}", "adjuster")
    quote = view["claim"]["quote"]
    assert quote["reasons"] == [] and quote["verification"] is None and all(
        p["findings"] == [] for p in quote["photos"])
    assert not leaks({k: v for k, v in view.items() if k != "parts"}), leaks(view)
    # An amount far from the model's needs no comment: a refusal would say where the model's amount lies.
    r = service.http.post(
        f"/v1/claims/{claim_id}/approve", json={"amount": round(total * 5, 2)},
        headers={"Authorization": f"Bearer {service.keys['adjuster']}"},
    )
    assert r.status_code == 200, r.text
    # Decided, the claim's trail and the model's quote are open again.
    events = service.events(claim_id)
    assert any(e["actor_role"] == "system" for e in events)
    assert service.call("GET", f"/v1/review/claims/{claim_id}", "adjuster")["model_quote"]["total"] == total


def test_a_proven_partial_release_pays_the_confident_part_and_sends_the_rest_to_review(tmp_path: Path) -> None:
    # A confident bumper and a doubted door (detector 0.4, under the step's 0.5): the bumper is the proven part.
    detector = FakeDetector(parts=(("Bumper", (0.1, 0.1, 0.45, 0.5), 0.9), ("Door", (0.5, 0.5, 0.9, 0.9), 0.4)))
    policies = autonomy_policies(tmp_path / "policies", partial_release=True)
    with running(tmp_path, autonomy_pipeline(policies, detector)) as service:

        def partial() -> dict[str, Any]:
            report = service.call("GET", "/v1/admin/autonomy", "admin")["policies"][0]
            return report["partial_release"][0]  # type: ignore[no-any-return]

        seed = 0
        while partial()["state"] != "autonomous":  # blind reviews pay what the model priced: the bumper is right
            seed += 1
            claim = service.assess(service.open_claim(), seed)
            assert claim["status"] == "in_review" and claim["quote"]["total"] == 1000.0, claim
            view = service.call("GET", f"/v1/review/claims/{claim['id']}", "adjuster")
            assert view["partial_release"] is None  # nothing is proven yet: nothing was released
            service.call("POST", f"/v1/claims/{claim['id']}/approve", "adjuster", json={"amount": 1000.0})
            assert seed <= 10, partial()
        assert service.status()["state"] == "shadow"  # the claim as a whole is never one the step settles
        claim_id = service.open_claim()
        while drawn(claim_id):
            claim_id = service.open_claim()
        claim = service.assess(claim_id, seed + 1)
        assert claim["status"] == "in_review", claim  # the door still needs an adjuster
        view = service.call("GET", f"/v1/review/claims/{claim_id}", "adjuster")
        release = view["partial_release"]
        assert (release["step"], release["released_amount"], release["held_amount"]) == ("loose", 500.0, 500.0)
        assert [i["part"] for i in release["released"]] == ["Bumper"]
        assert [i["part"] for i in release["held"]] == ["Door"]
        with service.app.state.sessionmaker() as session:
            routed = session.scalars(
                select(AuditEventRow).where(AuditEventRow.claim_id == claim_id, AuditEventRow.actor_role == "system")
            ).all()
        released = [e.detail["autonomy"] for e in routed if "autonomy" in e.detail]
        assert released and all(
            (r["action"], r["released_amount"], r["held_amount"]) == ("auto_partial", 500.0, 500.0) for r in released
        )

"""Earned autonomy end to end with real photos and the shipped models, through real HTTP.

Claims with photos of the shared damaged-parts set (valid and test splits) are assessed by the shipped detector,
severity model, verifier and pricer under a test copy of the shipped CN policy: its lab calibration proved
nothing (every claim goes to an adjuster), one threshold step (``score-0.8``), half the reviews blind, half the
would-be settlements audited, ``autonomy: manual`` and a target of 45 % so that a few reviews suffice (the
shipped target of 5 % needs 63 agreeing blind reviews). An adjuster approves each claim at the amount a careful
adjuster would, the model's (read from the database, never from the blind view) until the step is proven; an
admin confirms it; the next claim the audit draw does not pick settles alone with its reasons and versions;
then adjusters reject audited claims and the step is revoked, in ``/metrics`` and the audit log.

The photos were chosen once by running the shipped models on every distinct source photo of the valid and test
splits (and some of train):
these are the ones where the step would settle (one confident finding of a priced part, under the step's
limit), so each claim adds evidence for it. Run with ``-s`` to print the figures the README quotes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import select

from model.autonomy import audit_draw
from model.decision import POLICIES_DIR
from model.pipeline import PipelineConfig, build_pipeline
from model.quality import QualityThresholds
from serve.app import create_app
from serve.db.rows import AuditEventRow, QuoteRow
from serve.settings import Settings
from tests.serve.live import in_thread
from tests.serve.test_autonomy import Service

pytestmark = [pytest.mark.data, pytest.mark.slow]
SECRET = "autonomy-e2e-secret-0123456789"
AUDIT_RATE = 0.5
STEP = "score-0.8"
POLICY = "CN@2026.12-autonomy-e2e"
# Distinct source photos where the shipped models find a part the step would settle (what they priced).
PHOTOS = [
    "test/images/damage_3426_jpg.rf.9e7c06109c818262c80972bf9a78be77.jpg",  # Bumper 630
    "test/images/damage_3615_jpg.rf.2c210f55749483762889d8189f08913d.jpg",  # Fender 675
    "test/images/damage_6312_jpg.rf.8401119b3fb37cda7b0b0fe9ea5d9f5c.jpg",  # Fender 675
    "test/images/damage_930_jpg.rf.f67d5e1504056f31bc4e637f2301d553.jpg",  # Windshield 1800
    "valid/images/0003_JPEG.rf.37688568b030acbbf0976a031507578d.jpg",  # Windshield 1800
    "valid/images/0017_jpeg.rf.8f4d6a4c8dbfd5254859c3dd1f1ec9a2.jpg",  # Door 916.29
    "valid/images/0056_JPEG.rf.8aa62726de8dd1cafdd95dea7cfe71c0.jpg",  # Bonnet 1825.07
    "valid/images/0075_JPEG.rf.85e2a5049616868b728e5cabe3171843.jpg",  # Bonnet 1845
    "valid/images/0168_JPEG.rf.530beb237ff6a20c61d523407103e9e5.jpg",  # Windshield 1800
    "valid/images/damage_1028_jpg.rf.b1cf35bf24ec6a28d8479cb594430c87.jpg",  # Door 922.5
    "valid/images/damage_1150_jpg.rf.75ef378562f1024795cdbd88f82378c2.jpg",  # Bumper 630
    "valid/images/damage_2119_jpg.rf.2ddc60c5a16bdd1c849eee53ecd2070b.jpg",  # Windshield 1800
    "valid/images/damage_23_jpg.rf.69551a55dd45cd35d0bd36499b309a2f.jpg",  # Bumper 630
    "valid/images/damage_2690_jpg.rf.cc79ec2bb6963f8a08516f61d690c4e9.jpg",  # Bumper 630
    "valid/images/damage_312_jpg.rf.1b5da102182b6929c8c43f7f6f4f2022.jpg",  # Windshield 112.5
    "valid/images/damage_3874_jpg.rf.97f2c844bd67d70ebb47ba4455cf192f.jpg",  # Bumper 630
    "valid/images/damage_4002_jpg.rf.44fe6039ddee2b67447de8083c34a243.jpg",  # Bumper 630
    "valid/images/damage_4010_jpg.rf.fce4e8487372d98727df63f55a786b84.jpg",  # Bumper 630
    "valid/images/damage_4672_jpg.rf.78e49bb01f73f64b010f57f0087f176c.jpg",  # Bumper 630
    "valid/images/damage_5048_jpg.rf.e808ccc4d92f04d59061e92e8729901e.jpg",  # Windshield 1800
    "valid/images/damage_6352_jpg.rf.4c8b886ab4d6d6626d7f8535e17faeeb.jpg",  # Windshield 1800
    "valid/images/damage_7089_jpg.rf.b35686d1a1683b98f996d25b38554e67.jpg",  # Bumper 630
    "valid/images/damage_8192_jpg.rf.e70d38b08dfb513b41c286e151985ee3.jpg",  # Windshield 112.5
    "valid/images/minor_10_jpg.rf.ceb5c20f4264ffbb3ee3f5fea74ff1c5.jpg",  # Bumper 630
    "valid/images/minor_112_jpg.rf.c2d23b7c5ba20c8465129069fdc337fd.jpg",  # Bumper 589.28
    "valid/images/minor_15_jpg.rf.e2bfbdb7b90d14c4ef18643dad928097.jpg",  # Bumper 594.9
    "valid/images/minor_184_jpg.rf.3fb9f67e7013441e801ec4148d17afe5.jpg",  # Bumper 1485
    "valid/images/minor_197_jpg.rf.0234269ef02bbcd099295f584788e532.jpg",  # Fender 675
    "valid/images/minor_232_jpg.rf.8bde8cd78795d9699e3171a934f2ec84.jpg",  # Door 922.5, Fender 662.8
    "valid/images/minor_96_jpg.rf.784ddb1e6949a34dd5eed602151af8fe.jpg",  # Bumper 1463.89
    "valid/images/moderate_311_jpg.rf.9297b1ea7f90a8723cdf208501a9cfb5.jpg",  # Door 922.5
    "valid/images/moderate_47_jpg.rf.3ec8b52368aa1b8ea137cb54b5990a1f.jpg",  # Windshield 1800
    "valid/images/moderate_58_jpg.rf.a818a876dc8cd767c2f3cde9cc879105.jpg",  # Door 1788.65
    "valid/images/moderate_63_jpg.rf.36200f5ce1544b129202e0c29c28cfb8.jpg",  # Door 911.63
    "valid/images/moderate_78_jpg.rf.a0b3b69fac0c326fa046bb0093f03b23.jpg",  # Bonnet 1762.76
    # From the training split (the test checks the service's flow, not the models' accuracy): spares.
    "train/images/damage_1173_jpg.rf.15964def36336f3ccbc49895336ff1e0.jpg",  # Door 922.5
    "train/images/damage_1422_jpg.rf.11fa6bca171520ad0a58981a4d98727f.jpg",  # Windshield 1800
    "train/images/damage_1570_jpg.rf.0ed9219cd488029225f68e996696ce97.jpg",  # Bumper 630
    "train/images/damage_1576_jpg.rf.3ccec52f7eac99dff761e0771520ca57.jpg",  # Bumper 630
    "train/images/damage_1731_jpg.rf.12009bb6f8e0599e5d5ab1992cf65e11.jpg",  # Door 922.5
    "train/images/damage_1733_jpg.rf.320369f858052d776ff8668321f31276.jpg",  # Door 922.5
    "train/images/damage_1734_jpg.rf.916079ae93e1984b826abac1f8e02bb8.jpg",  # Door 922.5
    "train/images/damage_1883_jpg.rf.09b27d509d845dd91d82516eadcbcadf.jpg",  # Windshield 1800
    "train/images/damage_1946_jpg.rf.0709108aa9029efe479011a4b2c4e70d.jpg",  # Windshield 1800
    "train/images/damage_1973_jpg.rf.997a54616f825aaee17f81a20b8ecafa.jpg",  # Windshield 1800
    "train/images/damage_2364_jpg.rf.198fe3c4d916b9eb1d560d11efa489fb.jpg",  # Bumper 630
    "train/images/damage_2476_jpg.rf.33ec6b1c6a192198973b3e74739e7db4.jpg",  # Door 922.5
    "train/images/damage_2485_jpg.rf.3205c7914435ee2ac2125e308a7ef7ae.jpg",  # Windshield 1800
    "train/images/damage_2511_jpg.rf.0ed4b436adcf44fa7881701f344fbfc2.jpg",  # Bumper 630
    "train/images/damage_2525_jpg.rf.88d4f4bffe94e5c4d4da49ff64c3c710.jpg",  # Bumper 630
    "train/images/damage_2583_jpg.rf.abf5058fa66236366574e996cefea3b8.jpg",  # Bumper 630
    "train/images/damage_2848_jpg.rf.b164c6d697c7342c3ff3de4d056d4537.jpg",  # Windshield 1800
    "train/images/damage_301_jpg.rf.14c2058325912cdf51fd9e0dfc733660.jpg",  # Light 112.5
    "train/images/damage_3081_jpg.rf.3795f07d16be372cf1d16e1f610b0475.jpg",  # Windshield 112.5
    "train/images/damage_3114_jpg.rf.88be8f416ec7cbfbc252facdbc7118f7.jpg",  # Bumper 630
]


def e2e_policies(folder: Path) -> Path:
    """The shipped CN policy with one threshold step, half blind, half audited, manual, a 45 % target."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load((POLICIES_DIR / "CN.yaml").read_text(encoding="utf-8"))
    raw.update(
        version="2026.12-autonomy-e2e",
        threshold_path=[
            {"name": STEP, "min_detection_score": 0.8, "min_severity_confidence": 0.6, "severe_probability": 0.4}
        ],
        blind_review_rate=0.5,
        audit_rate=AUDIT_RATE,
        autonomy="manual",
        autonomy_target=0.45,
    )
    (folder / "CN.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return folder


class RealPhotos(Service):
    """The service on the shipped models; claims take the next photo of the list."""

    def __init__(self, http: httpx.Client, app: Any, root: Path) -> None:
        super().__init__(http, app)
        self.photos = iter(root / "damaged-parts" / p for p in PHOTOS)

    def assess_next(self, claim_id: str) -> dict[str, Any]:
        photo = next(self.photos, None)
        assert photo is not None, "the photo list ran out: the step needs more evidence than expected"
        files = [("files", (photo.name, photo.read_bytes(), "image/jpeg"))]
        self.call("POST", f"/v1/claims/{claim_id}/photos", "customer", files=files)
        return self.call("POST", f"/v1/claims/{claim_id}/assess", "customer")

    def model_quote(self, claim_id: str) -> QuoteRow:
        """The claim's model quote, read test-side."""
        with self.app.state.sessionmaker() as session:
            row: QuoteRow = session.scalars(
                select(QuoteRow).where(QuoteRow.claim_id == claim_id, QuoteRow.source == "model")
            ).one()
            return row

    def model_total(self, claim_id: str) -> float:
        """The model's amount: what a careful adjuster pays when the model is right."""
        total = self.model_quote(claim_id).total
        assert total is not None
        return float(total)

    def would_settle(self, claim_id: str) -> bool:
        """Whether the step would have settled the claim's model quote, as the quote recorded it (its shadow)."""
        autonomy = self.model_quote(claim_id).autonomy
        assert autonomy is not None
        return bool(autonomy["steps"][0]["would_settle"])

    def claim_not_audited(self) -> str:
        claim_id = self.open_claim()
        while audit_draw(claim_id, SECRET.encode(), AUDIT_RATE).drawn:
            claim_id = self.open_claim()
        return claim_id

    def claim_audited(self) -> str:
        claim_id = self.open_claim()
        while not audit_draw(claim_id, SECRET.encode(), AUDIT_RATE).drawn:
            claim_id = self.open_claim()
        return claim_id


@pytest.fixture
def real(tmp_path: Path, data_root: Path) -> Iterator[RealPhotos]:
    settings = Settings(
        environment="test", data_dir=tmp_path / "data", min_side=150, autonomy_secret=SecretStr(SECRET)
    )
    config = PipelineConfig(quality=QualityThresholds(min_side=150), policies_dir=e2e_policies(tmp_path / "p"))
    pipeline = build_pipeline(config)
    assert pipeline.ready, pipeline.problems
    app = create_app(settings, pipeline_factory=lambda _s: pipeline)
    with in_thread(app) as base, httpx.Client(base_url=base, timeout=120) as http:
        yield RealPhotos(http, app, data_root)


def test_real_photos_earn_autonomy_settle_alone_and_lose_it(real: RealPhotos) -> None:
    status = real.status()
    assert (status["state"], status["graded"]) == ("shadow", 0)
    # Shadow: every claim goes to an adjuster, who pays what the model proposed; blind ones count.
    # (A photo the step would not settle is graded too, but is no evidence for the step: counted apart.)
    reviews = blind = blind_settling = 0
    while real.status()["state"] == "shadow":
        claim = real.assess_next(real.open_claim())
        assert claim["status"] == "in_review", claim
        assert "policy_not_calibrated" in {r["code"] for r in claim["quote"]["reasons"]}
        view = real.call("GET", f"/v1/review/claims/{claim['id']}", "adjuster")
        blind += view["blind"]
        blind_settling += view["blind"] and real.would_settle(claim["id"])
        if not view["blind"]:
            assert view["model_quote"]["total"] == real.model_total(claim["id"])
        amount = real.model_total(claim["id"])
        real.call("POST", f"/v1/claims/{claim['id']}/approve", "adjuster", json={"amount": amount})
        reviews += 1
    status = real.status()
    assert status["state"] == "pending_confirmation", status
    assert (status["would_settle"], status["wrong"], status["graded"]) == (blind_settling, 0, blind)
    assert status["anchored_would_settle"] == reviews - blind and status["bound"] <= 0.45
    # Proven, but manual: nothing settles alone until an admin confirms.
    waiting = real.assess_next(real.claim_not_audited())
    assert waiting["status"] == "in_review"
    amount = real.model_total(waiting["id"])
    real.call("POST", f"/v1/claims/{waiting['id']}/approve", "adjuster", json={"amount": amount})
    confirmed = real.call("POST", "/v1/admin/autonomy/confirm", "admin", json={"jurisdiction": "CN", "step": STEP})
    assert confirmed["policies"][0]["steps"][0]["state"] == "autonomous"
    # The next claim the audit draw does not pick settles alone, with its reasons and the versions behind it.
    settled = real.assess_next(real.claim_not_audited())
    assert settled["status"] == "assessed" and settled["quote"]["decision"] == "auto_settle", settled
    events = real.events(settled["id"])
    settle = next(e for e in events if e["action"] == "claim.settled")
    assert settle["detail"]["autonomy"]["action"] == "auto_settle" and settle["detail"]["autonomy"]["step"] == STEP
    assert settle["detail"]["autonomy"]["why"] == f"step {STEP} has proven its error rate and settles it"
    versions = settle["detail"]["versions"]
    assert versions["policy"] == POLICY and versions["detector"].startswith("autoquote-detector@")
    assert versions["severity"].startswith("autoquote-severity@") and versions["catalogue"]
    # Audited claims reach an adjuster with the normal wording; adjusters reject them: the step is revoked.
    # (A drawn claim the step would not settle is an ordinary review, not an audit: rejected, it is no error.)
    audits = 0
    while real.status()["state"] == "autonomous":
        claim = real.assess_next(real.claim_audited())
        assert claim["status"] == "in_review", claim
        audited = real.would_settle(claim["id"])
        view = real.call("GET", f"/v1/review/claims/{claim['id']}", "adjuster")
        assert not audited or (view["blind"] and view["model_quote"] is None)  # audits are blind
        body = {"comment": "the damage was there before the policy started"}
        real.call("POST", f"/v1/claims/{claim['id']}/reject", "adjuster", json=body)
        audits += audited
    status = real.status()
    assert audits and status["state"] == "revoked", (status, audits)
    assert status["overpay"] == status["wrong"] == audits, (status, audits)
    metrics = real.http.get("/metrics", headers={"Authorization": f"Bearer {real.keys['admin']}"}).text
    assert f'autoquote_autonomy_changes_total{{policy="{POLICY}",state="revoked",step="{STEP}"}} 1.0' in metrics
    with real.app.state.sessionmaker() as session:
        changes = select(AuditEventRow.action).where(AuditEventRow.action.like("autonomy.%"))
        logged = session.scalars(changes.order_by(AuditEventRow.id)).all()
    assert list(logged) == ["autonomy.pending_confirmation", "autonomy.confirmed", "autonomy.switched_on",
                            "autonomy.revoked"]
    # A claim the step would settle goes to an adjuster again.
    assert real.assess_next(real.claim_not_audited())["status"] == "in_review"
    print(json.dumps({"reviews_to_proof": reviews, "blind_reviews_to_proof": blind, "bound_at_proof": confirmed[
        "policies"][0]["steps"][0]["bound"], "wrong_audits_to_revoke": audits, "photos_used": reviews + audits + 3}))

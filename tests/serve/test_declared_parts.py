"""Declared damage through real HTTP on SQLite and PostgreSQL: the customer says which parts are damaged, tags
each close-up with its part, is asked for exactly the close-up the photos did not confirm, retakes it and gets
the outcome; damage nobody declared is asked about and can be added; unknown parts are refused with stable
codes; past the retake rounds the claim goes to an adjuster, and no sentence then asks for a photo.

The fake detector reads each photo's paint (``tests/serve/scenes.py``): a red half shows a damaged door, a
green half a damaged fender, grey nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session

from model.pipeline import Pipeline
from serve.app import create_app
from serve.db import keys
from serve.db.rows import ClaimRow
from serve.db.session import alembic_config, make_engine, run_migrations
from serve.jobs.rescore import backlog, quote_jobs
from serve.settings import Settings
from tests.conftest import TEST_POLICIES_DIR
from tests.serve.live import in_thread
from tests.serve.scenes import scene, scene_pipeline

DOOR = {"part": "Door", "side": "left"}
FENDER = {"part": "Fender", "side": "left"}


@dataclass
class Api:
    http: httpx.Client
    app: Any

    def key(self, role: str = "customer") -> str:
        with self.app.state.sessionmaker() as session:
            _row, key = keys.create_key(session, f"declared-{role}", role)
            session.commit()
        return key


@contextmanager
def serving(database_url: str, tmp_path: Path, pipeline: Pipeline) -> Iterator[Api]:
    """The app on ``pipeline`` under uvicorn in a thread, and a client of it."""
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        max_photos_per_claim=6,
        min_side=200,
    )
    app = create_app(settings, pipeline_factory=lambda _s: pipeline)
    with in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield Api(http, app)


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app on the scene detector (300 CNY a finding), on each backend."""
    with serving(database_url, tmp_path, scene_pipeline(per_finding=300.0)) as running:
        yield running


def auth(key: str, lang: str = "en") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept-Language": lang}


def jpeg(name: str, data: bytes) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", (name, data, "image/jpeg"))


def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


def refused(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    return str(r.json()["error"]["message"])


def open_claim(api: Api, key: str, declared: list[dict[str, str]], region: str = "CN") -> dict[str, Any]:
    return ok(api.http.post("/v1/claims", json={"region": region, "declared_parts": declared}, headers=auth(key)), 201)


def add(api: Api, key: str, claim_id: str, name: str, data: bytes, part: str | None = None) -> dict[str, Any]:
    form = {"part": part} if part is not None else None
    r = api.http.post(f"/v1/claims/{claim_id}/photos", files=[jpeg(name, data)], data=form, headers=auth(key))
    return ok(r, 201)


def declare(api: Api, key: str, claim_id: str, parts: list[dict[str, str]]) -> httpx.Response:
    return api.http.put(f"/v1/claims/{claim_id}/declared-parts", json={"declared_parts": parts}, headers=auth(key))


def assess(api: Api, key: str, claim_id: str, lang: str = "en") -> dict[str, Any]:
    return ok(api.http.post(f"/v1/claims/{claim_id}/assess", headers=auth(key, lang)))


def photo_named(claim: dict[str, Any], filename: str) -> dict[str, Any]:
    return next(p for p in claim["photos"] if p["filename"] == filename)


def trail(api: Api, claim_id: str) -> list[dict[str, Any]]:
    return ok(api.http.get(f"/v1/claims/{claim_id}/audit", headers=auth(api.key("adjuster"))))  # type: ignore[return-value]


def test_declare_two_parts_retake_the_one_not_confirmed_and_settle(api: Api) -> None:
    customer = api.key()
    claim = open_claim(api, customer, [{"part": "door", "side": "left"}, {"part": "FENDER", "side": "left"}])
    assert claim["declared_parts"] == [DOOR, FENDER]  # spelled as the vocabulary spells them
    claim_id = claim["id"]
    add(api, customer, claim_id, "wide.jpg", scene("Door", None, seed=1))
    add(api, customer, claim_id, "door.jpg", scene("Door", None, seed=2), part="Door:left")
    body = add(api, customer, claim_id, "fender.jpg", scene(None, None, seed=3), part="fender:LEFT")
    assert [p["part"] for p in body["photos"]] == [None, DOOR, FENDER]

    body = assess(api, customer, claim_id, "zh-CN")
    fender_close_up = photo_named(body, "fender.jpg")["id"]
    assert body["status"] == "retake_requested" and body["quote"]["decision"] == "retake_photos"
    # Exactly what to retake: the close-up of the left fender, named in the customer's language.
    assert body["retake"] == [
        {
            "code": "declared_not_found",
            "photo_id": fender_close_up,
            "part": FENDER,
            "message": "照片中未能确认您申报的左侧翼子板损伤；请对左侧翼子板拍一张近距离特写",
        }
    ]
    checks = body["quote"]["verification"]["parts"]
    assert [(c["part"], c["side"], c["status"]) for c in checks] == [
        ("Door", "left", "confirmed"),
        ("Fender", "left", "not_confirmed"),
    ]
    assert checks[0]["photo_id"] in {photo_named(body, n)["id"] for n in ("wide.jpg", "door.jpg")}
    assert checks[1]["photo_id"] == fender_close_up and checks[1]["close_ups"] == [fender_close_up]
    assert body["quote"]["verification"]["undeclared"] == []

    # The retake: a new close-up in the place of the named one keeps its part.
    r = api.http.put(
        f"/v1/claims/{claim_id}/photos/{fender_close_up}",
        files={"file": ("fender-again.jpg", scene("Fender", None, seed=4), "image/jpeg")},
        headers=auth(customer),
    )
    after = ok(r)
    assert after["status"] == "submitted" and after["retake"] == []
    assert photo_named(after, "fender-again.jpg")["part"] == FENDER

    body = assess(api, customer, claim_id)
    assert body["status"] == "assessed" and body["quote"]["decision"] == "auto_settle", body["quote"]["reasons"]
    assert [c["status"] for c in body["quote"]["verification"]["parts"]] == ["confirmed", "confirmed"]
    assert sorted({li["part"] for li in body["quote"]["line_items"]}) == ["Door", "Fender"]
    assert body["quote"]["total"] == 900  # a door on two photos and the fender, 300 each

    events = trail(api, claim_id)
    assert [e["action"] for e in events] == [
        "claim.created",
        "photo.added",
        "photo.added",
        "photo.added",
        "quote.decided",
        "claim.retake_requested",
        "photo.replaced",
        "quote.decided",
        "claim.settled",
    ]
    assert events[0]["detail"]["declared_parts"] == ["Door:left", "Fender:left"]
    assert [e["detail"]["photos"][0]["part"] for e in events[1:4]] == [None, "Door:left", "Fender:left"]
    assert events[4]["detail"]["declared"] == {"Door:left": "confirmed", "Fender:left": "not_confirmed"}
    assert events[6]["detail"]["part"] == "Fender:left"


def test_undeclared_damage_is_asked_about_and_can_be_added(api: Api) -> None:
    customer = api.key()
    claim_id = open_claim(api, customer, [DOOR])["id"]
    add(api, customer, claim_id, "wide.jpg", scene("Door", "Fender", seed=1))
    add(api, customer, claim_id, "door.jpg", scene("Door", None, seed=2), part="Door:left")
    body = assess(api, customer, claim_id)
    # Never priced silently: the fender waits for the customer's answer, and an adjuster sees it meanwhile.
    assert body["status"] == "in_review"
    assert [r["code"] for r in body["quote"]["reasons"]] == ["undeclared_damage"]
    assert body["quote"]["reasons"][0]["params"] == {"part": "Fender"}
    assert "should it be added?" in body["quote"]["reasons"][0]["message"]
    assert {li["part"] for li in body["quote"]["line_items"]} == {"Door"}
    assert body["quote"]["verification"]["undeclared"] == [
        {"part": "Fender", "photo_id": photo_named(body, "wide.jpg")["id"], "score": 0.9}
    ]

    # The answer: the customer adds the fender; the claim is open again and is assessed on both parts.
    after = ok(declare(api, customer, claim_id, [DOOR, FENDER]))
    assert after["status"] == "submitted" and after["declared_parts"] == [DOOR, FENDER]
    body = assess(api, customer, claim_id)
    assert body["status"] == "assessed", body["quote"]["reasons"]
    assert {li["part"] for li in body["quote"]["line_items"]} == {"Door", "Fender"}
    changed = [e for e in trail(api, claim_id) if e["action"] == "claim.parts_declared"]
    assert changed[0]["actor_role"] == "customer"
    assert changed[0]["detail"]["declared_parts"] == {"from": ["Door:left"], "to": ["Door:left", "Fender:left"]}
    assert changed[0]["detail"]["status"] == {"from": "in_review", "to": "submitted"}


def test_a_claim_in_review_for_other_reasons_keeps_its_declaration(api: Api) -> None:
    customer = api.key()
    claim_id = open_claim(api, customer, [DOOR])["id"]
    add(api, customer, claim_id, "wide.jpg", scene("Door", "Door", seed=1))
    for seed in (2, 3, 4, 5, 6):  # seven doors at 300: over the 2,000 limit
        add(api, customer, claim_id, f"door{seed}.jpg", scene("Door", None, seed=seed), part="Door")
    body = assess(api, customer, claim_id)
    assert body["status"] == "in_review" and [r["code"] for r in body["quote"]["reasons"]] == ["over_limit"]
    r = declare(api, customer, claim_id, [DOOR, FENDER])
    message = refused(r, 409, "claim_state_conflict")
    assert r.json()["error"]["allowed"] == ["withdraw"] and "does not declare" in message


def test_unknown_parts_and_sides_are_refused_with_stable_codes(api: Api) -> None:
    customer = api.key()
    r = api.http.post("/v1/claims", json={"declared_parts": [{"part": "Wheel"}]}, headers=auth(customer))
    assert "Wheel" in refused(r, 422, "unknown_part")
    for wrong in ({"part": "Door", "side": "top"}, {"part": "Door", "colour": "red"}):
        r = api.http.post("/v1/claims", json={"declared_parts": [wrong]}, headers=auth(customer))
        refused(r, 422, "request_invalid")
    files = [jpeg("wide.jpg", scene("Door", None, seed=1))]
    r = api.http.post("/v1/quote", files=files, data={"declared_parts": ["Door", "Wheel"]}, headers=auth(customer))
    assert "Wheel" in refused(r, 422, "unknown_part")
    r = api.http.post("/v1/quote", files=files, data={"declared_parts": ["Door:top"]}, headers=auth(customer))
    assert "front, rear, left, right" in refused(r, 422, "unknown_side")

    claim_id = open_claim(api, customer, [DOOR])["id"]
    refused(declare(api, customer, claim_id, [{"part": "Wheel"}]), 422, "unknown_part")
    photo = [jpeg("x.jpg", scene("Door", None, seed=2))]
    r = api.http.post(f"/v1/claims/{claim_id}/photos", files=photo, data={"part": "Wheel"}, headers=auth(customer))
    refused(r, 422, "unknown_part")
    # A close-up of a part the claim does not declare: declare it first, or send a wide shot.
    r = api.http.post(f"/v1/claims/{claim_id}/photos", files=photo, data={"part": "Fender"}, headers=auth(customer))
    assert "x.jpg" in refused(r, 422, "part_not_declared")
    door = photo_named(add(api, customer, claim_id, "door.jpg", scene("Door", None, seed=3), part="door"), "door.jpg")
    new = {"file": ("fender.jpg", scene("Fender", None, seed=4), "image/jpeg")}
    url = f"/v1/claims/{claim_id}/photos/{door['id']}"
    r = api.http.put(url, files=new, data={"part": "Fender"}, headers=auth(customer))
    refused(r, 422, "part_not_declared")
    # A declaration cannot leave a close-up without its part.
    refused(declare(api, customer, claim_id, [FENDER]), 422, "part_not_declared")
    claim = ok(api.http.get(f"/v1/claims/{claim_id}", headers=auth(customer)))
    assert claim["declared_parts"] == [DOOR] and len(claim["photos"]) == 1
    assert [e["action"] for e in trail(api, claim_id)] == ["claim.created", "photo.added"]


def test_past_the_retake_rounds_an_adjuster_looks_and_nothing_asks_for_a_photo(api: Api) -> None:
    customer = api.key()
    claim_id = open_claim(api, customer, [DOOR, FENDER])["id"]
    add(api, customer, claim_id, "wide.jpg", scene("Door", None, seed=1))
    close_up = add(api, customer, claim_id, "fender.jpg", scene(None, None, seed=2), part="Fender:left")
    photo_id = photo_named(close_up, "fender.jpg")["id"]
    for round_, seed in ((1, 10), (2, 11)):
        body = assess(api, customer, claim_id)
        assert body["status"] == "retake_requested" and body["retake_rounds"] == round_
        assert [(t["code"], t["photo_id"]) for t in body["retake"]] == [("declared_not_found", photo_id)]
        r = api.http.put(
            f"/v1/claims/{claim_id}/photos/{photo_id}",
            files={"file": (f"fender{seed}.jpg", scene(None, None, seed=seed), "image/jpeg")},
            headers=auth(customer),
        )
        photo_id = photo_named(ok(r), f"fender{seed}.jpg")["id"]
    for lang, asks in (("en", "please take"), ("zh-CN", "请对")):
        body = assess(api, customer, claim_id, lang) if lang == "en" else ok(
            api.http.get(f"/v1/claims/{claim_id}", headers=auth(customer, lang))
        )
        assert body["status"] == "in_review" and body["quote"]["decision"] == "human_review"
        assert [r["code"] for r in body["quote"]["reasons"]] == ["declared_not_found", "retake_limit"]
        assert body["retake"] == []
        assert not any(asks in r["message"] for r in body["quote"]["reasons"]), body["quote"]["reasons"]
    assert body["quote"]["reasons"][0]["message"] == "照片中未能确认您申报的左侧翼子板损伤；定损员将进行核查"
    queue = ok(api.http.get("/v1/review/queue?reason=declared_not_found", headers=auth(api.key("adjuster"))))
    assert [c["id"] for c in queue["items"]] == [claim_id]


def test_a_dark_photo_is_retaken_but_said_plainly_once_an_adjuster_must_look(api: Api) -> None:
    customer, other = api.key(), api.key()
    dark = scene("Door", None, seed=5, light=0.05)
    # Alone, the dark photo is asked for again, by photo.
    claim_id = open_claim(api, customer, [])["id"]
    add(api, customer, claim_id, "dark.jpg", dark)
    body = assess(api, customer, claim_id)
    assert body["status"] == "retake_requested"
    assert [(t["code"], t["photo_id"], t["part"]) for t in body["retake"]] == [
        ("poor_photo", body["photos"][0]["id"], None)
    ]
    assert body["retake"][0]["message"].startswith("please take this photo again")
    # Once the claim is withdrawn, nothing asks for a photo any more.
    gone = ok(api.http.post(f"/v1/claims/{claim_id}/withdraw", headers=auth(customer)))
    assert gone["retake"] == [] and not gone["quote"]["reasons"][0]["message"].startswith("please")
    # With a photo from another claim, an adjuster looks first: the same reason no longer asks for a photo.
    second = open_claim(api, other, [])["id"]
    add(api, other, second, "dark.jpg", dark)
    body = assess(api, other, second)
    assert body["status"] == "in_review" and body["retake"] == []
    said = {r["code"]: r["message"] for r in body["quote"]["reasons"]}
    assert said.keys() == {"adjuster_check", "poor_photo"}
    assert said["poor_photo"] == "this photo could not be used (too dark; blurred); an adjuster will look at the claim"


def test_dark_photos_under_an_unproven_policy_are_asked_again_and_the_retake_is_taken(
    database_url: str, tmp_path: Path
) -> None:
    """As reported: two dark photos under a policy calibrated for other models were told "please retake" while
    the claim sat in review and PUT photo answered 409. A retake now comes first, and it is accepted."""
    policies = tmp_path / "policies"
    policies.mkdir()
    calibration = (
        "calibration:\n  models: {detector: other-detector@9}\n  proven: true\n  target: 0.05\n"
        "  confidence: 0.95\n  settle_share: 0.2\n  n_photos: 100\n  n_settled: 20\n  n_wrong: 0\n"
        "  split: test\n  method: test\n  wrong_means: test\n  calibrated_at: '2026-11-01'\n"
    )
    (policies / "CN.yaml").write_text((TEST_POLICIES_DIR / "CN.yaml").read_text() + calibration)
    pipeline = scene_pipeline(per_finding=300.0)
    pipeline.config = replace(pipeline.config, policies_dir=policies)
    with serving(database_url, tmp_path, pipeline) as api:
        customer = api.key()
        claim_id = open_claim(api, customer, [DOOR])["id"]
        add(api, customer, claim_id, "wide.jpg", scene("Door", None, seed=1, light=0.05))
        add(api, customer, claim_id, "door.jpg", scene("Door", None, seed=2, light=0.05), part="Door:left")
        body = assess(api, customer, claim_id)
        assert body["status"] == "retake_requested"
        codes = {r["code"] for r in body["quote"]["reasons"]}
        assert {"policy_not_calibrated", "poor_photo", "declared_not_found"} <= codes
        wanted = {t["photo_id"] for t in body["retake"]}
        assert wanted == {p["id"] for p in body["photos"]}
        for seed, photo_id in enumerate(sorted(wanted), start=10):
            r = api.http.put(
                f"/v1/claims/{claim_id}/photos/{photo_id}",
                files={"file": (f"again{seed}.jpg", scene("Door", None, seed=seed), "image/jpeg")},
                headers=auth(customer),
            )
            wanted.discard(photo_id)
            assert {t["photo_id"] for t in ok(r)["retake"]} == wanted  # what is still to retake
        body = assess(api, customer, claim_id)
        assert body["status"] == "in_review"
        assert [r["code"] for r in body["quote"]["reasons"]] == ["policy_not_calibrated"]
        assert [c["status"] for c in body["quote"]["verification"]["parts"]] == ["confirmed"]


def test_claims_without_declarations_are_judged_as_before(api: Api) -> None:
    customer = api.key()
    claim = open_claim(api, customer, [])
    assert claim["declared_parts"] == [] and claim["retake"] == []
    add(api, customer, claim["id"], "wide.jpg", scene("Door", "Fender", seed=1))
    body = assess(api, customer, claim["id"])
    assert body["status"] == "assessed" and body["quote"]["verification"] is None
    assert sorted(li["part"] for li in body["quote"]["line_items"]) == ["Door", "Fender"]
    assert [p["part"] for p in body["photos"]] == [None]
    # Nothing on the photos: the customer is asked for a closer photo, with no photo or part named.
    empty = open_claim(api, customer, [])["id"]
    add(api, customer, empty, "grey.jpg", scene(None, None, seed=2))
    body = assess(api, customer, empty)
    assert body["status"] == "retake_requested"
    assert [(t["code"], t["photo_id"], t["part"]) for t in body["retake"]] == [("no_damage_found", None, None)]


def test_the_one_shot_quote_prices_only_confirmed_parts(api: Api) -> None:
    customer = api.key()
    files = [jpeg("wide.jpg", scene("Door", "Fender", seed=1))]
    declared = {"declared_parts": ["door:left", "Bumper"]}
    body = ok(api.http.post("/v1/quote", files=files, data=declared, headers=auth(customer)))
    checks = body["verification"]["parts"]
    assert [(c["part"], c["side"], c["status"]) for c in checks] == [
        ("Door", "left", "confirmed"),
        ("Bumper", None, "not_confirmed"),
    ]
    assert body["verification"]["undeclared"][0]["part"] == "Fender"
    assert [li["part"] for li in body["line_items"]] == ["Door"]
    assert {r["code"] for r in body["reasons"]} == {"declared_not_found", "undeclared_damage"}
    plain = ok(api.http.post("/v1/quote", files=files, headers=auth(customer)))
    assert plain["verification"] is None and sorted(li["part"] for li in plain["line_items"]) == ["Door", "Fender"]


def test_the_vocabulary_is_published_and_the_schema_documents_declarations(api: Api) -> None:
    models = ok(api.http.get("/v1/models", headers=auth(api.key())))
    assert models["parts"] == ["Bonnet", "Bumper", "Door", "Fender"]
    schema = ok(api.http.get("/openapi.json"))
    paths = schema["paths"]
    assert "put" in paths["/v1/claims/{claim_id}/declared-parts"]
    components = schema["components"]["schemas"]
    assert "declared_parts" in components["ClaimCreate"]["properties"]
    assert set(components["ClaimOut"]["properties"]) >= {"declared_parts", "retake"}
    assert "verification" in components["QuoteOut"]["properties"]
    side = components["DeclaredPartIn"]["properties"]["side"]["anyOf"][0]
    assert side["enum"] == ["front", "rear", "left", "right"]
    for path, method in (("/v1/claims/{claim_id}/photos", "post"), ("/v1/claims/{claim_id}/photos/{photo_id}", "put")):
        form = paths[path][method]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
        assert "part" in components[form.rsplit("/", 1)[1]]["properties"], path
    assert "declared_parts" in components["Body_quote_photos_v1_quote_post"]["properties"]
    assert "unknown_part" in paths["/v1/claims"]["post"]["responses"]["422"]["description"]


def test_the_migration_leaves_earlier_claims_undeclared(database_url: str) -> None:
    """Claims and photos stored before declarations declare nothing and are wide shots after the upgrade."""
    command.downgrade(alembic_config(database_url), "0006")
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
            conn.execute(
                text(
                    "INSERT INTO photos (id, claim_id, position, sha256, content_type, byte_size, width, height, "
                    "filename, uploaded_by, created_at) VALUES ('p', 'c', 0, :sha, 'image/jpeg', 1, 1, 1, '', 'k', :at)"
                ),
                {"sha": "0" * 64, "at": at},
            )
        run_migrations(database_url)
        with Session(engine) as session:
            claim = session.get(ClaimRow, "c")
            assert claim is not None and claim.declared_parts == [] and [p.part for p in claim.photos] == [None]
    finally:
        engine.dispose()


def test_backlog_re_scoring_quotes_claims_with_their_declarations(api: Api) -> None:
    """A candidate re-scoring the backlog sees each claim's declared parts and close-ups, as the service did."""
    customer = api.key()
    claim_id = open_claim(api, customer, [DOOR])["id"]
    add(api, customer, claim_id, "wide.jpg", scene("Door", "Fender", seed=1))
    add(api, customer, claim_id, "door.jpg", scene("Door", None, seed=2), part="Door:left")
    served = assess(api, customer, claim_id)["quote"]
    with api.app.state.sessionmaker() as session:
        jobs, skipped = backlog(session, datetime(2000, 1, 1, tzinfo=UTC), None, {"detector": "candidate@1"})
    assert skipped == 0 and [j.declared for j in jobs] == [("Door:left",)]
    assert [text for _pid, text in jobs[0].tags] == ["Door:left"]
    [rescored] = quote_jobs(scene_pipeline(per_finding=300.0), api.app.state.store, jobs)
    assert rescored["decision"] == served["decision"] == "human_review"
    assert [r["code"] for r in rescored["reasons"]] == [r["code"] for r in served["reasons"]] == ["undeclared_damage"]

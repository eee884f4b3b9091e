"""Duplicate photos across claims: the adjuster sees the other claim (id and link), near-duplicates included;
a customer learns nothing about other claims, neither from a one-shot quote nor from their own claim."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from model.phash import NEAR_DUPLICATE_BITS, dhash, distance

Keys = Callable[[str], str]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def scene(seed: int) -> bytes:
    """A photo with structure (smooth random shading, as a car body has) and sensor noise on top."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(30, 225, size=(6, 8, 3), dtype=np.uint8)).resize(
        (640, 480), Image.Resampling.BICUBIC
    )
    noisy = np.asarray(coarse, dtype=np.float32) + rng.normal(0, 20, size=(480, 640, 3))
    buf = io.BytesIO()
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def reencoded(data: bytes) -> bytes:
    """The same picture as another app would send it: resized and re-encoded (other bytes, other sha256)."""
    image = Image.open(io.BytesIO(data))
    buf = io.BytesIO()
    image.resize((image.width * 3 // 4, image.height * 3 // 4)).save(buf, format="JPEG", quality=70)
    return buf.getvalue()


def claim_with(client: TestClient, key: str, data: bytes) -> str:
    claim = client.post("/v1/claims", json={}, headers=auth(key)).json()["id"]
    r = client.post(f"/v1/claims/{claim}/photos", files=[("files", ("p.jpg", data, "image/jpeg"))], headers=auth(key))
    assert r.status_code == 201, r.text
    assert client.post(f"/v1/claims/{claim}/assess", headers=auth(key)).status_code == 200
    return str(claim)


def test_near_duplicate_hashes() -> None:
    original = scene(3)
    a = dhash(Image.open(io.BytesIO(original)))
    assert distance(a, dhash(Image.open(io.BytesIO(reencoded(original))))) <= NEAR_DUPLICATE_BITS
    assert distance(a, dhash(Image.open(io.BytesIO(scene(4))))) > NEAR_DUPLICATE_BITS


def test_one_shot_quote_says_nothing_about_other_claims(client: TestClient, new_key: Keys) -> None:
    victim, prober = new_key("customer"), new_key("customer")
    stored = scene(11)
    claim_with(client, victim, stored)
    fresh = scene(12)
    answers = []
    for data in (stored, fresh):
        r = client.post("/v1/quote", files=[("files", ("p.jpg", data, "image/jpeg"))], headers=auth(prober))
        assert r.status_code == 200, r.text
        answers.append((r.json()["decision"], [x["code"] for x in r.json()["reasons"]]))
    assert answers[0] == answers[1] and "duplicate_photo" not in answers[0][1]


def test_customer_sees_no_cross_claim_signal_adjuster_sees_the_other_claim(client: TestClient, new_key: Keys) -> None:
    first, second, adjuster = new_key("customer"), new_key("customer"), new_key("adjuster")
    original = scene(21)
    claim1 = claim_with(client, first, original)
    claim2 = claim_with(client, second, reencoded(original))  # near-duplicate: other bytes

    mine = client.get(f"/v1/claims/{claim2}", headers=auth(second)).json()
    photo = mine["photos"][0]
    assert photo["duplicate"] is None and photo["duplicate_of_claim_id"] is None and photo["duplicate_of_url"] is None
    codes = [r["code"] for r in mine["quote"]["reasons"]]
    assert "duplicate_photo" not in codes and "adjuster_check" in codes
    assert claim1 not in str(mine)
    assert mine["quote"]["decision"] == "human_review"  # still never settled alone

    for path in (f"/v1/claims/{claim2}", f"/v1/review/claims/{claim2}"):
        body = client.get(path, headers=auth(adjuster)).json()
        seen = body.get("claim", body)
        photo = seen["photos"][0]
        assert photo["duplicate"] is True and photo["duplicate_of_claim_id"] == claim1, path
        assert photo["duplicate_of_url"] == f"/review#claim={claim1}"
        assert "duplicate_photo" in [r["code"] for r in seen["quote"]["reasons"]]
    # The first claim is not a duplicate of the later one, and an unrelated photo is not flagged.
    assert client.get(f"/v1/claims/{claim1}", headers=auth(adjuster)).json()["photos"][0]["duplicate"] is False
    claim3 = claim_with(client, first, scene(22))
    assert client.get(f"/v1/claims/{claim3}", headers=auth(adjuster)).json()["photos"][0]["duplicate"] is False

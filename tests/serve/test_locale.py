"""English and Simplified Chinese: complete catalogues, the pages' keys, and reasons in the caller's language."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import get_args

import pytest
from fastapi.testclient import TestClient

from model.decision import ReasonCode
from model.pipeline import Pipeline
from model.quality import QualityIssueCode
from serve.http.locale import CATALOGUES, LOCALES, messages, negotiate, placeholders
from serve.routes.pages import STATIC, TEMPLATES
from tests.fakes import FakePricer, fake_pipeline, photo_bytes

Keys = Callable[[str], str]
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_message_key_exists_in_both_languages_with_the_same_placeholders() -> None:
    english, chinese = messages("en"), messages("zh-CN")
    assert sorted(english) == sorted(chinese), set(english) ^ set(chinese)
    for key, template in english.items():
        assert placeholders(template) == placeholders(chinese[key]), key
        assert chinese[key].strip(), key
    assert {p.stem for p in CATALOGUES.glob("*.json")} == set(LOCALES)


def test_every_key_the_pages_use_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for page in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r'data-i18n(?:-aria|-title)?="([^"]+)"', page.read_text()))
    for script in STATIC.glob("*.js"):
        used |= set(re.findall(r'\bt\("([a-z][\w.-]*)"\s*[,)]', script.read_text()))
    assert len(used) > 60
    missing = used - set(messages("en"))
    assert not missing, f"keys used by the pages but not in the catalogues: {sorted(missing)}"


def test_every_reason_and_photo_issue_has_a_sentence_and_a_title() -> None:
    catalogue = messages("zh-CN")
    for code in get_args(ReasonCode):
        assert f"reason.{code}" in catalogue and f"reason.title.{code}" in catalogue, code
    for code in get_args(QualityIssueCode):
        assert f"quality.{code}" in catalogue, code


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR, zh;q=0.5, en;q=0.4", "zh-CN"),
        ("en;q=0.2, zh-CN;q=0.8", "zh-CN"),
        ("de-DE", "en"),
        ("zh-CN;q=0", "en"),
    ],
)
def test_accept_language_picks_english_or_simplified_chinese(header: str | None, locale: str) -> None:
    assert negotiate(header) == locale


def test_the_catalogues_are_served_to_the_pages(client: TestClient) -> None:
    for locale in LOCALES:
        r = client.get(f"/static/locales/{locale}.json")
        assert r.status_code == 200 and json.loads(r.content) == dict(messages(locale))


def test_the_page_resizes_to_the_configured_long_side(client: TestClient) -> None:
    assert 'data-upload-long-side="1600"' in client.get("/claim").text
    client.app.state.settings.upload_long_side = 1280  # type: ignore[attr-defined]
    assert 'data-upload-long-side="1280"' in client.get("/claim").text


def _retake_claim(client: TestClient, key: str) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    claim = client.post("/v1/claims", json={"region": "CN"}, headers=headers).json()
    dark = ("files", ("dark.jpg", photo_bytes(seed=3, brightness=8, noise=4), "image/jpeg"))
    client.post(f"/v1/claims/{claim['id']}/photos", files=[dark], headers=headers)
    body = client.post(f"/v1/claims/{claim['id']}/assess", headers=headers).json()
    assert body["quote"]["decision"] == "retake_photos"
    return str(claim["id"])


def test_reasons_and_photo_issues_come_in_the_language_asked_for(client: TestClient, new_key: Keys) -> None:
    key = new_key("customer")
    claim_id = _retake_claim(client, key)
    zh = client.get(f"/v1/claims/{claim_id}", headers={"Authorization": f"Bearer {key}", "Accept-Language": "zh-CN"})
    en = client.get(f"/v1/claims/{claim_id}", headers={"Authorization": f"Bearer {key}", "Accept-Language": "en-US"})
    assert zh.headers["content-language"] == "zh-CN" and en.headers["content-language"] == "en"
    assert "accept-language" in zh.headers["vary"].lower()
    zh_reason, en_reason = zh.json()["quote"]["reasons"][0], en.json()["quote"]["reasons"][0]
    assert zh_reason["code"] == en_reason["code"] == "poor_photo"
    assert zh_reason["photo_id"] == en_reason["photo_id"] == zh.json()["photos"][0]["id"]
    assert CJK.search(zh_reason["message"]) and "太暗" in zh_reason["message"]
    assert not CJK.search(en_reason["message"]) and "too dark" in en_reason["message"]
    zh_issue = zh.json()["quote"]["photos"][0]["quality_issues"][0]
    assert zh_issue["code"] == "too_dark" and CJK.search(zh_issue["message"])


@pytest.fixture
def pipeline() -> Pipeline:
    return fake_pipeline(pricer=FakePricer(per_finding=2500.0))  # over the CN limit of 2,000


def test_a_one_shot_quote_names_its_amounts_in_chinese(client: TestClient, new_key: Keys) -> None:
    key = new_key("customer")
    r = client.post(
        "/v1/quote",
        files=[("files", ("car.jpg", photo_bytes(seed=1), "image/jpeg"))],
        headers={"Authorization": f"Bearer {key}", "Accept-Language": "zh-CN,zh;q=0.9"},
    )
    over = next(x for x in r.json()["reasons"] if x["code"] == "over_limit")
    assert over["message"] == "估价 2,500 元 超过小额理赔上限 2,000 元；定损员将进行审核"

"""Every error code is in the one tree, has a sentence in English and Chinese, is in the documented table, and is
answered over HTTP in the caller's language with ``Content-Language``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import model.errors
import serve.app  # noqa: F401  (every module that could define an error is imported)
import serve.errors
from serve.db import keys
from serve.http import error_table
from serve.http.error_responses import CATALOGUE_PREFIX
from serve.http.locale import LOCALES, messages, placeholders
from serve.http.status import all_errors, codes_for
from tests.serve.live import REPO, in_thread

CJK = re.compile(r"[\u4e00-\u9fff]")
API_DOC = REPO / "docs" / "api.md"


@dataclass
class Served:
    http: httpx.Client
    app: FastAPI

    def key(self, role: str) -> str:
        with self.app.state.sessionmaker() as session:
            _row, key = keys.create_key(session, f"i18n-{role}", role)
            session.commit()
        return key


@pytest.fixture
def served(app: FastAPI) -> Iterator[Served]:
    """The app under uvicorn in a thread (real HTTP), and a client of it."""
    with in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Served(http, app)


def test_every_error_class_is_in_the_one_tree() -> None:
    import training.checkpoint  # noqa: F401  (the training code's own errors are not the service's)

    for cls in all_errors():
        assert cls.__module__ in (model.errors.__name__, serve.errors.__name__), cls
        assert re.fullmatch(r"[a-z][a-z_]+", cls.code), cls


@pytest.mark.parametrize("locale", LOCALES)
def test_every_error_code_has_a_sentence_in_each_language(locale: str) -> None:
    catalogue = messages(locale)
    english = messages("en")
    for code in {cls.code for cls in all_errors()}:
        sentence = catalogue.get(CATALOGUE_PREFIX + code)
        assert sentence and sentence.strip(), f"{code} has no {locale} message"
        assert not placeholders(sentence), code
        if locale == "zh-CN":
            assert CJK.search(sentence) and sentence != english[CATALOGUE_PREFIX + code], f"{code} is untranslated"
        else:
            assert not CJK.search(sentence), code
    stale = {k for k in catalogue if k.startswith(CATALOGUE_PREFIX)} - {
        CATALOGUE_PREFIX + cls.code for cls in all_errors()
    }
    assert not stale, f"messages for codes no error has: {sorted(stale)}"


def test_the_documented_table_is_the_one_the_code_makes() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    assert error_table.render(text) == text, "run `make error-codes`"
    documented = set(re.findall(r"^\| ([a-z_]+) \| (\d{3}) \|", text, re.M))
    answered = {(code, str(status)) for status in range(400, 600) for code in codes_for(status)}
    assert documented == answered
    assert {"bad_request", "unknown_part", "photo_already_in_claim", "auth_throttled"} <= {c for c, _ in documented}


def test_a_wrong_key_is_refused_in_chinese_when_asked(served: Served) -> None:
    wrong = {"Authorization": "Bearer not-a-key"}
    zh = served.http.get("/v1/claims", headers={**wrong, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 401 and zh.headers["content-language"] == "zh-CN"
    assert zh.json()["error"] == {"code": "auth_invalid", "message": messages("zh-CN")["api_error.auth_invalid"]}
    assert CJK.search(zh.json()["error"]["message"])
    en = served.http.get("/v1/claims", headers={**wrong, "Accept-Language": "en-GB"})
    assert en.status_code == 401 and en.headers["content-language"] == "en"
    assert "unknown or revoked" in en.json()["error"]["message"]
    plain = served.http.get("/v1/claims", headers=wrong)
    assert plain.headers["content-language"] == "en" and not CJK.search(plain.json()["error"]["message"])


def test_every_kind_of_refusal_speaks_the_callers_language(served: Served) -> None:
    """Errors of routes, of the framework (no route, wrong method, bad body) and of the middlewares (a NUL, a body
    over the limit) all carry Content-Language and the Chinese sentence of their code."""
    customer = {"Authorization": f"Bearer {served.key('customer')}", "Accept-Language": "zh-CN"}
    json_headers = {**customer, "Content-Type": "application/json"}
    deep = "[" * 100_000 + "]" * 100_000
    refusals = {
        "claim_not_found": served.http.get("/v1/claims/nope", headers=customer),
        "not_found": served.http.get("/v1/nothing-here", headers=customer),
        "method_not_allowed": served.http.delete("/v1/claims", headers=customer),
        "request_invalid": served.http.post("/v1/claims", json={"region": "CN", "colour": "red"}, headers=customer),
        "bad_request": served.http.post("/v1/claims", content=deep, headers=json_headers),
        "unknown_part": served.http.post(
            "/v1/claims", json={"region": "CN", "declared_parts": [{"part": "Spoiler"}]}, headers=customer
        ),
        "text_has_nul": served.http.get("/v1/claims/a%00b", headers=customer),
        "request_too_large": served.http.post(
            "/v1/claims", content=b"{" + b" " * 2_000_000 + b"}", headers=json_headers
        ),
        "auth_required": served.http.get("/v1/claims", headers={"Accept-Language": "zh-CN"}),
    }
    for code, r in refusals.items():
        assert r.json()["error"]["code"] == code, (code, r.status_code, r.text[:300])
        assert r.headers["content-language"] == "zh-CN", code
        assert r.json()["error"]["message"] == messages("zh-CN")[CATALOGUE_PREFIX + code], code
    assert refusals["bad_request"].status_code == 400 and refusals["method_not_allowed"].status_code == 405


def test_the_role_in_a_refusal_takes_its_article(served: Served) -> None:
    for role, said in (("adjuster", "an adjuster key"), ("customer", "a customer key")):
        r = served.http.get("/v1/admin/autonomy", headers={"Authorization": f"Bearer {served.key(role)}"})
        assert r.status_code == 403 and r.json()["error"]["message"].startswith(said + " may not do this"), r.text
        zh = served.http.get(
            "/v1/admin/autonomy", headers={"Authorization": f"Bearer {served.key(role)}", "Accept-Language": "zh"}
        )
        assert zh.json()["error"]["message"] == messages("zh-CN")["api_error.forbidden"]


def test_the_generator_rewrites_only_between_its_markers(tmp_path: Path) -> None:
    doc = tmp_path / "api.md"
    doc.write_text(f"# before\n{error_table.MARKERS}\nafter\n", encoding="utf-8")
    assert error_table.main([str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# before\n<!-- error-codes:begin") and text.endswith("<!-- error-codes:end -->\nafter\n")
    assert "| auth_throttled | 429 |" in text
    with pytest.raises(ValueError, match="markers"):
        error_table.render("no markers here")

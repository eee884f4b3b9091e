"""Every page string in both languages: each catalogue key in English and Simplified Chinese, each Chinese
message translated, and every key the pages can ask for (the literal ones and every family a script builds from
the vocabulary: parts, operations, severities, segments, statuses, audit actions, ...) present in both; then the
zh-CN review and customer pages in Chromium, with no English vocabulary left on them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from model.autonomy.path import StepState
from model.decision import Outcome, ReasonCode, available_policies, load_policy
from model.declared import PartStatus
from model.vocabulary import OPERATIONS, ROLES, SEGMENTS, SEVERITY_LEVELS, SIDES
from serve.app import create_app
from serve.claims.states import TRANSITIONS, ClaimStatus
from serve.db import audit
from serve.http.locale import LOCALES, messages, placeholders
from serve.http.schemas import VersionsOut
from serve.routes.pages import STATIC, TEMPLATES
from serve.settings import Settings
from tests.fakes import photo_bytes
from tests.serve.live import in_thread
from tests.serve.test_browser import ARGS, chromium_path, make_key
from tests.serve.test_review import review_pipeline

CJK = re.compile(r"[\u4e00-\u9fff]")
DETECTOR = json.loads((Path(__file__).resolve().parents[2] / "model" / "weights" / "detector.json").read_text())
AUDIT_ACTIONS = {t.event for t in TRANSITIONS.values()} | set(
    re.findall(r'"([a-z]+\.[a-z_]+)"', Path(audit.__file__).read_text(encoding="utf-8"))
)
# Each family of keys a script builds ("part." + a part, word("severity", ...)) and the values it is built from.
FAMILIES: dict[str, set[str]] = {
    "part.": set(DETECTOR["classes"]),
    "side.": set(SIDES),
    "op.": set(OPERATIONS),
    "severity.": set(SEVERITY_LEVELS),
    "segment.": set(SEGMENTS),
    "status.": {s.value for s in ClaimStatus} | {"no_photos"},
    "audit.": AUDIT_ACTIONS,
    "role.": set(ROLES) | {"system"},
    "decision.": set(get_args(Outcome)),
    "reason.title.": set(get_args(ReasonCode)),
    "currency.": {load_policy(j).currency for j in available_policies()},
    "version.": set(VersionsOut.model_fields),
    "jurisdiction.": set(available_policies()),
    "part.status.": set(get_args(PartStatus)),
    "rv.status.": set(get_args(PartStatus)) | {"undeclared"},
    "result.": {"approved.next", "rejected.next"},
    "au.state.": set(get_args(StepState)),
}


def scripts() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in STATIC.glob("*.js"))


def literal_keys() -> set[str]:
    used: set[str] = set()
    for page in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r'data-i18n(?:-aria|-title)?="([^"]+)"', page.read_text(encoding="utf-8")))
    used |= set(re.findall(r'\bt\("([a-z][\w.-]*)"\s*[,)]', scripts()))
    return used


def built_families() -> set[str]:
    """The key prefixes the scripts join a value to: ``"part." + part`` and ``word("severity", ...)``."""
    code = scripts()
    return set(re.findall(r'"([a-z][\w.]*\.)"\s*\+', code)) | {f"{k}." for k in re.findall(r'\bword\("(\w+)"', code)}


def test_every_key_is_in_both_languages_and_every_chinese_message_is_translated() -> None:
    english, chinese = messages("en"), messages("zh-CN")
    assert sorted(english) == sorted(chinese), set(english) ^ set(chinese)
    untranslated = []
    for key, text in english.items():
        words = re.sub(r"\{\w+\}", "", text)
        if re.search(r"[A-Za-z]{2,}", words) and not CJK.search(chinese[key]):
            untranslated.append(key)
        assert placeholders(text) == placeholders(chinese[key]), key
    assert untranslated == []


def test_every_key_the_pages_use_is_in_both_languages() -> None:
    literal = literal_keys()
    assert len(literal) > 100
    families = built_families()
    assert families - FAMILIES.keys() == set(), "a script builds keys of a new family: add it to FAMILIES"
    wanted = literal | {prefix + value for prefix in families for value in FAMILIES[prefix]}
    for locale in LOCALES:
        missing = wanted - set(messages(locale))
        assert not missing, f"{locale}: keys the pages use but the catalogue lacks: {sorted(missing)}"


def test_one_name_per_part_the_vocabularys_in_english_and_one_chinese_name_each() -> None:
    parts = FAMILIES["part."]
    assert {messages("en")[f"part.{p}"] for p in parts} == parts  # reasons and line items alike say "Fender"
    chinese = [messages("zh-CN")[f"part.{p}"] for p in parts]
    assert len(set(chinese)) == len(parts) and all(CJK.search(name) for name in chinese)


def test_the_checks_catch_a_missing_family_member_and_an_untranslated_message() -> None:
    chinese = dict(messages("zh-CN"))
    assert "part.Windshield" in chinese and "audit.quote.edited" in chinese
    chinese.pop("part.Windshield")
    wanted = {"part." + p for p in FAMILIES["part."]}
    assert wanted - set(chinese) == {"part.Windshield"}
    assert not CJK.search(messages("en")["rv.lines.remove"])  # the English is what an untranslated key would show


# ---- the zh-CN pages in Chromium ----------------------------------------------------------------------------

# English words of the vocabulary that no zh-CN page may show: part names, operations, severities, segments,
# statuses and the other words of the catalogues' families, and the words of the reason sentences.
ENGLISH_VOCABULARY = (
    {messages("en")[f"part.{p}"] for p in FAMILIES["part."]} | set(FAMILIES["part."]) | set(OPERATIONS)
    | set(SEVERITY_LEVELS) | set(SEGMENTS) | {"remove", "adjuster", "damage", "photo", "Rejected", "car", "total"}
)
# Text a zh-CN page shows as it is: ids, file names, model versions, the product's name and the language switch.
VISIBLE_TEXT = """() => {
  const skip = ".mono, .filename, .versions dd, .lang-switch, .brand, #who, .duplicate-of";
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { out.push(node.textContent); return; }
    if (node.nodeType !== Node.ELEMENT_NODE || node.matches(skip) || node.hidden) return;
    if (getComputedStyle(node).display === "none") return;
    for (const child of node.childNodes) walk(child);
    if (node.tagName === "SELECT") out.push([...node.options].map((o) => o.text).join(" "));
  };
  walk(document.body);
  return out.join(" ");
}"""


def english_left(text: str) -> list[str]:
    """The vocabulary's English words and any audit action code in ``text``."""
    found = [w for w in ENGLISH_VOCABULARY if re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE)]
    return found + re.findall(r"\b[a-z]+\.[a-z_]+\b", text)


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[str, Any]]:
    """Every claim goes to an adjuster: two unsure findings a photo, 1,250 CNY each."""
    app = create_app(settings, pipeline_factory=lambda _s: review_pipeline(per_finding=1250.0))
    with in_thread(app) as url:
        yield url, app


def chinese(page: Any, base: str, path: str, key: str) -> None:
    page.add_init_script("localStorage.setItem('autoquote.lang', 'zh-CN')")
    page.goto(base + path)
    page.wait_for_selector("html[lang='zh-CN']", state="attached")
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")


@pytest.mark.browser
def test_the_chinese_review_and_customer_pages_show_no_english_vocabulary(live: tuple[str, Any]) -> None:
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    import httpx

    base, app = live
    customer, adjuster = make_key(app, "customer"), make_key(app, "adjuster")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {customer}"}, timeout=60) as http:
        claim = http.post("/v1/claims", json={"region": "CN", "segment": "premium",
                                               "declared_parts": [{"part": "Bumper", "side": "front"}]}).json()
        files = [("files", (f"p{i}.jpg", photo_bytes(seed=60 + i), "image/jpeg")) for i in range(2)]
        assert http.post(f"/v1/claims/{claim['id']}/photos", files=files).status_code == 201
        assert http.post(f"/v1/claims/{claim['id']}/assess").json()["status"] == "in_review"
        empty = http.post("/v1/claims", json={"region": "CN", "declared_parts": [{"part": "Door"}]}).json()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            review = browser.new_page(viewport={"width": 1366, "height": 900})
            chinese(review, base, "/review", adjuster)
            review.click(".queue-item")
            review.wait_for_selector("#audit li[data-action='quote.decided']")
            review.wait_for_selector("canvas.photo-canvas[data-ready=true]")
            text = review.evaluate(VISIBLE_TEXT)
            assert CJK.search(text) and "保险杠" in text
            assert english_left(text) == [], text

            page = browser.new_page(viewport={"width": 390, "height": 844})
            chinese(page, base, "/claim", customer)
            zh = messages("zh-CN")
            routed, waiting = f".claim-item[data-claim='{claim['id']}']", f".claim-item[data-claim='{empty['id']}']"
            page.wait_for_selector(routed)
            # "Your claims": when, which parts, how much, where it stands; a claim without photos waits for them
            listed = page.text_content(routed) or ""
            assert "保险杠" in listed and "2,500 元" in listed and claim["id"][:8] not in listed, listed
            assert page.text_content(f"{waiting} .status") == zh["status.no_photos"]
            page.click(waiting)
            page.wait_for_selector(f"#claim-status:text('{zh['status.no_photos']}')")
            assert zh["result.nophotos.next"] in (page.text_content("#outcome") or "")
            page.click(routed)
            page.wait_for_selector("#summary-reasons li")
            text = page.evaluate(VISIBLE_TEXT)
            assert "元" in text and "CNY" not in text and "¥" not in text
            assert english_left(text) == [], text
        finally:
            browser.close()

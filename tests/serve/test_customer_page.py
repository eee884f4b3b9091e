"""The customer's journey in a real headless Chromium, at phone and laptop size, in English and Chinese.

The damaged parts tapped on the car diagram, one guided photo per declared part plus the whole car, the page's
own checks (no claim for a GIF or a missing close-up), resizing in the browser (a 12-MP photo with an EXIF
rotation goes up upright and under 600 KB), a double tap that makes one claim, a retake of exactly the close-up
the photos did not confirm, the quote in words; damage the customer did not declare, added with one tap; a
retried submission that keeps its Idempotency-Key. Screenshots go to AUTOQUOTE_TEST_ARTIFACTS.

The fake detector reads each photo's paint (``tests/serve/scenes.py``): red shows a damaged door, green a
damaged fender, grey nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from serve.app import create_app
from serve.db.rows import ClaimRow
from serve.settings import Settings
from tests.fakes import photo_bytes
from tests.serve.live import in_thread
from tests.serve.scenes import scene, scene_pipeline
from tests.serve.test_browser import ARGS, artifacts, chromium_path, make_key

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
TEXT = {
    "en": {
        "offer": "We can pay",
        "retake": "We need 1 more photo(s)",
        "fender": "3. Close-up: left Fender",
        "asks": "please take a close-up photo of the left Fender",
        "review": "An adjuster will look at your claim",
        "add": "Add the Fender to my claim",
        "undeclared": "we also saw damage on the Fender, which you did not mention",
        "seen": "seen on the photos",
    },
    "zh-CN": {
        "offer": "我们可以赔付",
        "retake": "还需要您拍摄 1 张照片",
        "fender": "3. 特写：左侧翼子板",
        "asks": "请对左侧翼子板拍一张近距离特写",
        "review": "定损员将查看您的理赔",
        "add": "将翼子板加入理赔",
        "undeclared": "我们还在翼子板上看到了您未申报的损伤",
        "seen": "照片中已确认",
    },
}
MAX_UPLOAD = 600 * 1024


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 12-MP camera photo of the damaged door stored sideways (EXIF 6), close-ups, one showing nothing, a GIF."""
    folder = tmp_path_factory.mktemp("photos")
    files = {
        "whole": ("IMG_0001.jpg", scene("Door", None, seed=1, size=(3024, 4032), camera=True)),
        "door": ("IMG_0002.jpg", scene("Door", None, seed=2, size=(1280, 960))),
        "fender_unclear": ("IMG_0003.jpg", scene(None, None, seed=3, size=(1280, 960))),
        "fender": ("IMG_0004.jpg", scene("Fender", None, seed=4, size=(1280, 960))),
        "both": ("IMG_0005.jpg", scene("Door", "Fender", seed=5, size=(1280, 960))),
        "gif": ("animation.gif", photo_bytes(64, 64, fmt="GIF")),
    }
    out = {}
    for name, (filename, data) in files.items():
        (folder / filename).write_bytes(data)
        out[name] = folder / filename
    return out


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[str, Any]]:
    """The app on the scene detector, each finding priced at 400 CNY (three: 1,200, under the CN limit)."""
    app = create_app(settings, pipeline_factory=lambda _s: scene_pipeline(per_finding=400.0))
    with in_thread(app) as url:
        yield url, app


@dataclass(frozen=True)
class Stored:
    id: str
    filename: str
    width: int
    height: int
    part: str | None


def claims_in_db(app: Any) -> list[list[Stored]]:
    """Each claim's photos as the database holds them, oldest claim first."""
    with app.state.sessionmaker() as session:
        rows = session.query(ClaimRow).order_by(ClaimRow.created_at).all()
        return [[Stored(p.id, p.filename, p.width, p.height, p.part) for p in c.photos] for c in rows]


def sign_in(page: Any, base: str, key: str, lang: str) -> None:
    page.goto(base + "/claim")
    page.wait_for_selector(".lang-switch button[aria-pressed=true]")
    if lang != "en":
        page.click(f".lang-switch button[data-lang={lang}]")
    page.wait_for_selector(f"html[lang='{lang}']", state="attached")
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#c-jurisdiction option", state="attached")
    page.wait_for_selector("#car [data-part='Dickey'][aria-disabled=true]", state="attached")  # the vocabulary


def declare(page: Any, *parts: str) -> None:
    """Tap each part on the car diagram."""
    for part in parts:
        page.click(f"#car [data-part='{part}']")
        page.wait_for_selector(f"#car [data-part='{part}'][aria-pressed=true]", state="attached")


WIDER = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .map((e) => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide: {page.evaluate(WIDER)[:5]}"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("size", ["phone", "laptop"])
def test_customer_journey(live: tuple[str, Any], photos: dict[str, Path], tmp_path: Path, lang: str, size: str) -> None:
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    base, app = live
    key = make_key(app, "customer")
    shots = artifacts(tmp_path)
    name = f"customer-{lang}-{size}"
    uploads: list[int] = []
    text = TEXT[lang]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_context(viewport=VIEWPORTS[size], locale="en-US").new_page()
            page.on(
                "request",
                lambda r: (
                    uploads.append(len(r.post_data_buffer or b""))
                    if r.method in ("POST", "PUT") and "/photos" in r.url
                    else None
                ),
            )
            sign_in(page, base, key, lang)
            options = page.eval_on_selector_all("#c-jurisdiction option", "os => os.map(o => o.textContent)")
            assert len(options) == 3 and not any(re.search(r"\bCN-single-vehicle\b|^US\b", o) for o in options)
            assert page.text_content(".subtitle") != "" and page.get_attribute("html", "lang") == lang

            # The page's own checks: a GIF is refused on the spot, no part declared, and nothing is sent.
            page.set_input_files("#shot-0", str(photos["gif"]))
            page.wait_for_selector(".shot-error")
            page.click("#submit")
            assert page.text_content("#checks")
            assert claims_in_db(app) == []

            # The damaged parts, tapped on the diagram: each is a labelled button, and adds its close-up step.
            assert page.get_attribute("#car [data-part='Door:left']", "role") == "button"
            declare(page, "Door:left", "Fender:left", "Bonnet")
            page.click("#car [data-part='Bonnet']")  # tapped again: off
            assert page.get_attribute("#car [data-part='Bonnet']", "aria-pressed") == "false"
            labels = page.eval_on_selector_all("#declared .declared-part", "ps => ps.map(p => p.dataset.part)")
            assert labels == ["Door:left", "Fender:left"]
            steps = page.eval_on_selector_all("#shots .shot", "ss => ss.map(s => s.dataset.part || s.dataset.kind)")
            assert steps == ["whole", "Door:left", "Fender:left"]
            assert page.text_content("#shots .shot[data-part='Fender:left'] strong") == text["fender"]

            # Guided capture: the whole car (12 MP, stored sideways), then each part's close-up; one missing.
            page.set_input_files("#shot-0", str(photos["whole"]))
            page.set_input_files("#shot-1", str(photos["door"]))
            page.wait_for_selector(".shot.done[data-part='Door:left'] img.preview")
            page.click("#submit")
            page.wait_for_selector("#checks:not(:empty)")
            assert claims_in_db(app) == []
            page.set_input_files("#shot-2", str(photos["fender_unclear"]))
            page.wait_for_selector(".shot.done[data-part='Fender:left'] img.preview")
            page.wait_for_selector(".shot.done[data-kind=whole] img.preview")
            no_sideways_scroll(page)
            page.screenshot(path=str(shots / f"{name}-capture.png"), full_page=True)

            # A double tap sends once; the fender's close-up shows nothing, so exactly that close-up is asked for.
            page.dblclick("#submit")
            page.wait_for_selector("#outcome[data-decision=retake_photos]", timeout=60_000)
            (claim,) = claims_in_db(app)
            assert [p.part for p in claim] == [None, "Door:left", "Fender:left"]
            whole = claim[0]
            assert (whole.width, whole.height) == (1200, 1600)  # upright, long side 1600
            assert len(uploads) == 3 and max(uploads) < MAX_UPLOAD, uploads
            outcome = page.text_content("#outcome") or ""
            assert text["retake"] in outcome and text["asks"] in outcome, outcome
            items = page.locator(".retake-item")
            assert items.count() == 1
            assert items.first.get_attribute("data-photo") == claim[2].id
            assert items.first.get_attribute("data-part") == "Fender:left"
            assert page.text_content(".retake-item .retake-label") == text["fender"]
            page.wait_for_selector(".retake-item img.meant[src^='blob:']")
            no_sideways_scroll(page)
            page.screenshot(path=str(shots / f"{name}-retake.png"), full_page=True)

            # The retake: a new close-up of the fender in its place; the claim settles on both parts.
            page.set_input_files(f"#retake-{claim[2].id}", str(photos["fender"]))
            page.wait_for_selector(".retake-new img")
            page.click("#retake-send")
            page.wait_for_selector("#outcome:not([data-decision=retake_photos])", timeout=60_000)
            assert page.get_attribute("#outcome", "data-decision") == "auto_settle", page.text_content("#claim")
            assert text["offer"] in (page.text_content("#outcome") or "")
            unclear = claim[2].id
            (claim,) = claims_in_db(app)
            assert [p.part for p in claim] == [None, "Door:left", "Fender:left"] and claim[2].id != unclear
            assert page.locator("#quote tbody tr").count() == 3
            interval = page.text_content("#interval") or ""
            assert all(n in interval for n in ("1,200", "960", "1,440")), interval
            seen = page.eval_on_selector_all("#declared-result .declared-part", "ps => ps.map(p => p.dataset.status)")
            assert seen == ["confirmed", "confirmed"]
            assert text["seen"] in (page.text_content("#declared-result") or "")
            no_sideways_scroll(page)
            page.screenshot(path=str(shots / f"{name}-quote.png"), full_page=True)
        finally:
            browser.close()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_damage_the_customer_did_not_declare_is_added_with_one_tap(
    live: tuple[str, Any], photos: dict[str, Path], tmp_path: Path, lang: str
) -> None:
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    base, app = live
    key = make_key(app, "customer")
    text = TEXT[lang]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORTS["phone"])
            sign_in(page, base, key, lang)
            declare(page, "Door:left")
            page.set_input_files("#shot-0", str(photos["both"]))  # the door and, beside it, the fender
            page.set_input_files("#shot-1", str(photos["door"]))
            page.wait_for_selector(".shot.done[data-part='Door:left'] img.preview")
            page.wait_for_selector(".shot.done[data-kind=whole] img.preview")
            page.click("#submit")
            page.wait_for_selector("#outcome[data-decision=human_review]", timeout=60_000)
            assert text["review"] in (page.text_content("#outcome") or "")
            said = page.eval_on_selector_all("#summary-reasons li", "items => items.map(i => i.textContent)")
            assert 1 <= len(said) <= 3 and sum(text["undeclared"] in s for s in said) == 1, said
            page.screenshot(path=str(artifacts(tmp_path) / f"customer-{lang}-phone-undeclared.png"), full_page=True)
            page.click("#undeclared button[data-part=Fender]")
            assert page.text_content("#undeclared button") == text["add"]
            page.wait_for_selector("#outcome[data-decision=auto_settle]", timeout=60_000)
            seen = page.eval_on_selector_all("#declared-result .declared-part", "ps => ps.map(p => p.dataset.part)")
            assert seen == ["Door:left", "Fender"]
        finally:
            browser.close()


def test_a_retried_submission_makes_one_claim_without_randomUUID(
    live: tuple[str, Any], photos: dict[str, Path]
) -> None:
    """Plain http on a LAN name has no crypto.randomUUID; the first answer is lost; the retry reuses the key."""
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    base, app = live
    key = make_key(app, "customer")
    keys_sent: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORTS["phone"])
            page.add_init_script("delete Crypto.prototype.randomUUID;")
            lost = {"done": False}

            def lose_first_answer(route: Any) -> None:
                keys_sent.append(route.request.headers.get("idempotency-key", ""))
                if route.request.method == "POST" and not lost["done"]:
                    lost["done"] = True
                    route.fetch()  # the claim is made on the server ...
                    route.abort("connectionreset")  # ... and the answer never reaches the phone
                else:
                    route.continue_()

            page.route(re.compile(r".*/v1/claims$"), lose_first_answer)
            sign_in(page, base, key, "en")
            declare(page, "Door:left")
            page.set_input_files("#shot-0", str(photos["fender_unclear"]))  # the car, nothing to see from afar
            page.set_input_files("#shot-1", str(photos["door"]))
            page.wait_for_selector(".shot.done[data-part='Door:left'] img.preview")
            page.wait_for_selector(".shot.done[data-kind=whole] img.preview")
            page.click("#submit")
            page.wait_for_selector("#checks:not(:empty)")
            assert len(claims_in_db(app)) == 1
            page.click("#submit")
            page.wait_for_selector("#outcome[data-decision=auto_settle]", timeout=60_000)
        finally:
            browser.close()
    posted = [k for k in keys_sent if k]
    assert len(posted) == 2 and posted[0] == posted[1]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", posted[0])
    (claim,) = claims_in_db(app)
    assert len(claim) == 2

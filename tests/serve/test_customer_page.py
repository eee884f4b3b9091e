"""The customer's journey in a real headless Chromium, at phone and laptop size, in English and Chinese.

Guided capture of the standard shots, the page's own checks (no claim for a GIF), resizing in the browser
(a 12-MP photo with an EXIF rotation goes up upright and under 600 KB), the quote in words, a double
tap that makes one claim, a retried submission that keeps its Idempotency-Key, and the retake of the
photo the service names. Screenshots go to AUTOQUOTE_TEST_ARTIFACTS.
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
from tests.fakes import FakePricer, fake_pipeline, phone_photo, photo_bytes
from tests.serve.live import in_thread
from tests.serve.test_browser import ARGS, artifacts, chromium_path, make_key

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
TEXT = {
    "en": {"offer": "We can pay", "retake": "Please take 1 photo(s) again", "closeup": "2. A close-up of the damage"},
    "zh-CN": {"offer": "我们可以赔付", "retake": "请重新拍摄 1 张照片", "closeup": "2. 损伤部位近照"},
}
MAX_UPLOAD = 600 * 1024


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 12-MP camera photo stored sideways with EXIF orientation 6, sharp close-ups, a dark one, a GIF."""
    folder = tmp_path_factory.mktemp("photos")
    files = {
        "whole": ("IMG_0001.jpg", phone_photo(exif_orientation=6)),
        "closeup": ("IMG_0002.jpg", photo_bytes(1280, 960, seed=2)),
        "dark": ("IMG_0003.jpg", photo_bytes(1280, 960, brightness=8, noise=4, seed=3)),
        "retaken": ("IMG_0004.jpg", photo_bytes(1280, 960, seed=4)),
        "replacement": ("IMG_0005.jpg", photo_bytes(1280, 960, seed=5)),
        "gif": ("animation.gif", photo_bytes(64, 64, fmt="GIF")),
    }
    out = {}
    for name, (filename, data) in files.items():
        (folder / filename).write_bytes(data)
        out[name] = folder / filename
    return out


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[str, Any]]:
    """The app on fake models that settle two findings at 600 CNY each (1,200, under the CN limit)."""
    app = create_app(settings, pipeline_factory=lambda _s: fake_pipeline(pricer=FakePricer(per_finding=600.0)))
    with in_thread(app) as url:
        yield url, app


@dataclass(frozen=True)
class Stored:
    id: str
    filename: str
    width: int
    height: int


def claims_in_db(app: Any) -> list[list[Stored]]:
    """Each claim's photos as the database holds them, oldest claim first."""
    with app.state.sessionmaker() as session:
        rows = session.query(ClaimRow).order_by(ClaimRow.created_at).all()
        return [[Stored(p.id, p.filename, p.width, p.height) for p in c.photos] for c in rows]


def sign_in(page: Any, base: str, key: str, lang: str) -> None:
    page.goto(base + "/claim")
    page.wait_for_selector(".lang-switch button[aria-pressed=true]")
    if lang != "en":
        page.click(f".lang-switch button[data-lang={lang}]")
    page.wait_for_selector(f"html[lang='{lang}']", state="attached")
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#c-jurisdiction option", state="attached")


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

            # The page's own checks: a GIF is refused on the spot, and nothing is sent.
            page.set_input_files("#shot-0", str(photos["gif"]))
            page.wait_for_selector(".shot-error")
            page.click("#submit")
            assert page.text_content("#checks")
            assert claims_in_db(app) == []

            # Guided capture: the whole car (12 MP, stored sideways) and one close-up, previewed.
            page.set_input_files("#shot-0", str(photos["whole"]))
            page.set_input_files("#shot-1", str(photos["closeup"]))
            page.wait_for_selector(".shot.done[data-kind=whole] img.preview")
            page.wait_for_selector(".shot.done[data-kind=closeup] img.preview")
            no_sideways_scroll(page)
            page.screenshot(path=str(shots / f"{name}-capture.png"), full_page=True)

            page.dblclick("#submit")  # a double tap
            page.wait_for_selector("#outcome[data-decision=auto_settle]", timeout=60_000)
            (claim,) = claims_in_db(app)
            assert len(claim) == 2
            whole = next(p for p in claim if p.filename == "whole_IMG_0001.jpg")
            assert (whole.width, whole.height) == (1200, 1600)  # upright, long side 1600
            assert len(uploads) == 1 and uploads[0] < MAX_UPLOAD, uploads
            assert TEXT[lang]["offer"] in (page.text_content("#outcome") or "")
            assert page.locator("#quote tbody tr").count() == 2
            interval = page.text_content("#interval") or ""
            assert all(n in interval for n in ("1,200", "960", "1,440")), interval
            no_sideways_scroll(page)
            page.screenshot(path=str(shots / f"{name}-quote.png"), full_page=True)

            # A dark close-up: the service asks for that photo again, and the page says which one.
            page.click("#start-new")
            page.set_input_files("#shot-0", str(photos["retaken"]))
            page.set_input_files("#shot-1", str(photos["dark"]))
            page.wait_for_selector(".shot.done[data-kind=closeup] img.preview")
            page.click("#submit")
            page.wait_for_selector("#outcome[data-decision=retake_photos]", timeout=60_000)
            assert TEXT[lang]["retake"] in (page.text_content("#outcome") or "")
            page.wait_for_selector(".retake-item img.meant[src^='blob:']")
            page.screenshot(path=str(shots / f"{name}-retake.png"), full_page=True)
            items = page.locator(".retake-item")
            assert items.count() == 1
            second = claims_in_db(app)[-1]
            dark = next(p for p in second if p.filename == "closeup-1_IMG_0003.jpg")
            assert items.first.get_attribute("data-photo") == dark.id
            assert page.text_content(".retake-item .retake-label") == TEXT[lang]["closeup"]
            no_sideways_scroll(page)
            page.set_input_files(f"#retake-{dark.id}", str(photos["replacement"]))
            page.wait_for_selector(".retake-new img")
            page.click("#retake-send")
            page.wait_for_selector("#outcome:not([data-decision=retake_photos])", timeout=60_000)
            assert page.get_attribute("#outcome", "data-decision") == "auto_settle", page.text_content("#claim")
            assert len(claims_in_db(app)) == 2
            page.screenshot(path=str(shots / f"{name}-retaken.png"), full_page=True)
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
            page.set_input_files("#shot-0", str(photos["retaken"]))
            page.set_input_files("#shot-1", str(photos["closeup"]))
            page.wait_for_selector(".shot.done[data-kind=closeup] img.preview")
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

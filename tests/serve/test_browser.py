"""The pages in a real headless Chromium: a customer uploads, an adjuster edits, approves and sees the audit.

Runs with Debian's Chromium through Playwright (never a downloaded browser): set AUTOQUOTE_TEST_CHROMIUM
to its path (CI does). The screenshot of the adjuster's page is kept in AUTOQUOTE_TEST_ARTIFACTS.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from serve.app import create_app
from serve.db import keys
from serve.settings import Settings
from tests.fakes import photo_bytes
from tests.serve.live import in_thread
from tests.serve.test_review import review_pipeline

if TYPE_CHECKING:
    from playwright.sync_api import Dialog

pytestmark = pytest.mark.browser

XSS_DESCRIPTION = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> rear-ended at a light'
XSS_FILENAME = "<img src=x onerror=window.__xss=3>.jpg"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("AUTOQUOTE_TEST_CHROMIUM") or shutil.which("chromium") or ""
    if not path or not Path(path).is_file():
        pytest.skip("no Chromium: install Debian's chromium and set AUTOQUOTE_TEST_CHROMIUM=/usr/bin/chromium")
    return path


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[str, Any]]:
    """The app on fake models that route every claim to an adjuster, under uvicorn in a thread."""
    app = create_app(settings, pipeline_factory=lambda _s: review_pipeline(per_finding=1250.0))  # two photos: 2,500
    with in_thread(app) as url:
        yield url, app


def make_key(app: Any, role: str) -> str:
    with app.state.sessionmaker() as session:
        _row, key = keys.create_key(session, f"browser-{role}", role)
        session.commit()
    return key


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("AUTOQUOTE_TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_customer_uploads_adjuster_edits_approves_and_sees_the_audit(live: tuple[str, Any], tmp_path: Path) -> None:
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    base, app = live
    customer, adjuster = make_key(app, "customer"), make_key(app, "adjuster")
    photo = tmp_path / XSS_FILENAME
    photo.write_bytes(photo_bytes(seed=7))
    closeup = tmp_path / "closeup.jpg"
    closeup.write_bytes(photo_bytes(seed=8))
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("dialog", dismiss)
            # The customer signs in, opens a claim with photos, and learns why it went to an adjuster.
            page.goto(base + "/claim")
            page.fill("#key", customer)
            page.click("#sign-in-form button[type=submit]")
            page.wait_for_selector("#c-jurisdiction option", state="attached")
            page.select_option("#c-jurisdiction", "CN|CN")
            page.fill("#c-description", XSS_DESCRIPTION)
            page.click("#car [data-part='Bumper:front']")
            page.set_input_files("#shot-0", str(photo))
            page.set_input_files("#shot-1", str(closeup))
            page.wait_for_selector(".shot.done[data-part='Bumper:front'] img.preview")
            page.wait_for_selector(".shot.done[data-kind=whole] img.preview")
            page.click("#submit")
            page.wait_for_selector("#claim-status")
            assert page.text_content("#claim-status") == "With an adjuster"
            assert "the estimate is above the amount paid without a person" in (page.text_content("#outcome") or "")
            assert page.text_content("#claim .description") == XSS_DESCRIPTION
            assert page.evaluate("window.__xss") is None

            # The adjuster signs in, opens the routed claim, corrects a box, edits a line and approves.
            review = browser.new_page(viewport={"width": 1366, "height": 900})
            review.on("dialog", dismiss)
            review.goto(base + "/review")
            review.fill("#key", adjuster)
            review.click("#sign-in-form button[type=submit]")
            review.wait_for_selector(".queue-item")
            assert review.text_content("#queue-count") == "1"
            review.click(".queue-item")
            review.wait_for_selector("canvas.photo-canvas[data-ready=true]")
            assert review.text_content(".claim-head .description") == XSS_DESCRIPTION
            assert review.text_content(".photo .filename") == "whole_" + XSS_FILENAME
            # Declared against found, part by part: the front bumper the customer tapped, seen on the photos.
            checked = review.eval_on_selector_all(
                "#declared-check tbody tr", "rows => rows.map(r => [r.dataset.part, r.dataset.status])"
            )
            assert checked == [["Bumper:front", "confirmed"]]
            assert "front Bumper" in (review.text_content("#declared-check") or "")
            review.click("#toggle-boxes")
            assert review.get_attribute("#toggle-boxes", "aria-pressed") == "false"
            review.click("#toggle-boxes")
            canvas = review.locator("canvas.photo-canvas").first
            box = canvas.bounding_box()
            assert box is not None
            canvas.click(position={"x": box["width"] * 0.45, "y": box["height"] * 0.55})  # inside the Bumper box
            review.select_option(".box-part", "Fender")
            review.click(".box-save")
            review.wait_for_selector(".photo .badge")  # "boxes corrected"
            review.locator(".line-remove").last.click()  # one line for the two photos of one dent
            review.fill(".line-cost[data-field=parts_cost]", "550")  # costs 550 + 750 + 375 + 125
            review.dispatch_event(".line-cost[data-field=parts_cost]", "change")
            assert review.text_content(".line-total") == "1,800.00"
            review.click("#save-lines")
            review.wait_for_selector("text=edited by an adjuster")
            assert review.input_value("#final-amount") == "1800"
            review.screenshot(path=str(artifacts(tmp_path) / "adjuster-review.png"))
            review.click("#approve")
            review.wait_for_selector("#audit li[data-action='claim.approved']")
            actions = review.eval_on_selector_all("#audit li", "items => items.map(i => i.dataset.action)")
            assert actions[-3:] == ["boxes.corrected", "quote.edited", "claim.approved"]
            assert "adjuster" in (review.text_content("#audit li[data-action='claim.approved']") or "")
            assert review.text_content(".status") == "Approved"
            review.screenshot(path=str(artifacts(tmp_path) / "adjuster-approved.png"), full_page=True)
            assert review.evaluate("window.__xss") is None

            # The customer follows the claim to its end.
            page.click("#refresh")
            page.wait_for_selector("#outcome.decided-approved")
            assert "Approved: 1,800 CNY" in (page.text_content("#outcome") or "")
            page.screenshot(path=str(artifacts(tmp_path) / "customer-approved.png"), full_page=True)
            assert page.evaluate("window.__xss") is None
        finally:
            browser.close()
    assert dialogs == []
    with app.state.sessionmaker() as session:
        from serve.db import review as review_repo
        from serve.db.claims import list_claims
        from serve.db.rows import ClaimRow

        (claim,) = session.query(ClaimRow).all()
        boxes = review_repo.current_boxes(session, claim)
        assert [b.part for b in next(iter(boxes.values()))[0]] == ["Fender"]
        assert list_claims is not None


def test_a_cost_changed_on_the_chinese_review_page_keeps_the_rest_of_the_breakdown(live: tuple[str, Any]) -> None:
    """The issue's steps: on the zh-CN page, change one amount of a line to 700 and save; every field the adjuster
    did not touch stays, the line's total is its costs' sum, and its description is in the adjuster's language."""
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    import httpx

    base, app = live
    customer, adjuster = make_key(app, "customer"), make_key(app, "adjuster")
    with httpx.Client(base_url=base, timeout=60) as http:
        who = {"Authorization": f"Bearer {customer}"}
        claim = http.post("/v1/claims", json={"region": "CN"}, headers=who).json()
        # phone-sized photos: the page must fit the window whatever the photo's size
        files = [("files", (f"p{i}.jpg", photo_bytes(1600, 1200, seed=70 + i), "image/jpeg")) for i in range(2)]
        assert http.post(f"/v1/claims/{claim['id']}/photos", files=files, headers=who).status_code == 201
        before = http.post(f"/v1/claims/{claim['id']}/assess", headers=who).json()["quote"]["line_items"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            review = browser.new_page(viewport={"width": 1366, "height": 900})
            review.add_init_script("localStorage.setItem('autoquote.lang', 'zh-CN')")
            review.goto(base + "/review")
            review.wait_for_selector("html[lang='zh-CN']", state="attached")
            review.fill("#key", adjuster)
            review.click("#sign-in-form button[type=submit]")
            review.click(".queue-item")
            labour = "tr[data-line='0'] .line-cost[data-field=labour_cost]"
            review.wait_for_selector(labour)
            review.wait_for_selector("canvas.photo-canvas[data-ready=true]")
            # no sideways scrolling: a large photo or the line editor once pushed the claim past the window
            width = review.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert width[0] <= width[1], width
            review.fill(labour, "700")
            review.dispatch_event(labour, "change")
            review.click("#save-lines")
            review.wait_for_selector("text=已由定损员修改")
        finally:
            browser.close()
        after = httpx.get(f"{base}/v1/review/claims/{claim['id']}", headers={"Authorization": f"Bearer {adjuster}"})
    lines = after.json()["claim"]["quote"]["line_items"]
    changed, untouched = lines[0], lines[1]
    assert untouched == before[1]
    assert changed["labour_cost"] == 700
    kept = ("part", "operation", "parts_cost", "labour_hours", "refinish_hours", "refinish_cost", "materials_cost")
    assert {f: changed[f] for f in kept} == {f: before[0][f] for f in kept}
    costs = changed["parts_cost"] + changed["labour_cost"] + changed["refinish_cost"] + changed["materials_cost"]
    assert changed["total"] == costs > 0
    assert changed["description"] == "定损员已修改"
    assert after.json()["claim"]["quote"]["total"] == changed["total"] + untouched["total"]
